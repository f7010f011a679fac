// Differential property test: for random Services, EndpointSlices, policies and packets, maplb's
// datapath verdict (the host build: no root needed) against kube-proxy's in both of its modes, walked
// over the rules `maplb iptables` and `maplb nft` write. The verdict classes are equal (DNAT to a
// backend kube-proxy could pick, DROP, REJECT, PASS), and so is the source address the backend sees,
// except where a row of KNOWN_DIFFERENCES applies: there the difference must show, as the row says.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { openEmulated } from "../src/datapath/emulated.js";
import { KNOWN_DIFFERENCES, maplbClass, packetFacts } from "../src/datapath/kube-proxy-diff.js";
import { tracePacket, type Trace } from "../src/datapath/trace.js";
import type { KubeProxyPacket } from "../src/kubeproxy/verdict.js";
import type { ServiceModel } from "../src/model/types.js";
import { models, NODE, packets } from "./helpers/kube-proxy-cases.js";

const row = (id: string) => KNOWN_DIFFERENCES.find((k) => k.id === id)!;

function traceOf(model: ServiceModel, pkt: KubeProxyPacket): Trace {
  const dp = openEmulated();
  try {
    return tracePacket(dp, { model, node: NODE, ...pkt, proto: pkt.proto === "UDP" ? "UDP" : "TCP" });
  } finally {
    dp.close();
  }
}

/** Asserts one case; returns the ids of the known differences it showed. */
function check(model: ServiceModel, pkt: KubeProxyPacket): string[] {
  const t = traceOf(model, pkt);
  const facts = packetFacts(model, NODE, pkt, t.backend);
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

test("maplb's verdict is kube-proxy's, in iptables and nftables mode, but for the listed design differences", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(
      models.chain((model) => fc.tuple(fc.constant(model), packets(model))),
      ([model, pkt]) => {
        for (const id of check(model, pkt)) seen.add(id);
      },
    ),
    { seed: 20261203, numRuns: 300 },
  );
  // Every row of the table is exercised by these cases: none is dead, none is skipped.
  assert.deepEqual([...seen].sort(), KNOWN_DIFFERENCES.map((k) => k.id).sort());
});
