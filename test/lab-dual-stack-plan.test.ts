// The dual-stack lab's plan, without root: every address gets its IPv6 twin in 2001:db8::/32, the
// Services become dual-stack objects the API server would accept, the model gets an IPv6 half with
// the same backends, and the IPv4 half stays exactly what an IPv4 lab plans.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ipaddr from "ipaddr.js";
import { checkObjects, modelOf, readObjects } from "../src/k8s/read.js";
import { cidr6Twin, CLUSTER_CIDR6, ipv6Twin, LAB_RANGE6, SERVICE_CIDR6 } from "../src/lab/addresses.js";
import { resolveTarget } from "../src/lab/client.js";
import { labModel, labSlices, nodeConfig } from "../src/lab/objects.js";
import { backendsOf, planLab, scalePlan, svcKey, type LabPlan } from "../src/lab/plan.js";
import { resolveScenario } from "../src/lab/scenario.js";
import { DEFAULT_LINKS } from "../src/lab/links.js";
import { portsOfFamily } from "../src/model/types.js";
import { writeLabScenario } from "./helpers/lab-scenario.js";
import { SCENARIOS } from "./helpers/manifests.js";

const inRange = (ip: string, cidr: string) => ipaddr.parse(ip).match(ipaddr.parseCIDR(cidr));
const objectsOf = (short: string) => {
  const { name, file } = resolveScenario(short, SCENARIOS);
  return { name, objects: readObjects([file]) };
};
const planOf = (short: string, dualStack: boolean): LabPlan => {
  const { name, objects } = objectsOf(short);
  return planLab(name, objects, DEFAULT_LINKS, dualStack);
};

/** The plan with every IPv6 field taken away: what must equal the IPv4 lab's plan. */
function ipv4Half(plan: LabPlan): LabPlan {
  const strip = <T extends object>(o: T, keys: string[]) =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as T;
  const out = structuredClone(plan);
  delete out.dualStack;
  out.nodes = out.nodes.map((n) => strip(n, ["ip6", "podSubnet6", "gateway6"]));
  out.pods = out.pods.map((p) => strip(p, ["ip6"]));
  out.externals = out.externals.map((e) => strip(e, ["ip6", "gateway6"]));
  const v4 = (l: string[] | undefined) => l?.filter((a) => !a.includes(":"));
  out.services = out.services.map((s) => {
    const spec = strip(s.spec!, ["ipFamilyPolicy", "ipFamilies", "clusterIPs"]);
    if (spec.externalIPs) spec.externalIPs = v4(spec.externalIPs);
    if (spec.loadBalancerSourceRanges) spec.loadBalancerSourceRanges = v4(spec.loadBalancerSourceRanges);
    const ingress = s.status?.loadBalancer?.ingress?.filter((i) => !i.ip?.includes(":"));
    return { ...s, spec, ...(s.status ? { status: { loadBalancer: { ingress } } } : {}) };
  });
  return out;
}

describe("dual-stack lab plan", () => {
  it("IPv6 twins: 198.A.B.C is 2001:db8:A:B::C in hex, ranges keep their shape, only lab addresses have one", () => {
    assert.equal(ipv6Twin("198.18.1.11"), "2001:db8:12:1::b");
    assert.equal(ipv6Twin("198.19.0.10"), "2001:db8:13::a");
    assert.equal(ipv6Twin("198.19.128.1"), "2001:db8:13:80::1");
    assert.equal(ipv6Twin("198.18.2.0"), "2001:db8:12:2::");
    assert.equal(cidr6Twin("198.18.1.0/24"), "2001:db8:12:1::/120");
    assert.equal(cidr6Twin("198.19.129.4/30"), "2001:db8:13:81::4/126");
    assert.equal(cidr6Twin("0.0.0.0/0"), "::/0");
    assert.equal(LAB_RANGE6, "2001:db8:12::/47");
    assert.equal(CLUSTER_CIDR6, "2001:db8:12::/56");
    assert.equal(SERVICE_CIDR6, "2001:db8:13::/57");
    // A range's twin holds exactly the twins of its addresses: the edges in, their neighbours out.
    for (const [cidr, inside, outside] of [
      ["198.19.129.4/30", ["198.19.129.4", "198.19.129.7"], ["198.19.129.3", "198.19.129.8"]],
      ["198.19.0.0/17", ["198.19.0.1", "198.19.127.255"], ["198.19.128.1", "198.18.255.255"]],
      ["198.18.0.0/15", ["198.18.0.1", "198.19.255.254"], []],
    ] as const) {
      for (const ip of inside) assert.ok(inRange(ipv6Twin(ip), cidr6Twin(cidr)), `${ip} in ${cidr}`);
      for (const ip of outside) assert.ok(!inRange(ipv6Twin(ip), cidr6Twin(cidr)), `${ip} not in ${cidr}`);
    }
    assert.throws(() => ipv6Twin("10.0.0.1"), /'10.0.0.1' is outside 198.18.0.0\/15/);
  });

  for (const short of ["seed-000", "seed-001", "seed-002", "seed-003"]) {
    it(`${short}: the IPv4 half is the IPv4 lab's plan; every IPv6 address is its IPv4 address's twin, in 2001:db8::/32, unique`, () => {
      const dual = planOf(short, true);
      assert.deepEqual(ipv4Half(dual), planOf(short, false));
      const twins: [string, string | undefined][] = [
        ...dual.nodes.flatMap((n) => [
          [n.ip, n.ip6],
          [n.gateway, n.gateway6],
        ]),
        ...dual.pods.map((p): [string, string | undefined] => [p.ip, p.ip6]),
        ...dual.externals.flatMap((e) => [
          [e.ip, e.ip6],
          [e.gateway, e.gateway6],
        ]),
      ] as [string, string | undefined][];
      for (const [v4, v6] of twins) {
        assert.equal(v6, ipv6Twin(v4), v4);
        assert.ok(inRange(v6!, "2001:db8::/32"), v6);
      }
      const unique = [...dual.nodes.map((n) => n.ip6), ...dual.pods.map((p) => p.ip6)];
      assert.equal(new Set(unique).size, unique.length);
      for (const n of dual.nodes) assert.equal(n.podSubnet6, cidr6Twin(n.podSubnet));
    });

    it(`${short}: its Services are valid dual-stack objects and every IPv4 service port has an IPv6 twin with the twin backends`, () => {
      const plan = planOf(short, true);
      const sources = [...plan.services, ...labSlices(plan)].map((object, i) => ({
        file: "lab",
        doc: String(i),
        object,
      }));
      const model = modelOf(checkObjects(sources));
      assert.deepEqual(model, labModel(plan));
      for (const s of plan.services) {
        assert.equal(s.spec!.ipFamilyPolicy, "RequireDualStack", svcKey(s));
        assert.deepEqual(s.spec!.ipFamilies, ["IPv4", "IPv6"]);
      }
      const v6 = portsOfFamily(model, "IPv6");
      const v4 = portsOfFamily(model, "IPv4");
      assert.equal(v6.length, v4.length);
      for (const p of v4) {
        const q = v6.find((x) => x.id === `${p.id}/IPv6`);
        assert.ok(q, `${p.id} has an IPv6 twin`);
        assert.equal(q.clusterIP, ipv6Twin(p.clusterIP!));
        assert.ok(inRange(q.clusterIP, SERVICE_CIDR6));
        assert.equal(q.nodePort, p.nodePort);
        assert.deepEqual(q.externalIPs, p.externalIPs.map(ipv6Twin));
        assert.deepEqual(q.loadBalancerIPs, p.loadBalancerIPs.map(ipv6Twin));
        // The same endpoints (the model sorts each family's as strings, so compare them as sets).
        const ends = (l: typeof p.endpoints, ip: (a: string) => string) =>
          l.map((e) => `${ip(e.ip)} ${e.port} ${e.nodeName}`).sort();
        assert.deepEqual(
          ends(q.endpoints, (a) => a),
          ends(p.endpoints, ipv6Twin),
        );
      }
    });
  }

  it("source ranges: a scenario range and its twin (ext-1's /30 and /126), 0.0.0.0/0 and ::/0", () => {
    const { objects } = { objects: readObjects([writeLabScenario()]) };
    const fenced = objects.services.find((s) => s.metadata?.name === "fenced")!;
    const open = structuredClone(fenced);
    open.metadata!.name = "open";
    open.spec!.clusterIP = "10.96.0.99";
    open.spec!.loadBalancerSourceRanges = ["0.0.0.0/0"];
    open.status!.loadBalancer!.ingress = [{ ip: "203.0.113.99" }];
    const plan = planLab("e2e", { ...objects, services: [...objects.services, open] }, DEFAULT_LINKS, true);
    const ranges = (name: string) =>
      plan.services.find((s) => s.metadata?.name === name)!.spec!.loadBalancerSourceRanges;
    assert.deepEqual(ranges("fenced"), ["198.19.129.0/30", "2001:db8:13:81::/126"]);
    assert.ok(inRange(plan.externals[0]!.ip6!, ranges("fenced")![1]!), "ext-1 is inside over IPv6 too");
    assert.ok(!inRange(plan.externals[1]!.ip6!, ranges("fenced")![1]!), "ext-2 is outside");
    assert.deepEqual(ranges("open"), ["0.0.0.0/0", "::/0"]);
  });

  it("curl targets per family: the IPv6 ClusterIP, node address and ingress IP; an IPv4 lab has none", () => {
    const plan = planOf("seed-001", true);
    const svc = plan.services.find((s) => s.metadata?.name === "go-app")!;
    const v6 = (spec: { frontend?: "node-port"; node?: string; external: boolean }) =>
      resolveTarget(plan, { target: "default/go-app", family: "IPv6", ...spec }).address;
    assert.equal(v6({ external: false }), svc.spec!.clusterIPs![1]);
    assert.equal(v6({ external: true }), ipv6Twin(svc.status!.loadBalancer!.ingress![0]!.ip!));
    assert.equal(v6({ frontend: "node-port", node: "gke-node-b", external: true }), plan.nodes[1]!.ip6);
    assert.equal(
      resolveTarget(plan, { target: "default/go-app", external: false }).address,
      svc.spec!.clusterIP,
      "IPv4 stays the default",
    );
    assert.deepEqual(resolveTarget(plan, { target: "[2001:db8:12:1::5]:8080/udp", external: false }), {
      address: "2001:db8:12:1::5",
      port: 8080,
      protocol: "UDP",
      service: null,
    });
    assert.throws(
      () =>
        resolveTarget(planOf("seed-001", false), {
          target: "default/go-app",
          family: "IPv6",
          external: false,
        }),
      /default\/go-app has no IPv6 cluster-ip frontend/,
    );
    assert.throws(() => resolveTarget(plan, { target: "[2001:db8::g]:80", external: false }), /expected/);
  });

  it("node configs per family; scaled pods get twins; --pod-mtu below IPv6's 1280 is refused", () => {
    const plan = planOf("seed-003", true);
    const node = plan.nodes[0]!;
    assert.deepEqual(nodeConfig(node).nodeIPs, [node.ip]);
    assert.deepEqual(nodeConfig(node, ["IPv6"]).nodeIPs, [node.ip6]);
    assert.equal(nodeConfig(node, ["IPv6"]).clusterCIDR6, CLUSTER_CIDR6);
    assert.deepEqual(nodeConfig(node, ["IPv4", "IPv6"]).nodeIPs, [node.ip, node.ip6]);
    const { added } = scalePlan(plan, "nginx/nginx", 4);
    assert.ok(added.length > 0 && added.every((p) => p.ip6 === ipv6Twin(p.ip)));
    assert.ok(backendsOf(plan, "nginx/nginx").every((p) => p.ip6));
    const { name, objects } = objectsOf("seed-001");
    const mtu = (m: number) => ({ ...DEFAULT_LINKS, podMtu: { mtu: m, node: null } });
    assert.throws(() => planLab(name, objects, mtu(1200), true), /IPv6 needs a link MTU of at least 1280/);
    assert.equal(planLab(name, objects, mtu(1200), false).links!.podMtu!.mtu, 1200);
    assert.equal(planLab(name, objects, mtu(1280), true).links!.podMtu!.mtu, 1280);
  });
});
