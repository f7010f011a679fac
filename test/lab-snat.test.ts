// SNAT where kube-proxy masquerades, end to end: the same scenario up under maplb (TC and XDP) and
// under kube-proxy's iptables and nftables rules, side by side, and the same probes and assertions
// for each:
//   - hairpin: a backend pod connecting to its own Service, for a one-pod and a three-pod Service;
//   - cross-node: an external client, and a pod, to a NodePort (externalTrafficPolicy=Cluster) on
//     the node that has no backend, whose replies must come back through that node.
// Real TCP between network namespaces this test creates (198.18.0.0/15), all removed at the end.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AttachMode } from "../src/cli/commands/attach.js";
import { labDown, labUp } from "../src/lab/lab.js";
import type { ProbeResult } from "../src/lab/probe.js";
import type { LabProxy, LabState } from "../src/lab/state.js";
import { backendIps, downOnExit, labBlocker, probe, targetOf, type ProbeSpec } from "./helpers/lab-run.js";
import { type ScenarioService, writeServices } from "./helpers/lab-scenario.js";

/** Services with their endpoints as [ip, node]; addresses outside the lab range, re-addressed by it. */
const SERVICES: ScenarioService[] = [
  {
    name: "solo",
    spec: { type: "ClusterIP", clusterIP: "10.96.1.1" },
    endpoints: [["10.244.1.11", "node-a"]],
  },
  {
    name: "many",
    spec: { type: "ClusterIP", clusterIP: "10.96.1.2" },
    endpoints: [
      ["10.244.1.21", "node-a"],
      ["10.244.1.22", "node-a"],
      ["10.244.2.23", "node-b"],
    ],
  },
  // Backends on the edge node only: node-b's NodePort has none of its own.
  {
    name: "edge",
    spec: { type: "NodePort", clusterIP: "10.96.1.3" },
    endpoints: [
      ["10.244.1.31", "node-a"],
      ["10.244.1.32", "node-a"],
    ],
  },
];

interface Setup {
  proxy: LabProxy;
  attach: AttachMode;
}
const SETUPS: Setup[] = [
  { proxy: "maplb", attach: "tc" },
  { proxy: "maplb", attach: "xdp" },
  { proxy: "iptables", attach: "tc" },
  { proxy: "nftables", attach: "tc" },
];
const label = (s: Setup) => (s.proxy === "maplb" ? `maplb ${s.attach}` : s.proxy);
const skip = SETUPS.map((s) => labBlocker(s.proxy)).find((b) => b !== null);

describe(
  "SNAT where kube-proxy masquerades: maplb (TC, XDP) and kube-proxy's iptables and nftables rules",
  { skip: skip ?? false },
  () => {
    const labs = new Map<Setup, LabState>();
    const name = (s: Setup) =>
      `s${s.proxy === "maplb" ? s.attach[0] : s.proxy[0]}${process.pid.toString(36)}`;

    before(async () => {
      const scenario = writeServices("lab-snat.yaml", SERVICES);
      for (const s of SETUPS) downOnExit(name(s));
      for (const s of SETUPS)
        labs.set(s, await labUp({ name: name(s), scenario, proxy: s.proxy, attach: s.attach }));
    });
    after(() => {
      for (const s of SETUPS) labDown({ name: name(s) });
    });

    /** The pods of a Service, with the node they run on. */
    const podsOf = (state: LabState, svc: string) =>
      state.plan.pods.filter((p) => p.role === "backend" && p.services.includes(`default/${svc}`));
    /** The addresses a node may masquerade to: its own, or its pod gateway (kube-proxy's MASQUERADE takes the outgoing interface's). */
    const nodeAddresses = (state: LabState, node: string) => {
      const n = state.plan.nodes.find((x) => x.name === node)!;
      return [n.ip, n.gateway];
    };
    const sourceIp = (r: ProbeResult) => r.answer!.client.split(":")[0]!;

    /** `count` requests under every setup; each must be answered, from the frontend's address. */
    async function everyAnswered(spec: ProbeSpec, count: number): Promise<Map<Setup, ProbeResult[]>> {
      const out = new Map<Setup, ProbeResult[]>();
      for (const s of SETUPS) {
        const state = labs.get(s)!;
        const results = await probe(state, spec, count, 1500);
        const what = `${label(s)}: ${spec.from} → ${spec.target} ${spec.frontend ?? "cluster-ip"}${spec.node ? ` on ${spec.node}` : ""}`;
        assert.deepEqual(
          results.filter((r) => !r.ok),
          [],
          `${what}: every request answered`,
        );
        const frontend = targetOf(state, spec).address;
        assert.ok(
          results.every((r) => r.remote === frontend),
          `${what}: every answer from ${frontend}`,
        );
        out.set(s, results);
      }
      return out;
    }

    it("hairpin, one-pod Service: the pod reaches itself through its ClusterIP, and sees its node's address", async () => {
      const results = await everyAnswered({ from: "solo-1", target: "default/solo" }, 20);
      for (const [s, rs] of results) {
        const pod = podsOf(labs.get(s)!, "solo")[0]!;
        assert.ok(
          rs.every((r) => r.answer!.ip === pod.ip),
          `${label(s)}: answered by itself`,
        );
        const node = nodeAddresses(labs.get(s)!, pod.node);
        assert.ok(
          rs.every((r) => node.includes(sourceIp(r))),
          `${label(s)}: the pod saw ${sourceIp(rs[0]!)}`,
        );
      }
    });

    it("hairpin, three-pod Service: each pod reaches itself (from its node's address) and the others (from its own)", async () => {
      for (const pod of podsOf(labs.get(SETUPS[0]!)!, "many")) {
        const results = await everyAnswered({ from: pod.name, target: "default/many" }, 30);
        for (const [s, rs] of results) {
          const self = rs.filter((r) => r.answer!.ip === pod.ip);
          assert.ok(self.length > 0, `${label(s)}: ${pod.name} reached itself`);
          assert.ok(self.length < rs.length, `${label(s)}: ${pod.name} reached the others too`);
          const node = nodeAddresses(labs.get(s)!, pod.node);
          assert.ok(
            self.every((r) => node.includes(sourceIp(r))),
            `${label(s)}: ${pod.name} saw itself as ${self.map(sourceIp).join(",")}`,
          );
          assert.ok(
            rs.filter((r) => r.answer!.ip !== pod.ip).every((r) => sourceIp(r) === pod.ip),
            `${label(s)}: the other pods see ${pod.name}'s own address`,
          );
        }
      }
    });

    for (const from of ["ext-1", "client-1"])
      it(`cross-node: ${from} to the NodePort of the node without a backend reaches every backend, which sees that node`, async () => {
        const nodeB = labs.get(SETUPS[0]!)!.plan.nodes[1]!;
        const results = await everyAnswered(
          { from, target: "default/edge", frontend: "node-port", node: nodeB.name },
          30,
        );
        for (const [s, rs] of results) {
          const state = labs.get(s)!;
          assert.deepEqual(
            [...new Set(rs.map((r) => r.answer!.ip))].sort(),
            backendIps(state, "default/edge"),
            `${label(s)}: every backend answered`,
          );
          assert.ok(
            rs.every((r) => sourceIp(r) === nodeB.ip),
            `${label(s)}: the backends saw ${[...new Set(rs.map(sourceIp))].join(",")}`,
          );
        }
      });
  },
);
