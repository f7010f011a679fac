// Differential property test: for random Services, EndpointSlices, policies and packets, maplb's
// datapath verdict (the host build: no root needed) against kube-proxy's in both of its modes, walked
// over the rules `maplb iptables` and `maplb nft` write. The verdict classes are equal (DNAT to a
// backend kube-proxy could pick, DROP, REJECT, PASS), and so is the source address the backend sees,
// except where a row of KNOWN_DIFFERENCES applies: there the difference must show, as the row says.
// Addresses named twice in a slice are part of the cases: both designs keep the entry v1.35 keeps.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { openEmulated } from "../src/datapath/emulated.js";
import { KNOWN_DIFFERENCES, maplbClass, packetFacts } from "../src/datapath/kube-proxy-diff.js";
import { tracePacket } from "../src/datapath/trace.js";
import { ipv4Trace, type Ipv4Trace } from "./helpers/ipv4-trace.js";
import type { KubeProxyPacket } from "../src/kubeproxy/verdict.js";
import { collapseEndpoints } from "../src/model/build.js";
import { endpointsOnNode } from "../src/model/endpoints.js";
import type { Endpoint, ServiceModel } from "../src/model/types.js";
import { models, NODE, packets, serviceCIDRs } from "./helpers/kube-proxy-cases.js";
import { endpoint, servicePort } from "./helpers/model-factory.js";

const row = (id: string) => KNOWN_DIFFERENCES.find((k) => k.id === id)!;

/** One port's slice entries in manifest order, as buildModel collapses them. */
function slicePort(entries: Endpoint[]) {
  const { endpoints, duplicates } = collapseEndpoints(entries);
  return { endpoints, duplicateEndpoints: duplicates };
}

function traceOf(model: ServiceModel, cidrs: string[], pkt: KubeProxyPacket): Ipv4Trace {
  const dp = openEmulated();
  try {
    const proto = pkt.proto === "UDP" ? "UDP" : "TCP";
    return ipv4Trace(tracePacket(dp, { model, node: NODE, ...pkt, proto, serviceCIDRs: cidrs }));
  } finally {
    dp.close();
  }
}

/** Asserts one case; returns the ids of the known differences it showed. */
function check(model: ServiceModel, cidrs: string[], pkt: KubeProxyPacket): string[] {
  const t = traceOf(model, cidrs, pkt);
  const facts = packetFacts(model, NODE, pkt, t.backend, cidrs);
  const shown: string[] = [];
  for (const kp of [t.iptables, t.nftables]) {
    const where = `${kp.mode}: ${JSON.stringify(pkt)}`;
    if (facts.fromNode) {
      // Row "from-node": kube-proxy meets this connection in its OUTPUT hook, never where maplb's
      // packet datapath sits (PREROUTING); any difference is labelled with the row (checked below).
      const hooks = new Set(kp.path.map((s) => s.hook.toLowerCase()));
      assert.deepEqual(
        [...hooks].filter((h) => h !== "output" && h !== "postrouting"),
        [],
        where,
      );
      continue;
    }
    const verdictRow = KNOWN_DIFFERENCES.find((k) => k.aspect === "verdict" && k.applies(facts, kp.mode));
    if (verdictRow) {
      assert.deepEqual([maplbClass(t), kp.verdict], [verdictRow.maplb, verdictRow.kubeProxy], where);
      shown.push(verdictRow.id);
      continue;
    }
    assert.equal(kp.verdict, maplbClass(t), `${where}: maplb ${t.verdict} (${t.reason})`);
    if (kp.verdict !== "DNAT") continue;
    const same = kp.candidates.find((c) => c.backend === t.backend);
    assert.ok(same, `${where}: maplb's ${t.backend} is among ${JSON.stringify(kp.candidates)}`);
    const keeps = row("local-backend-keeps-source").applies(facts, kp.mode);
    assert.equal(
      same.masquerade,
      t.snat!.to !== null || keeps,
      `${where}: the source (maplb ${t.snat!.why})`,
    );
    if (keeps) shown.push("local-backend-keeps-source");
  }
  // The trace names the same differences, each labelled with its row.
  for (const d of t.differences) assert.notEqual(d.known, null, `unexplained: ${d.text}`);
  if (!facts.fromNode) assert.deepEqual(t.differences.map((d) => d.known).sort(), [...shown].sort());
  else shown.push(...t.differences.map((d) => d.known!));
  return shown;
}

/** The packet meets a port where a later entry for an address (on this node) replaced the first one,
 * with other conditions: kube-proxy's v1.35 rule, not "the first entry", decides what is served. */
function laterLocalEntryWins(model: ServiceModel, pkt: KubeProxyPacket): boolean {
  const p = model.ports.find((x) => x.clusterIP === pkt.dst || x.externalIPs.includes(pkt.dst));
  if (!p?.duplicateEndpoints) return false;
  const kept = endpointsOnNode(p, NODE.nodeName);
  return p.duplicateEndpoints.some((e, i, all) => {
    const first = all.find((x) => x.ip === e.ip)!;
    return first !== e && kept.includes(e) && (first.ready !== e.ready || first.serving !== e.serving);
  });
}

test("maplb's verdict is kube-proxy's, in iptables and nftables mode, but for the listed design differences", () => {
  const seen = new Set<string>();
  let duplicatesDecided = 0;
  fc.assert(
    fc.property(
      models.chain((model) => fc.tuple(fc.constant(model), serviceCIDRs, packets(model))),
      ([model, cidrs, pkt]) => {
        for (const id of check(model, cidrs, pkt)) seen.add(id);
        if (laterLocalEntryWins(model, pkt) && !packetFacts(model, NODE, pkt, null).fromNode)
          duplicatesDecided++;
      },
    ),
    { seed: 20261203, numRuns: 300 },
  );
  // Every row of the table is exercised by these cases: none is dead, none is skipped.
  assert.deepEqual([...seen].sort(), KNOWN_DIFFERENCES.map((k) => k.id).sort());
  // And so is v1.35's duplicate rule where it matters (checked above like every other case).
  assert.ok(duplicatesDecided > 0, "no case had a later local entry for an address win over the first");
});

test("one address twice (ready on node-c, then not ready on this node): both designs keep the local entry", () => {
  const entries = [
    endpoint("10.0.0.7", { nodeName: "node-c" }),
    endpoint("10.0.0.7", { nodeName: NODE.nodeName, ready: false, serving: false }),
  ];
  const model = { ports: [servicePort({ clusterIP: "10.96.0.1", ...slicePort(entries) })] };
  const pkt: KubeProxyPacket = { src: "10.0.3.3", sport: 40000, dst: "10.96.0.1", dport: 80, proto: "TCP" };
  // On this node the endpoint is not ready: no endpoints, so maplb drops where kube-proxy rejects.
  const here = traceOf(model, [], pkt);
  assert.deepEqual(
    [maplbClass(here), here.iptables.verdict, here.nftables.verdict],
    ["DROP", "REJECT", "REJECT"],
  );
  assert.deepEqual(
    here.differences.map((d) => d.known),
    ["no-icmp", "no-icmp"],
  );
  // On another node neither entry is local: the first (ready) one is served by both.
  const elsewhere = { ...NODE, nodeName: "node-b" };
  const dp = openEmulated();
  try {
    const there = ipv4Trace(tracePacket(dp, { model, node: elsewhere, ...pkt, proto: "TCP" }));
    assert.deepEqual(
      [maplbClass(there), there.backend, there.iptables.backend, there.nftables.backend],
      ["DNAT", "10.0.0.7:8080", "10.0.0.7:8080", "10.0.0.7:8080"],
    );
    assert.deepEqual(there.differences, []);
  } finally {
    dp.close();
  }
});

test("--service-cidr: kube-proxy (nftables) drops an unallocated ClusterIP, maplb passes it, as the row says", () => {
  const model = { ports: [servicePort({ clusterIP: "10.96.0.1", endpoints: [endpoint("10.0.0.7")] })] };
  const pkt: KubeProxyPacket = { src: "10.0.3.3", sport: 40000, dst: "10.96.0.200", dport: 80, proto: "TCP" };
  const inRange = traceOf(model, ["10.96.0.0/24"], pkt);
  assert.deepEqual(
    [maplbClass(inRange), inRange.iptables.verdict, inRange.nftables.verdict],
    ["PASS", "PASS", "DROP"],
  );
  assert.equal(
    inRange.nftables.path.at(-1)!.text,
    'ip daddr { 10.96.0.0/24 } drop comment "Drop traffic to unallocated ClusterIPs"',
  );
  assert.deepEqual(
    inRange.differences.map((d) => [d.mode, d.known]),
    [["nftables", "unallocated-cluster-ip"]],
  );
  // Without the flag, or outside the range, kube-proxy has no rule for it either.
  assert.equal(traceOf(model, [], pkt).nftables.verdict, "PASS");
  assert.equal(traceOf(model, ["10.97.0.0/16"], pkt).nftables.verdict, "PASS");
});
