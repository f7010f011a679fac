// The nat-table tracer: which chains and rules a new connection walks in kube-proxy's nat table.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readModel } from "../src/k8s/read.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { natTracer, traceNat, type NatPacket } from "../src/kubeproxy/nat-trace.js";
import { NODE, SEED_NODES, policyZoo, servicePort, endpoint } from "./helpers/kubeproxy.js";
import { SCENARIOS } from "./helpers/manifests.js";
import { portProtoHash, endpointChain } from "../src/kubeproxy/chain-names.js";

const seed = (i: number) => {
  const { file, node } = SEED_NODES[i]!;
  return { nat: buildIptablesRules(readModel([join(SCENARIOS, file)]), node).nat, node };
};
const tcp = (srcIp: string, dstIp: string, dstPort: number): NatPacket => ({
  srcIp,
  dstIp,
  dstPort,
  protocol: "tcp",
});

describe("nat table trace", () => {
  const { nat } = seed(3);
  const SVC = `KUBE-SVC-${portProtoHash("default/nginx-svc:tcp", "tcp")}`;

  it("a pod reaching a ClusterIP: KUBE-SERVICES → KUBE-SVC → KUBE-SEP → DNAT", () => {
    const t = traceNat(nat, tcp("10.110.1.1", "172.20.107.173", 80), { random: () => 0.99 });
    const last = { ip: "10.110.23.249", port: 80 };
    assert.deepEqual(t.verdict, { kind: "dnat", to: "10.110.23.249:80" });
    const sep = endpointChain({ spn: "default/nginx-svc:tcp", protocol: "TCP" }, last);
    assert.deepEqual(t.path, [
      { chain: "KUBE-SERVICES", rule: 0 },
      { chain: SVC, rule: 5 },
      { chain: sep, rule: 1 },
    ]);
    // 1 KUBE-SERVICES rule, the masquerade rule, 4 statistic rules and the last one, 2 SEP rules
    assert.equal(t.rulesEvaluated, 9);
    assert.equal(t.masquerade, false);
  });

  it("the first statistic rule wins when the random draw is below 1/N", () => {
    const t = traceNat(nat, tcp("10.110.1.1", "172.20.107.173", 80), { random: () => 0 });
    assert.deepEqual(t.verdict, { kind: "dnat", to: "10.110.11.214:80" });
    assert.equal(t.rulesEvaluated, 1 + 2 + 2);
  });

  it("off-cluster sources are marked for masquerade", () => {
    const t = traceNat(nat, tcp("192.0.2.1", "172.20.107.173", 80), { random: () => 0 });
    assert.equal(t.masquerade, true);
    assert.deepEqual(t.path.slice(1, 3), [
      { chain: SVC, rule: 0 },
      { chain: "KUBE-MARK-MASQ", rule: 0 },
    ]);
  });

  it("a packet for no service walks all of KUBE-SERVICES and is left alone", () => {
    const t = traceNat(nat, tcp("10.110.1.1", "8.8.8.8", 53));
    assert.deepEqual(t.verdict, { kind: "none" });
    assert.equal(t.rulesEvaluated, nat.rules.filter((r) => r.chain === "KUBE-SERVICES").length);
  });

  it("a NodePort on the node's address goes through KUBE-NODEPORTS and KUBE-EXT", () => {
    const s = seed(0);
    const t = traceNat(s.nat, tcp("192.0.2.7", "192.168.65.3", 30080), { localAddresses: s.node.nodeIPs });
    assert.deepEqual(t.verdict, { kind: "dnat", to: "10.1.0.55:80" });
    assert.deepEqual(
      t.path.map((x) => x.chain),
      [
        "KUBE-SERVICES",
        "KUBE-NODEPORTS",
        `KUBE-EXT-${portProtoHash("default/nginx-serv", "tcp")}`,
        "KUBE-MARK-MASQ",
        `KUBE-EXT-${portProtoHash("default/nginx-serv", "tcp")}`,
        `KUBE-SVC-${portProtoHash("default/nginx-serv", "tcp")}`,
        endpointChain({ spn: "default/nginx-serv", protocol: "TCP" }, { ip: "10.1.0.55", port: 80 }),
      ],
    );
    assert.equal(t.masquerade, true);
  });

  it("ClientIP affinity: the second connection returns to the first one's endpoint", () => {
    const zoo = buildIptablesRules({ ports: policyZoo() }, NODE).nat;
    let draw = 0.99;
    const next = natTracer(zoo, { random: () => draw });
    const pkt: NatPacket = { srcIp: "10.9.9.9", dstIp: "172.30.0.47", dstPort: 53, protocol: "udp" };
    assert.deepEqual(next(pkt).verdict, { kind: "dnat", to: "10.1.0.9:5353" });
    const fresh = natTracer(zoo, { random: () => 0 }); // its own, empty affinity state
    assert.deepEqual(
      fresh(pkt).verdict,
      { kind: "dnat", to: "10.1.0.8:5353" },
      "without the state: a random pick",
    );
    draw = 0;
    assert.deepEqual(
      next(pkt).verdict,
      { kind: "dnat", to: "10.1.0.9:5353" },
      "the recent list wins over the draw",
    );
  });

  it("loadBalancerSourceRanges: an allowed source is DNATed, another falls through un-NATed", () => {
    const zoo = buildIptablesRules({ ports: policyZoo() }, NODE).nat;
    const ok = traceNat(zoo, tcp("198.51.100.9", "203.0.113.46", 80));
    assert.deepEqual(ok.verdict, { kind: "dnat", to: "10.1.0.7:8080" });
    const denied = traceNat(zoo, tcp("8.8.8.8", "203.0.113.46", 80));
    assert.deepEqual(denied.verdict, { kind: "none" }); // the filter table's KUBE-PROXY-FIREWALL drops it
  });

  it("externalTrafficPolicy=Local: external clients reach only the local endpoint, unmasqueraded", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["203.0.113.5"],
      externalTrafficPolicy: "Local",
      endpoints: [endpoint("10.1.0.1", { nodeName: "node-b" }), endpoint("10.1.0.2")],
    });
    const nat2 = buildIptablesRules({ ports: [p] }, NODE).nat;
    for (const draw of [0, 0.99]) {
      const t = traceNat(nat2, tcp("198.51.100.9", "203.0.113.5", 80), { random: () => draw });
      assert.deepEqual(t.verdict, { kind: "dnat", to: "10.1.0.2:8080" });
      assert.equal(t.masquerade, false);
    }
  });
});
