// Parity on a seed scenario: seed-001 (a LoadBalancer, 3 pods on 2 nodes) up twice side by side, once
// with maplb's datapath and once with kube-proxy's iptables rules, and the same probes sent to both.
// Each frontend must reach the same set of backends with the same outcome, the NodePort of the node
// the external client does not enter by included: both source-NAT a request sent on to a backend on
// another node, so its reply comes back through the node that translated it. With family IPv6 both
// labs are dual-stack and every probe goes to the IPv6 frontends (maplb's lb6 maps against
// ip6tables).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { labDown, labUp } from "../../src/lab/lab.js";
import type { LabProxy, LabState } from "../../src/lab/state.js";
import type { IpFamily } from "../../src/model/types.js";
import { backendIps, byBackend, downOnExit, labBlocker, probe, type ProbeSpec } from "./lab-run.js";

const PROXIES: LabProxy[] = ["maplb", "iptables"];
const SERVICE = "default/go-app";

/**
 * @param todo cases (by title) that are known not to hold yet for this family, with the reason: they
 *   still run, and node:test reports them as TODO, not as passes.
 */
export function describeParity(family: IpFamily, tag: string, todo: Record<string, string> = {}): void {
  const skip = PROXIES.map(labBlocker).find((b) => b !== null);
  const dualStack = family === "IPv6";
  const title = `parity on seed-001${dualStack ? " over IPv6" : ""}: maplb and kube-proxy's iptables rules`;
  describe(title, { skip: skip ?? false }, () => {
    const labs = new Map<LabProxy, LabState>();
    const name = (proxy: LabProxy) => `${tag}${proxy[0]}${process.pid.toString(36)}`;

    before(async () => {
      for (const proxy of PROXIES) downOnExit(name(proxy));
      for (const proxy of PROXIES)
        labs.set(
          proxy,
          await labUp({
            name: name(proxy),
            scenario: "seed-001",
            proxy,
            ...(dualStack ? { dualStack } : {}),
          }),
        );
    });
    after(() => {
      for (const proxy of PROXIES) labDown({ name: name(proxy) });
    });

    /** The backends that answered, and how many requests failed, under each proxy. */
    async function both(spec: ProbeSpec, count = 60) {
      const out = new Map<LabProxy, { backends: string[]; failed: number }>();
      for (const proxy of PROXIES) {
        const results = await probe(labs.get(proxy)!, { ...spec, family }, count, 1000);
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
      it(
        `${title}: the same backends, every request answered`,
        todo[title] ? { todo: todo[title] } : {},
        async () => {
          const all = backendIps(labs.get("maplb")!, spec.target, undefined, family);
          const r = await both(spec);
          for (const proxy of PROXIES) assert.deepEqual(r.get(proxy), { backends: all, failed: 0 }, proxy);
        },
      );
  });
}
