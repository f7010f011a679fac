// The walkers of kube-proxy's verdict: one new connection through every hook of the iptables tables
// and of the nft ruleset that `maplb iptables` and `maplb nft` write.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { missingFlags } from "../src/datapath/kube-proxy-diff.js";
import { buildIptablesRules } from "../src/kubeproxy/iptables-rules.js";
import { buildNftRules } from "../src/kubeproxy/nft.js";
import type { KubeProxyPacket, KubeProxyVerdict } from "../src/kubeproxy/verdict.js";
import { iptablesWalker } from "../src/kubeproxy/walk-iptables.js";
import { nftWalker } from "../src/kubeproxy/walk-nft.js";
import type { NodeConfig, ServicePort } from "../src/model/types.js";
import { endpoint, NODE, servicePort } from "./helpers/kubeproxy.js";
import { terminating } from "./helpers/model-factory.js";

/** Both modes' verdicts for one packet (hash: the flow hash the random pick uses). */
function walk(ports: ServicePort[], pkt: Partial<KubeProxyPacket>, hash = 0, node: NodeConfig = NODE) {
  const p: KubeProxyPacket = {
    src: "10.9.9.9",
    sport: 40000,
    dst: "172.30.0.41",
    dport: 80,
    proto: "TCP",
    ...pkt,
  };
  const model = { ports };
  return [
    iptablesWalker(buildIptablesRules(model, node), node)(p, hash),
    nftWalker(buildNftRules(model, node), node)(p, hash),
  ] as const;
}

const texts = (v: KubeProxyVerdict) => v.path.map((s) => s.text);
const remote = (ip: string) => endpoint(ip, { nodeName: "node-b" });
const local = (ip: string) => endpoint(ip, { nodeName: "node-a" });

describe("kube-proxy walkers", () => {
  it("a ClusterIP without endpoints: the filter table rejects it (KUBE-SERVICES; the no-endpoint vmap)", () => {
    const [ipt, nft] = walk([servicePort({ endpoints: [] })], {});
    assert.equal(ipt.verdict, "REJECT");
    assert.match(
      texts(ipt).at(-1)!,
      /^-A KUBE-SERVICES -d 172\.30\.0\.41\/32 .*"ns1\/svc1:p80 has no endpoints".* -j REJECT( --reject-with icmp-port-unreachable)?$/,
    );
    assert.equal(ipt.path.at(-1)!.hook, "FORWARD");
    assert.equal(nft.verdict, "REJECT");
    assert.ok(
      texts(nft).some((t) =>
        t.includes("@no-endpoint-services element 172.30.0.41 . tcp . 80 : goto reject-chain"),
      ),
    );
    assert.equal(texts(nft).at(-1), "reject");
  });

  it("externalTrafficPolicy=Local without a local endpoint: external traffic is dropped, not rejected", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["203.0.113.5"],
      nodePort: 30005,
      externalTrafficPolicy: "Local",
      endpoints: [remote("10.1.0.1")],
    });
    for (const v of walk([p], { src: "198.51.100.9", dst: "203.0.113.5" }))
      assert.equal(v.verdict, "DROP", v.mode);
    // From a pod the same address short-circuits to every endpoint.
    for (const v of walk([p], { src: "10.1.2.3", dst: "203.0.113.5" }))
      assert.equal(v.backend, "10.1.0.1:8080", v.mode);
  });

  it("loadBalancerSourceRanges: a source outside falls off KUBE-FW (its comment-only rule printed as a rule) and KUBE-PROXY-FIREWALL drops it", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["203.0.113.5"],
      loadBalancerSourceRanges: ["198.51.100.0/24"],
      endpoints: [remote("10.1.0.1")],
    });
    const [ipt, nft] = walk([p], { src: "8.8.8.8", dst: "203.0.113.5" });
    assert.equal(ipt.verdict, "DROP");
    assert.ok(
      texts(ipt).some((t) =>
        /^-A KUBE-FW-\S+ -m comment --comment "other traffic to ns1\/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"$/.test(
          t,
        ),
      ),
      texts(ipt).join("\n"),
    );
    assert.match(texts(ipt).at(-1)!, /^-A KUBE-PROXY-FIREWALL -d 203\.0\.113\.5\/32 .* -j DROP$/);
    assert.equal(nft.verdict, "DROP");
    assert.equal(nft.path.at(-1)!.hook, "prerouting"); // before DNAT, in filter-prerouting-pre-dnat
    assert.match(texts(nft).at(-1)!, /^ip saddr != \{ 198\.51\.100\.0\/24 \} drop$/);
    for (const v of walk([p], { src: "198.51.100.7", dst: "203.0.113.5" }))
      assert.equal(v.verdict, "DNAT", v.mode);
  });

  it("a random pick: every ready endpoint is a candidate, and the flow hash picks one of them", () => {
    const eps = [remote("10.1.0.1"), remote("10.1.0.2"), local("10.1.0.3"), terminating("10.1.0.4")];
    for (const hash of [0, 1, 2, 7]) {
      for (const v of walk([servicePort({ endpoints: eps })], {}, hash)) {
        assert.deepEqual(
          v.candidates.map((c) => c.backend),
          ["10.1.0.1:8080", "10.1.0.2:8080", "10.1.0.3:8080"],
          v.mode,
        );
        assert.deepEqual(v.pick, { hash, branches: 3, index: hash % 3 }, v.mode);
        assert.equal(v.backend, v.candidates[hash % 3]!.backend, v.mode);
      }
    }
    // Nothing ready: the serving, terminating endpoint is the only choice, without a pick.
    for (const v of walk([servicePort({ endpoints: [terminating("10.1.0.4")] })], {})) {
      assert.deepEqual([v.backend, v.pick], ["10.1.0.4:8080", null], v.mode);
    }
    // internalTrafficPolicy=Local: only this node's endpoints.
    for (const v of walk([servicePort({ internalTrafficPolicy: "Local", endpoints: eps })], {}, 5))
      assert.deepEqual(
        v.candidates.map((c) => c.backend),
        ["10.1.0.3:8080"],
        v.mode,
      );
  });

  it("the masquerade mark: POSTROUTING masquerades external traffic under the Cluster policy, and a hairpin only for its own pod", () => {
    const p = servicePort({
      type: "NodePort",
      nodePort: 30001,
      endpoints: [remote("10.1.0.1"), remote("10.1.0.2")],
    });
    for (const v of walk([p], { src: "198.51.100.9", dst: NODE.nodeIPs[0], dport: 30001 })) {
      assert.equal(v.verdict, "DNAT", v.mode);
      assert.equal(v.masquerade, true, v.mode);
      assert.equal(v.path.at(-1)!.hook, v.mode === "iptables" ? "POSTROUTING" : "postrouting");
    }
    assert.match(
      texts(walk([p], { src: "198.51.100.9", dst: NODE.nodeIPs[0], dport: 30001 })[0]).at(-1)!,
      /-j MASQUERADE$/,
    );
    for (const v of walk([p], { src: "10.1.0.2" })) {
      assert.deepEqual(
        v.candidates,
        [
          { backend: "10.1.0.1:8080", masquerade: false },
          { backend: "10.1.0.2:8080", masquerade: true },
        ],
        v.mode,
      );
    }
  });

  it("a NodePort packet without --node-ip: no rule sees this node's address, and the note names the flag", () => {
    const p = servicePort({ type: "NodePort", nodePort: 30001 });
    const node = { ...NODE, nodeIPs: [] };
    for (const v of walk([p], { src: "198.51.100.9", dst: "192.168.0.2", dport: 30001 }, 0, node))
      assert.equal(v.verdict, "PASS", v.mode);
    const [note] = missingFlags({ ports: [p] }, node, {
      src: "198.51.100.9",
      sport: 1,
      dst: "192.168.0.2",
      dport: 30001,
      proto: "TCP",
    });
    assert.match(note!, /NodePort of 'ns1\/svc1:p80'.*pass --node-ip/);
  });

  it("a ClusterIP on a port no service uses: nftables mode rejects it (cluster-ips-check), iptables mode passes it", () => {
    const [ipt, nft] = walk([servicePort()], { dport: 81 });
    assert.equal(ipt.verdict, "PASS");
    assert.equal(nft.verdict, "REJECT");
    assert.match(texts(nft).at(-1)!, /^ip daddr @cluster-ips reject/);
  });

  it("nft set literals read the same with either separator kube-proxy releases print (`a, b` and `a , b`)", () => {
    const p = servicePort({
      type: "LoadBalancer",
      loadBalancerIPs: ["203.0.113.5"],
      loadBalancerSourceRanges: ["198.51.100.0/24", "192.168.0.0/24"],
      endpoints: [remote("10.1.0.1")],
    });
    const ruleset = buildNftRules({ ports: [p] }, NODE);
    const spaced = {
      ...ruleset,
      rules: ruleset.rules.map((r) => ({ ...r, rule: r.rule.replaceAll(", ", " , ") })),
    };
    assert.ok(
      spaced.rules.some((r) => r.rule.includes(" , ")),
      "the firewall rule lists several sources",
    );
    for (const src of ["198.51.100.7", "192.168.0.9", "8.8.8.8"]) {
      const pkt: KubeProxyPacket = { src, sport: 1, dst: "203.0.113.5", dport: 80, proto: "TCP" };
      const [a, b] = [nftWalker(ruleset, NODE)(pkt, 0), nftWalker(spaced, NODE)(pkt, 0)];
      assert.equal(a.verdict, src === "8.8.8.8" ? "DROP" : "DNAT", src);
      assert.equal(b.verdict, a.verdict, src);
    }
  });
});
