// `maplb trace` of IPv6 packets: the datapath's own run, explained. The Maglev row the trace names
// (from the TypeScript flow hash, flow_hash6's twin) must hold the backend the datapath chose, for
// every flow; the frontend and scope are the ones the datapath looks up (:: wildcard on the node's
// IPv6 address, INT scope for sources in the IPv6 cluster CIDR); kube-proxy's half walks the IPv6
// proxier's rules.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { compile } from "../src/compile/compiler.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { tracePacket, type TraceRequest } from "../src/datapath/trace.js";
import { readModel } from "../src/k8s/read.js";
import { dualStackNode } from "./helpers/model-factory.js";

const EXAMPLE = new URL("../../examples/dual-stack-lb.yaml", import.meta.url).pathname;
const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const node = { ...dualStackNode, nodeName: "node-a" };
const model = readModel([EXAMPLE]);

function trace(req: Omit<TraceRequest, "model" | "node">) {
  const dp = openEmulated();
  try {
    return tracePacket(dp, { model, node, ...req });
  } finally {
    dp.close();
  }
}

describe("trace of an IPv6 packet", () => {
  it("names the Maglev row whose backend the datapath chose, flow after flow", () => {
    const tables = compile(model, node);
    const v6 = tables.services.get("demo/shop:http/TCP/IPv6")!;
    const cluster = v6.maglev.find((m) => m.name === "cluster")!;
    const address = new Map(v6.backends.map((b) => [b.id, b.address]));
    const chosen = new Set<string>();
    for (let sport = 40000; sport < 40016; sport++) {
      const t = trace({ src: "2001:db8:1::77", sport, dst: "fd00:96::20", dport: 80, proto: "TCP" });
      assert.equal(t.verdict, "DNAT");
      assert.equal(t.frontend, "fd00:96::20:80/TCP");
      assert.equal(t.choice?.maglevM, 16381);
      assert.equal(t.after!.dst, address.get(cluster.rows[t.choice!.row!]!), `sport ${sport}`);
      chosen.add(t.after!.dst);
      assert.deepEqual(
        [t.reply?.verdict, t.reply?.after.src, t.reply?.after.sport],
        ["REVNAT", "fd00:96::20", 80],
      );
    }
    assert.equal(chosen.size, 2, "both backends get flows");
  });

  it("a NodePort on the node's IPv6 address: EXT scope from outside, INT from the IPv6 cluster CIDR", () => {
    const outside = trace({
      src: "2001:db8:99::5",
      sport: 40000,
      dst: "2001:db8:ff::10",
      dport: 30080,
      proto: "TCP",
    });
    assert.deepEqual(
      [outside.frontend, outside.slotCount, outside.after?.dst],
      ["2001:db8:ff::10:30080/TCP", 1, "2001:db8:1::10"],
    );
    const pod = trace({
      src: "2001:db8:1::77",
      sport: 40000,
      dst: "2001:db8:ff::10",
      dport: 30080,
      proto: "TCP",
    });
    assert.deepEqual([pod.frontend, pod.slotCount], ["2001:db8:ff::10:30080/TCP/int", 2]);
    assert.match(outside.snat!.why, /the backend runs on this node: its reply comes back through it/);
  });

  it("walks kube-proxy's IPv6 proxier: both modes DNAT the ClusterIP among the same IPv6 endpoints", () => {
    const t = trace({ src: "2001:db8:1::77", sport: 40000, dst: "fd00:96::20", dport: 80, proto: "TCP" });
    const endpoints = [...new Set(t.iptables.candidates.map((c) => c.backend))].sort();
    assert.ok(endpoints.length >= 2 && endpoints.every((b) => b.startsWith("[")), endpoints.join(" "));
    for (const kp of [t.iptables, t.nftables]) {
      assert.equal(kp.verdict, "DNAT", kp.mode);
      assert.ok(endpoints.includes(kp.backend!), `${kp.mode}: ${kp.backend}`);
    }
    assert.deepEqual([...new Set(t.nftables.candidates.map((c) => c.backend))].sort(), endpoints);
    assert.ok(!t.notes.some((n) => /IPv4 only/.test(n)), t.notes.join("\n"));
  });

  it("the command line takes [IPv6]:PORT and refuses a packet of two families", () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [MAPLB, "trace", "-f", EXAMPLE, "--datapath", "emulated", ...args], {
        encoding: "utf8",
        env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
      });
    const ok = run("--node-name", "node-a", "--from", "[2001:DB8:99::5]:40000", "--to", "[fd00:96:0::20]:80");
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^packet: {3}\[2001:db8:99::5\]:40000 → \[fd00:96::20\]:80 TCP$/m);
    assert.match(ok.stdout, /^verdict: {2}DNAT$/m);
    const mixed = run("--from", "10.0.0.1:40000", "--to", "[fd00:96::20]:80");
    assert.equal(mixed.status, 2);
    assert.match(mixed.stderr, /are of different IP families/);
    const bad = run("--from", "[2001:db8::zz]:1", "--to", "[fd00:96::20]:80");
    assert.match(bad.stderr, /--from expects IP:PORT or \[IPv6\]:PORT, got '\[2001:db8::zz\]:1'/);
  });
});
