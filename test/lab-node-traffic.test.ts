// The datapath as a node sees traffic, not as a clean veth lab carries it: checksum offload off on every
// veth (every sender computes checksums in software, every receiver verifies them) with segmentation
// offload on, a 1400-byte hop in front of node-b's pods that only path MTU discovery finds, datagrams
// larger than the MTU (fragments), packets with IP options and protocols no Service carries, hairpin,
// and an external client entering by a node without the backend.
//
// Each case runs under maplb (TC and XDP) and under kube-proxy's rules (iptables and nftables) on the
// same namespaces, and must have the same outcome under all four. kube-proxy's outcome is the
// reference: a case that fails under it is a broken test or lab, not a finding.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { AttachMode } from "../src/cli/commands/attach.js";
import { findClient } from "../src/lab/client.js";
import { checksumErrorsSince, labChecksumErrors } from "../src/lab/counters.js";
import { labDown, labTune, labUp, labVeths } from "../src/lab/lab.js";
import { sendRaw, type RawKind } from "../src/lab/packets.js";
import type { ProbeResult } from "../src/lab/probe.js";
import { nodeNs, podIfname, podNs } from "../src/lab/network.js";
import { labPrefix, type LabProxy, type LabState } from "../src/lab/state.js";
import {
  flushRouteCache,
  maplbReasons,
  nodeTrafficToolBlocker,
  reasonsSince,
  writeNodeTrafficScenario,
} from "./helpers/lab-node-traffic.js";
import { backendIps, byBackend, downOnExit, labBlocker, probe, type ProbeSpec } from "./helpers/lab-run.js";

const POD_MTU = 1400;
const BULK_BYTES = 32 << 20;
/** Far more than a transfer takes on a busy machine (about 1 s alone); a broken path never completes. */
const TRANSFER_TIMEOUT_MS = 10_000;
const UPLOAD_BYTES = 8 << 20;
/** Larger than any MTU in the lab: three fragments each way. */
const DATAGRAM = 4000;
const CASE_TIMEOUT_MS = 90_000;

const RUNS: { proxy: LabProxy; attach?: AttachMode; tag: string }[] = [
  { proxy: "maplb", attach: "tc", tag: "nt" },
  { proxy: "maplb", attach: "xdp", tag: "nx" },
  { proxy: "iptables", tag: "ni" },
  { proxy: "nftables", tag: "nn" },
];

/** What a batch of probes came to: how many answered whole, and the first failure for the message. */
function tally(results: readonly ProbeResult[]): { ok: number; failed: number } {
  return { ok: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length };
}
const firstFailure = (results: readonly ProbeResult[]) => JSON.stringify(results.find((r) => !r.ok) ?? null);

for (const run of RUNS) {
  const title = `node traffic, --proxy ${run.proxy}${run.attach ? ` --attach ${run.attach}` : ""}`;
  const skip = labBlocker(run.proxy) ?? nodeTrafficToolBlocker();
  describe(title, { skip: skip ?? false }, () => {
    const labName = `${run.tag}${process.pid.toString(36)}`;
    let state: LabState;

    before(async () => {
      downOnExit(labName);
      state = await labUp({
        name: labName,
        scenario: writeNodeTrafficScenario(),
        proxy: run.proxy,
        attach: run.attach,
        links: { checksum: "off", gso: "on", podMtu: { mtu: POD_MTU, node: "node-b" } },
      });
    });
    after(() => {
      labDown({ name: labName });
    });

    /**
     * Runs `body`, then checks that no namespace counted a checksum error meanwhile; a failed
     * assertion says which drops maplb counted on the nodes.
     */
    async function traffic(body: () => Promise<void>): Promise<void> {
      const csumBefore = labChecksumErrors(state);
      const reasons = maplbReasons(state);
      try {
        await body();
      } catch (err) {
        if (!(err instanceof assert.AssertionError)) throw err;
        // The same failure, saying also which receivers counted checksum errors and what maplb counted.
        const { actual, expected, operator } = err;
        const csum = checksumErrorsSince(csumBefore, labChecksumErrors(state));
        throw new assert.AssertionError({
          // The first line only: the new error appends the actual/expected diff again itself.
          message:
            (err.generatedMessage ? "unexpected outcome" : err.message.split("\n")[0]!) +
            (csum.length ? `; checksum errors: ${csum.join(", ")}` : "") +
            reasonsSince(state, reasons),
          actual,
          expected,
          operator,
        });
      }
      assert.deepEqual(
        checksumErrorsSince(csumBefore, labChecksumErrors(state)),
        [],
        `checksum errors counted by receivers${reasonsSince(state, reasons)}`,
      );
    }

    it("the veths: checksum offload off on every end, GSO on (no GSO next to XDP: the kernel's rule), 1400 on node-b's pod veths", () => {
      const veths = labVeths(state);
      assert.ok(veths.length > 20, `${veths.length} veth ends`);
      const prefix = labPrefix(state.name);
      const nodeB = state.plan.nodes.find((n) => n.name === "node-b")!;
      const narrow = new Set(
        state.plan.pods
          .filter((p) => p.node === nodeB.name)
          .flatMap((p) => [`${nodeNs(prefix, nodeB)} ${podIfname(p)}`, `${podNs(prefix, p)} eth0`]),
      );
      assert.equal(narrow.size, 2 * 4, "node-b runs many-3, far-1, udp-echo-2 and client-2");
      for (const { end, features } of veths) {
        const where = `${end.ns} ${end.ifname}`;
        assert.equal(features.txChecksum, false, `${where}: tx checksum offload`);
        assert.equal(features.rxChecksum, false, `${where}: rx checksum offload`);
        if (run.attach !== "xdp") assert.equal(features.gso, true, `${where}: GSO`);
        assert.equal(features.mtu, narrow.has(where) ? POD_MTU : 1500, `${where}: MTU`);
      }
    });

    /**
     * One transfer through ClusterIP (from a pod on node-a) and one through node-a's NodePort (from
     * outside), both to far-1 on node-b, side by side; each must arrive whole.
     */
    async function transfers(direction: "bulk" | "upload", bytes: number): Promise<void> {
      const specs: ProbeSpec[] = [
        { from: "client-1", target: "default/far", frontend: "cluster-ip" },
        { from: "ext-1", target: "default/far", frontend: "node-port" },
      ];
      const all = await Promise.all(
        specs.map((spec) => probe(state, spec, 1, TRANSFER_TIMEOUT_MS, { transfer: { direction, bytes } })),
      );
      specs.forEach((spec, i) => {
        const results = all[i]!;
        const what = `${direction} via ${spec.frontend} from ${spec.from}: ${firstFailure(results)}`;
        assert.deepEqual(tally(results), { ok: 1, failed: 0 }, what);
        assert.equal(results[0]!.bytes, bytes, what);
      });
    }
    const bulkBothWays = () => transfers("bulk", BULK_BYTES);

    it(
      `bulk: ${BULK_BYTES >> 20} MB through ClusterIP and NodePort, byte for byte, no checksum errors`,
      { timeout: CASE_TIMEOUT_MS },
      () => traffic(bulkBothWays),
    );

    // Not under XDP: the lab attaches XDP to the pods' veths, where the program is handed the sender's
    // CHECKSUM_PARTIAL packet and cannot tell its seed from a checksum (XDP has no skb). A physical
    // NIC, the only place a node attaches XDP, never hands it such a packet; TC is where it matters.
    if (run.attach !== "xdp")
      it(
        "bulk again with pods sending CHECKSUM_PARTIAL and the nodes completing it, as a NIC would (--checksum partial)",
        { timeout: CASE_TIMEOUT_MS },
        async () => {
          state = labTune({ name: labName, checksum: "partial" });
          try {
            await traffic(bulkBothWays);
          } finally {
            state = labTune({ name: labName, checksum: "off" });
          }
        },
      );

    it(
      `UDP larger than the MTU (${DATAGRAM} bytes): to a Service's ClusterIP and NodePort and to a pod, answered whole`,
      { timeout: CASE_TIMEOUT_MS },
      () =>
        traffic(async () => {
          const echo2 = state.plan.pods.find((p) => p.name === "udp-echo-2")!;
          const specs: ProbeSpec[] = [
            { from: "client-1", target: "default/udp-echo", frontend: "cluster-ip" },
            { from: "ext-1", target: "default/udp-echo", frontend: "node-port" },
            { from: "client-1", target: `${echo2.ip}:7/udp` },
            { from: "ext-1", target: `${echo2.ip}:7/udp` },
          ];
          // Every path's outcome in one table, so a failure shows them all.
          const outcome: Record<string, string> = {};
          const failures: string[] = [];
          for (const spec of specs) {
            const results = await probe(state, spec, 10, 2000, { size: DATAGRAM });
            const what = `${spec.frontend ?? "pod"} ${spec.target} from ${spec.from}`;
            outcome[what] = `${tally(results).ok}/10 answered whole`;
            if (tally(results).failed) failures.push(`${what}: ${firstFailure(results)}`);
          }
          const expected = Object.fromEntries(Object.keys(outcome).map((k) => [k, "10/10 answered whole"]));
          assert.deepEqual(outcome, expected, failures.join("; "));
        }),
    );

    it(
      "packets to pods pass untouched: IGMP with Router Alert, ICMP echo, TCP and UDP with Record Route",
      { timeout: CASE_TIMEOUT_MS },
      () =>
        traffic(async () => {
          const cases: [RawKind, string, number?][] = [
            ["igmp", "far-1"],
            ["icmp-echo", "far-1"],
            ["tcp-options", "far-1", 8080],
            ["udp-options", "udp-echo-2", 7],
          ];
          const outcome: Record<string, string> = {};
          const expected: Record<string, string> = {};
          for (const from of ["client-1", "ext-1"])
            for (const [kind, to, port] of cases) {
              const r = await sendRaw(findClient(state, from), findClient(state, to), kind, {
                count: 3,
                port,
              });
              const what = `${kind} from ${from} to ${to}`;
              // TCP: every packet of a connection carries the option, so more than one per connection arrives.
              const arrived = kind === "tcp-options" ? r.arrived >= r.sent : r.arrived === r.sent;
              outcome[what] =
                (arrived ? "arrived" : `${r.arrived} of ${r.sent} arrived`) +
                (r.answered === null
                  ? ""
                  : r.answered === r.sent
                    ? ", answered"
                    : `, ${r.answered} answered`);
              expected[what] = kind === "igmp" ? "arrived" : "arrived, answered";
            }
          assert.deepEqual(outcome, expected);
        }),
    );

    it(
      `path MTU discovery through the Service: ${UPLOAD_BYTES >> 20} MB uploads to a backend behind a ${POD_MTU}-byte hop`,
      { timeout: CASE_TIMEOUT_MS },
      () =>
        traffic(async () => {
          // A path MTU learnt by an earlier case would hide the question.
          for (const client of ["client-1", "ext-1"]) flushRouteCache(state, client);
          await transfers("upload", UPLOAD_BYTES);
        }),
    );

    it(
      "hairpin: a pod reaches itself through its one-pod Service, and every backend (itself too) through a many-pod Service",
      { timeout: CASE_TIMEOUT_MS },
      () =>
        traffic(async () => {
          const solo = await probe(state, { from: "solo-1", target: "default/solo" }, 10, 1500);
          const many = await probe(state, { from: "many-1", target: "default/many" }, 40, 1500);
          assert.deepEqual(
            {
              "solo-1 → solo": { ...tally(solo), backends: [...byBackend(solo).keys()].sort() },
              "many-1 → many": { ...tally(many), backends: [...byBackend(many).keys()].sort() },
            },
            {
              "solo-1 → solo": { ok: 10, failed: 0, backends: backendIps(state, "default/solo") },
              "many-1 → many": { ok: 40, failed: 0, backends: backendIps(state, "default/many") },
            },
            `first failures: ${firstFailure(solo)}, ${firstFailure(many)}`,
          );
        }),
    );

    it(
      "an external client to the NodePort of the node without the backend",
      { timeout: CASE_TIMEOUT_MS },
      () =>
        traffic(async () => {
          const spec: ProbeSpec = {
            from: "ext-1",
            target: "default/solo",
            frontend: "node-port",
            node: "node-b",
          };
          const results = await probe(state, spec, 20, 1500);
          assert.deepEqual(
            tally(results),
            { ok: 20, failed: 0 },
            `ext-1 → node-b's NodePort: ${firstFailure(results)}`,
          );
          assert.deepEqual([...byBackend(results).keys()], backendIps(state, "default/solo"));
        }),
    );
  });
}
