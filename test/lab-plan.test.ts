// The lab's plan, without root: how the seed scenarios are re-addressed into 198.18.0.0/15 and
// placed on nodes, the EndpointSlices the lab writes from its pods, scaling, targets and DNS answers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as dnsPacket from "dns-packet";
import { readModel, readObjects } from "../src/k8s/read.js";
import { inLabRange } from "../src/lab/addresses.js";
import { resolveTarget } from "../src/lab/client.js";
import { answerDns } from "../src/lab/dns.js";
import { dnsRecords, labModel } from "../src/lab/objects.js";
import { backendsOf, planLab, scalePlan, type LabPlan } from "../src/lab/plan.js";
import { resolveScenario, scenarioNames } from "../src/lab/scenario.js";
import { SCENARIOS } from "./helpers/manifests.js";

const planOf = (short: string): LabPlan => {
  const { name, file } = resolveScenario(short, SCENARIOS);
  return planLab(name, readObjects([file]));
};

/** Every address the plan puts on an interface or in a Service. */
function addresses(plan: LabPlan): string[] {
  return [
    ...plan.nodes.flatMap((n) => [n.ip, n.gateway]),
    ...plan.pods.map((p) => p.ip),
    ...plan.externals.flatMap((e) => [e.ip, e.gateway]),
    ...plan.services.flatMap((s) => [
      s.spec!.clusterIP!,
      ...(s.spec!.externalIPs ?? []),
      ...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip!),
    ]),
  ];
}

describe("lab plan", () => {
  it("finds the seed scenarios by full and short name", () => {
    assert.deepEqual(scenarioNames(SCENARIOS).slice(0, 4), [
      "seed-000-pod-to-pod",
      "seed-001-gke-loadbalancer",
      "seed-002-service-discovery",
      "seed-003-eks-services",
    ]);
    assert.equal(resolveScenario("seed-003", SCENARIOS).name, "seed-003-eks-services");
    assert.equal(resolveScenario("seed-001-gke-loadbalancer", SCENARIOS).name, "seed-001-gke-loadbalancer");
    assert.throws(() => resolveScenario("seed-9", SCENARIOS), /unknown scenario 'seed-9'; known: seed-000/);
  });

  for (const short of ["seed-000", "seed-001", "seed-002", "seed-003"]) {
    it(`${short}: every address is re-addressed into 198.18.0.0/15, unique, and the map names each original`, () => {
      const plan = planOf(short);
      const all = addresses(plan);
      for (const a of all) assert.ok(inLabRange(a), `${a} is outside 198.18.0.0/15`);
      const unique = [
        ...plan.nodes.map((n) => n.ip),
        ...plan.pods.map((p) => p.ip),
        ...plan.services.map((s) => s.spec!.clusterIP),
      ];
      assert.equal(new Set(unique).size, unique.length, "no address is used twice");
      for (const [from, to] of Object.entries(plan.addressMap)) {
        assert.ok(!inLabRange(from) && inLabRange(to), `${from} → ${to}`);
      }
    });

    it(`${short}: the slices the lab writes give the seed's service ports the seed's number of endpoints`, () => {
      const { file } = resolveScenario(short, SCENARIOS);
      const seed = readModel([file]);
      const lab = labModel(planOf(short));
      for (const p of seed.ports) {
        const mine = lab.ports.find((q) => q.id === p.id);
        assert.ok(mine, p.id);
        assert.equal(mine.endpoints.length, p.endpoints.length, p.id);
        assert.equal(mine.nodePort, p.nodePort, `${p.id} keeps its NodePort`);
        assert.deepEqual(
          mine.endpoints.map((e) => e.port),
          p.endpoints.map((e) => e.port),
        );
      }
    });
  }

  it("places pods on the seed's nodes: one node when the seed has one, two otherwise", () => {
    assert.deepEqual(
      planOf("seed-000").nodes.map((n) => n.name),
      ["docker-desktop"],
    );
    const gke = planOf("seed-001");
    assert.deepEqual(
      gke.nodes.map((n) => n.name),
      ["gke-node-c", "gke-node-b"],
    );
    const onNode = (node: string) => backendsOf(gke, "default/go-app").filter((p) => p.node === node).length;
    assert.equal(onNode("gke-node-c"), 2);
    assert.equal(onNode("gke-node-b"), 1);
    assert.deepEqual(
      planOf("seed-002").nodes.map((n) => n.name),
      ["node-1", "node-2"],
    );
    assert.equal(planOf("seed-003").nodes[0]!.name, "master1");
  });

  it("adds cluster DNS, a UDP echo, a client per node and two external clients", () => {
    const plan = planOf("seed-003");
    assert.deepEqual(
      plan.pods
        .filter((p) => p.role !== "backend" || p.services.includes("default/udp-echo"))
        .map((p) => p.name),
      ["coredns-1", "udp-echo-1", "udp-echo-2", "client-1", "client-2"],
    );
    assert.deepEqual(
      plan.externals.map((e) => e.name),
      ["ext-1", "ext-2"],
    );
    assert.equal(
      dnsRecords(plan)["nginx.nginx.svc.cluster.local"],
      plan.services.find((s) => s.metadata?.namespace === "nginx")!.spec!.clusterIP,
    );
  });

  it("scales like a Deployment: new pods on the emptier node, the newest removed first", () => {
    const plan = planOf("seed-003");
    const svc = "nginx/nginx";
    const up = scalePlan(plan, svc, 5);
    assert.equal(up.added.length, 4);
    assert.equal(backendsOf(plan, svc).length, 5);
    const nodes = backendsOf(plan, svc).map((p) => p.node);
    assert.ok(
      Math.abs(nodes.filter((n) => n === "master1").length - nodes.filter((n) => n !== "master1").length) <=
        1,
    );
    const down = scalePlan(plan, svc, 2);
    assert.deepEqual(
      down.removed.map((p) => p.name),
      ["nginx-5", "nginx-4", "nginx-3"],
    );
    assert.deepEqual(
      backendsOf(plan, svc).map((p) => p.name),
      ["nginx-1", "nginx-2"],
    );
    assert.ok(backendsOf(plan, svc).every((p) => inLabRange(p.ip)));
  });

  it("resolves curl targets: ClusterIP from a pod, the LoadBalancer IP from outside, NodePorts per node", () => {
    const plan = planOf("seed-001");
    const svc = plan.services.find((s) => s.metadata?.name === "go-app")!;
    const lb = svc.status!.loadBalancer!.ingress![0]!.ip!;
    assert.deepEqual(resolveTarget(plan, { target: "default/go-app", external: false }), {
      address: svc.spec!.clusterIP,
      port: 80,
      protocol: "TCP",
      service: "default/go-app",
    });
    assert.equal(resolveTarget(plan, { target: "default/go-app", external: true }).address, lb);
    assert.deepEqual(
      resolveTarget(plan, {
        target: "default/go-app",
        frontend: "node-port",
        node: "gke-node-b",
        external: true,
      }),
      { address: plan.nodes[1]!.ip, port: 32192, protocol: "TCP", service: "default/go-app" },
    );
    assert.equal(resolveTarget(plan, { target: "default/udp-echo", external: false }).protocol, "UDP");
    assert.throws(
      () => resolveTarget(plan, { target: "default/nope", external: false }),
      /no Service default\/nope/,
    );
  });

  it("DNS: A records for known names, NODATA for other types, NXDOMAIN for the rest", () => {
    const records = { "web.shop.svc.cluster.local": "198.19.0.20" };
    const ask = (name: string, type: "A" | "AAAA") => {
      const query = { id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] };
      const reply = dnsPacket.decode(dnsPacket.encode(answerDns(query, records)));
      const rcode = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN"][(reply.flags ?? 0) & 15];
      return {
        id: reply.id,
        rcode,
        data: (reply.answers ?? []).map((x) => (x.type === "A" ? x.data : null)),
      };
    };
    const a = ask("Web.Shop.svc.cluster.local", "A");
    assert.equal(a.id, 7);
    assert.equal(a.rcode, "NOERROR");
    assert.deepEqual(a.data, ["198.19.0.20"]);
    const aaaa = ask("web.shop.svc.cluster.local", "AAAA");
    assert.equal(aaaa.rcode, "NOERROR");
    assert.equal(aaaa.data.length, 0);
    assert.equal(ask("web.default.svc.cluster.local", "A").rcode, "NXDOMAIN");
    assert.equal(ask("example.com", "A").rcode, "NXDOMAIN");
  });
});
