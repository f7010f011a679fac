// The native kube-proxy chain evaluator: netfilter's nat walk over the rules kube-proxy would
// write, for the seed scenarios and for small hand-written tables of every construct it models.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ChainEvaluator, packPackets, type IptPacket } from "../src/iptables-eval/evaluator.js";
import { IptFlag, IptTarget } from "../src/iptables-eval/encode.js";
import { buildIptablesRules, type IptablesTable } from "../src/kubeproxy/iptables-rules.js";
import { readModel } from "../src/k8s/read.js";
import { DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import { native } from "../src/datapath/binding.js";
import { structSize } from "../src/datapath/codec.js";

const SCENARIOS = join(import.meta.dirname, "../../../shared/scenarios");
const NODE = { ...DEFAULT_NODE_CONFIG, nodeIPs: ["10.110.0.10"], clusterCIDR: "10.110.0.0/16" };

/** A nat table from `-A CHAIN args…` lines. */
function table(lines: string[]): IptablesTable {
  const rules = lines.map((l) => {
    const [, chain, ...args] = l.split(/\s+/);
    return { chain: chain!, args };
  });
  return { name: "nat", chains: [...new Set(rules.map((r) => r.chain))], rules };
}

const pkt = (dstIp: string, dstPort: number, srcIp = "192.0.2.7", srcPort = 40000): IptPacket => ({
  srcIp,
  dstIp,
  srcPort,
  dstPort,
  protocol: "tcp",
});

test("the evaluator's targets and flags are the ABI header's", () => {
  const lib = native();
  for (const [name, value] of Object.entries(IptTarget))
    assert.equal(lib.abiConstant(`MAPLB_IPT_TARGET_${name}`), value);
  for (const [name, value] of Object.entries(IptFlag))
    assert.equal(lib.abiConstant(`MAPLB_IPT_F_${name}`), value);
});

test("seed-003 nginx-svc: a ClusterIP packet crosses KUBE-SERVICES → KUBE-SVC → KUBE-SEP and is DNATed", () => {
  const model = readModel([join(SCENARIOS, "seed-003-eks-services.yaml")]);
  const ev = new ChainEvaluator(buildIptablesRules(model, NODE).nat, NODE.nodeIPs);
  try {
    const nginx = model.ports.find((p) => p.name === "nginx-svc")!;
    const v = ev.evaluate(pkt(nginx.clusterIP!, nginx.port));
    assert.equal(v.target, "dnat");
    const endpoints = nginx.endpoints.map((e) => `${e.ip}:${e.port}`);
    assert.ok(endpoints.includes(v.to!), `${v.to} is one of ${endpoints.join(" ")}`);
    const chains = v.path.map((p) => p.chain);
    assert.equal(chains[0], "KUBE-SERVICES");
    assert.match(chains.join(" "), /KUBE-SERVICES KUBE-SVC-\S+ .*KUBE-SEP-\S+/);
    assert.equal(v.path.at(-1)!.args.at(-1), v.to); // the DNAT rule's --to-destination
    assert.ok(v.rulesEvaluated >= v.path.length);
  } finally {
    ev.close();
  }
});

test("statistic --probability splits new connections evenly, as kube-proxy intends", () => {
  const model = readModel([join(SCENARIOS, "seed-003-eks-services.yaml")]);
  const nginx = model.ports.find((p) => p.name === "nginx-svc")!;
  const ev = new ChainEvaluator(buildIptablesRules(model, NODE).nat, NODE.nodeIPs, 7n);
  try {
    const counts = new Map<string, number>();
    const N = 20000;
    for (let i = 0; i < N; i++) {
      const to = ev.evaluate(pkt(nginx.clusterIP!, nginx.port, "192.0.2.7", 1024 + (i % 60000))).to!;
      counts.set(to, (counts.get(to) ?? 0) + 1);
    }
    assert.equal(counts.size, nginx.endpoints.length);
    for (const [to, n] of counts) {
      assert.ok(Math.abs(n / N - 1 / counts.size) < 0.02, `${to}: ${n} of ${N}`);
    }
  } finally {
    ev.close();
  }
});

test("a packet for no service falls off KUBE-SERVICES (ACCEPT) after every rule was looked at", () => {
  const t = table([
    "-A KUBE-SERVICES -m tcp -p tcp -d 10.96.0.1 --dport 80 -j KUBE-SVC-A",
    "-A KUBE-SERVICES -m tcp -p tcp -d 10.96.0.2 --dport 80 -j KUBE-SVC-A",
    "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
    "-A KUBE-NODEPORTS -m tcp -p tcp --dport 30080 -j KUBE-SVC-A",
    "-A KUBE-SVC-A -j KUBE-SEP-A",
    "-A KUBE-SEP-A -s 10.0.0.9 -j KUBE-MARK-MASQ",
    "-A KUBE-SEP-A -m tcp -p tcp -j DNAT --to-destination 10.0.0.9:8080",
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
  ]);
  const ev = new ChainEvaluator(t, ["192.168.1.11"]);
  try {
    assert.deepEqual(
      { ...ev.evaluate(pkt("10.96.0.3", 80)), path: [] },
      { target: "accept", to: null, rulesEvaluated: 3, path: [] },
    );
    // The NodePort chain only for a local destination: 3 KUBE-SERVICES rules + 1 KUBE-NODEPORTS rule + 1 SVC + 2 SEP.
    const np = ev.evaluate(pkt("192.168.1.11", 30080));
    assert.equal(np.to, "10.0.0.9:8080");
    assert.equal(np.rulesEvaluated, 7);
    assert.deepEqual(
      np.path.map((p) => `${p.chain}#${p.index}`),
      ["KUBE-SERVICES#2", "KUBE-NODEPORTS#0", "KUBE-SVC-A#0", "KUBE-SEP-A#1"],
    );
    // The backend talking to its own service is marked for masquerade on the way (MARK goes on).
    const hairpin = ev.evaluate(pkt("10.96.0.1", 80, "10.0.0.9"));
    assert.deepEqual(
      hairpin.path.map((p) => p.chain),
      ["KUBE-SERVICES", "KUBE-SVC-A", "KUBE-SEP-A", "KUBE-MARK-MASQ", "KUBE-SEP-A"],
    );
    // A batch: totals of rules evaluated per packet come back in the results.
    const results = new Uint8Array(structSize("ipt_result") * 2);
    assert.equal(ev.evalBatch(packPackets([pkt("10.96.0.3", 80), pkt("10.96.0.2", 80)]), results), 2);
    const view = new DataView(results.buffer);
    assert.equal(view.getUint32(4, true), 3); // rules_evaluated of the first packet
    assert.equal(view.getUint32(structSize("ipt_result") + 4, true), 5); // 2 in KUBE-SERVICES, 1 in SVC, 2 in SEP
  } finally {
    ev.close();
  }
});

test("session affinity: recent --set remembers the client, --rcheck --seconds sends it back", () => {
  const t = table([
    "-A KUBE-SERVICES -m tcp -p tcp -d 10.96.0.1 --dport 80 -j KUBE-SVC-A",
    "-A KUBE-SVC-A -m recent --name KUBE-SEP-1 --rcheck --seconds 100 --reap -j KUBE-SEP-1",
    "-A KUBE-SVC-A -m recent --name KUBE-SEP-2 --rcheck --seconds 100 --reap -j KUBE-SEP-2",
    "-A KUBE-SVC-A -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-1",
    "-A KUBE-SVC-A -j KUBE-SEP-2",
    "-A KUBE-SEP-1 -m recent --name KUBE-SEP-1 --set -m tcp -p tcp -j DNAT --to-destination 10.0.0.1:80",
    "-A KUBE-SEP-2 -m recent --name KUBE-SEP-2 --set -m tcp -p tcp -j DNAT --to-destination 10.0.0.2:80",
  ]);
  const ev = new ChainEvaluator(t, [], 3n);
  try {
    const first = ev.evaluate(pkt("10.96.0.1", 80, "192.0.2.50", 1), 1000).to;
    for (let port = 2; port < 50; port++) {
      assert.equal(
        ev.evaluate(pkt("10.96.0.1", 80, "192.0.2.50", port), 1050).to,
        first,
        "sticks within 100 s",
      );
    }
    // 100 s after the last --set (at 1050) the entry has aged out: both backends come up again.
    const later = new Set<string | null>();
    for (let port = 100; port < 200; port++) {
      const at = 1200 + port * 1000; // each far beyond the previous one's window
      later.add(ev.evaluate(pkt("10.96.0.1", 80, "192.0.2.50", port), at).to);
    }
    assert.deepEqual([...later].sort(), ["10.0.0.1:80", "10.0.0.2:80"]);
  } finally {
    ev.close();
  }
});

test("a jump loop is an error (ELOOP), and a table pointing outside itself is refused (EINVAL)", () => {
  const loop = new ChainEvaluator(table(["-A KUBE-SERVICES -j KUBE-LOOP", "-A KUBE-LOOP -j KUBE-SERVICES"]));
  try {
    assert.throws(() => loop.evaluate(pkt("10.0.0.1", 1)), /ELOOP/);
  } finally {
    loop.close();
  }
  const lib = native();
  const chains = new Uint8Array(8);
  new DataView(chains.buffer).setUint32(0, 0, true);
  new DataView(chains.buffer).setUint32(4, 5, true); // 5 rules, of 0
  const { err } = lib.iptOpen(new Uint8Array(0), 0, chains, 1, 0, new Uint8Array(0), 0, 1n);
  assert.equal(err, -22);
});
