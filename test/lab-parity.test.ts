// Parity on a seed scenario: seed-001 (a LoadBalancer, 3 pods on 2 nodes) up twice side by side, once
// with maplb's datapath and once with kube-proxy's iptables rules, and the same probes sent to both.
// Each frontend must reach the same set of backends with the same outcome, the NodePort of the node
// the external client does not enter by included: both source-NAT a request sent on to a backend on
// another node, so its reply comes back through the node that translated it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { labDown, labUp } from "../src/lab/lab.js";
import type { LabProxy, LabState } from "../src/lab/state.js";
import { backendIps, byBackend, downOnExit, labBlocker, probe, type ProbeSpec } from "./helpers/lab-run.js";

const PROXIES: LabProxy[] = ["maplb", "iptables"];
const skip = PROXIES.map(labBlocker).find((b) => b !== null);
const SERVICE = "default/go-app";

describe("parity on seed-001: maplb and kube-proxy's iptables rules", { skip: skip ?? false }, () => {
  const labs = new Map<LabProxy, LabState>();
  const name = (proxy: LabProxy) => `p${proxy[0]}${process.pid.toString(36)}`;

  before(async () => {
    for (const proxy of PROXIES) downOnExit(name(proxy));
    for (const proxy of PROXIES)
      labs.set(proxy, await labUp({ name: name(proxy), scenario: "seed-001", proxy }));
  });
  after(() => {
    for (const proxy of PROXIES) labDown({ name: name(proxy) });
  });

  /** The backends that answered, and how many requests failed, under each proxy. */
  async function both(spec: ProbeSpec, count = 60) {
    const out = new Map<LabProxy, { backends: string[]; failed: number }>();
    for (const proxy of PROXIES) {
      const results = await probe(labs.get(proxy)!, spec, count, 1000);
      out.set(proxy, {
        backends: [...byBackend(results).keys()].sort(),
        failed: results.filter((r) => !r.ok).length,
      });
    }
    return out;
  }

  const cases: [string, ProbeSpec][] = [
    ["pod on the edge node → ClusterIP", { from: "client-1", target: SERVICE }],
    ["pod on the other node → ClusterIP", { from: "client-2", target: SERVICE }],
    ["external → LoadBalancer IP", { from: "ext-1", target: SERVICE, frontend: "load-balancer" }],
    ["external → NodePort on the edge node", { from: "ext-1", target: SERVICE, frontend: "node-port" }],
    [
      "external → NodePort on the other node (gke-node-c, the first seen, is the edge)",
      { from: "ext-1", target: SERVICE, frontend: "node-port", node: "gke-node-b" },
    ],
    ["pod → UDP echo", { from: "client-2", target: "default/udp-echo" }],
  ];
  for (const [title, spec] of cases)
    it(`${title}: the same backends, every request answered`, async () => {
      const all = backendIps(labs.get("maplb")!, spec.target);
      const r = await both(spec);
      for (const proxy of PROXIES) assert.deepEqual(r.get(proxy), { backends: all, failed: 0 }, proxy);
    });
});
