// `maplb trace` and SNAT: the source NAT step (or why there is none), the reply's way back, and
// whether kube-proxy would masquerade the same packet. On the emulated datapath.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { openEmulated } from "../src/datapath/emulated.js";
import { tracePacket, type TraceRequest } from "../src/datapath/trace.js";
import { ipv4Trace, type Ipv4Trace } from "./helpers/ipv4-trace.js";
import { readModel } from "../src/k8s/read.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../src/model/types.js";
import { SCENARIOS } from "./helpers/manifests.js";

// seed-001: go-app, NodePort 32192, endpoints 10.52.2.5 and 10.52.2.6 on gke-node-c, 10.52.1.4 on gke-node-b.
const SEED_001 = join(SCENARIOS, "seed-001-gke-loadbalancer.yaml");
const NODE_IP = "192.168.1.11";
const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  nodeName: "gke-node-c",
  nodeIPs: [NODE_IP],
  clusterCIDR: "10.52.0.0/14",
};
const REMOTE = "10.52.1.4";

function trace(req: Omit<TraceRequest, "model" | "node" | "proto">, node = NODE): Ipv4Trace {
  const dp = openEmulated();
  try {
    return ipv4Trace(tracePacket(dp, { model: readModel([SEED_001]), node, proto: "TCP", ...req }));
  } finally {
    dp.close();
  }
}

test("an external client to a NodePort: SNAT exactly when the backend is on another node; kube-proxy masquerades always", () => {
  const seen = new Set<string>();
  for (let sport = 40000; sport < 40030; sport++) {
    const t = trace({ src: "203.0.113.9", sport, dst: NODE_IP, dport: 32192 });
    assert.equal(t.verdict, "DNAT");
    const remote = t.after!.dst === REMOTE;
    seen.add(remote ? "remote" : "local");
    if (remote) {
      assert.equal(t.snat!.to, `${NODE_IP}:${t.after!.sport}`);
      assert.equal(t.after!.src, NODE_IP);
      assert.match(t.snat!.why, /another node.*externalTrafficPolicy=Cluster/);
    } else {
      assert.deepEqual(t.snat, {
        to: null,
        why: "the backend runs on this node: its reply comes back through it",
      });
      assert.equal(t.after!.src, "203.0.113.9");
    }
    // Either way the reply goes back to the client, from the NodePort.
    assert.equal(t.reply!.verdict, "REVNAT");
    assert.deepEqual(
      [t.reply!.after.src, t.reply!.after.sport, t.reply!.after.dst, t.reply!.after.dport],
      [NODE_IP, 32192, "203.0.113.9", sport],
    );
    assert.equal(t.iptables.masquerade, true);
  }
  assert.deepEqual([...seen].sort(), ["local", "remote"]);
});

test("a hairpin: the pod's source becomes the node's, the reply returns from the ClusterIP; kube-proxy masquerades too", () => {
  // Find a client port whose flow lands on the client itself.
  let hairpin: Ipv4Trace | null = null;
  for (let sport = 40000; !hairpin && sport < 40100; sport++) {
    const t = trace({ src: REMOTE, sport, dst: "10.56.11.169", dport: 80 });
    if (t.after?.dst === REMOTE) hairpin = t;
    else {
      assert.equal(t.snat!.to, null, "pod to ClusterIP, another pod: no SNAT");
      assert.equal(t.iptables.masquerade, t.iptables.backend === `${REMOTE}:8080`);
    }
  }
  assert.ok(hairpin, "some port lands on the client itself");
  assert.match(hairpin.snat!.why, /^hairpin/);
  assert.equal(hairpin.after!.src, NODE_IP);
  assert.deepEqual(
    [hairpin.reply!.verdict, hairpin.reply!.after.src, hairpin.reply!.after.dst],
    ["REVNAT", "10.56.11.169", REMOTE],
  );
  // kube-proxy chooses on its own; it masquerades when it, too, picks the client (KUBE-SEP's -s EPIP).
  assert.equal(hairpin.iptables.masquerade, hairpin.iptables.backend === `${REMOTE}:8080`);
});

test("without a node IP there is no SNAT address: the trace says so", () => {
  const t = trace(
    { src: "203.0.113.9", sport: 40000, dst: "35.200.9.207", dport: 80 },
    { ...NODE, nodeIPs: [] },
  );
  assert.equal(t.snat!.to, null);
  assert.match(t.snat!.why, /no SNAT address/);
});

test("maplb trace prints the SNAT step, the reply and kube-proxy's masquerade", () => {
  const bin = join(import.meta.dirname, "../../bin/maplb.js");
  let out = "";
  for (let sport = 40000; sport < 40030 && !out.includes("snat:     203."); sport++) {
    const r = spawnSync(
      process.execPath,
      [
        bin,
        "trace",
        "-f",
        SEED_001,
        ...["--node-name", "gke-node-c", "--node-ip", NODE_IP, "--cluster-cidr", "10.52.0.0/14"],
        ...["--from", `203.0.113.9:${sport}`, "--to", `${NODE_IP}:32192`, "--datapath", "emulated"],
      ],
      { encoding: "utf8", env: { ...process.env, MAPLB_LOG_LEVEL: "silent" } },
    );
    assert.equal(r.status, 0, r.stderr);
    out = r.stdout;
  }
  assert.match(out, /^snat: {5}203\.0\.113\.9:\d+ → 192\.168\.1\.11:\d+: the backend runs on another node/m);
  assert.match(
    out,
    /^reply: {4}10\.52\.1\.4:8080 → 192\.168\.1\.11:\d+ TCP {2}⇒ {2}192\.168\.1\.11:32192 → 203\.0\.113\.9:\d+ TCP \(REVNAT\)$/m,
  );
  assert.match(
    out,
    /masquerades \(KUBE-MARK-MASQ\): kube-proxy would SNAT to the node address here; maplb does$/m,
  );
  assert.match(
    out,
    /masquerades \(mark-for-masquerade\): kube-proxy would SNAT to the node address here; maplb does$/m,
  );
});
