// Golden packets, in the shape of Cilium's BPF unit tests: each case has a PKTGEN (the frame), a
// SETUP (MapOps and node settings) and a CHECK (verdict, reason, and the exact bytes that come out).
// Every case runs through both targets: the emulated build always, the kernel one through
// BPF_PROG_TEST_RUN when running as root on a BPF-capable kernel.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Algorithm,
  BackendFlag,
  Scope,
  SvcFlag,
  type BackendEntry,
  type FrontendKey,
  type MapOp,
} from "../src/compile/tables.js";
import type { Datapath, NodeSettings, PacketResult } from "../src/datapath/datapath.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { flowHash, maglevRow, randomSlot } from "../src/datapath/flow-hash.js";
import {
  buildFrame,
  buildIcmpError,
  checksumsValid,
  ETH_HLEN,
  fragment,
  IcmpType,
  parseFrame,
  TcpFlag,
  withPartialChecksum,
  type FrameSpec,
} from "../src/datapath/packet.js";
import { fe, TARGETS } from "./helpers/datapath-targets.js";

// ---- SETUP helpers -------------------------------------------------------------------------------

const SEED = 0x5eed;
const NODE_IP = "192.168.1.11";
const NODE: NodeSettings = { nodeIPs: [NODE_IP], clusterCIDR: "10.0.0.0/16", hashSeed: SEED };

const backend = (
  id: number,
  address: string,
  port = 8080,
  flags = 0,
  protocol: "TCP" | "UDP" = "TCP",
): BackendEntry => ({
  id,
  address,
  port,
  protocol,
  flags,
});

interface ServiceSpec {
  key: FrontendKey;
  backends: BackendEntry[];
  revNatId: number;
  /** The rev-NAT entry's address; the frontend's by default (0.0.0.0 for a wildcard NodePort). */
  revNatAddress?: string;
  flags?: number;
  algorithm?: "random" | "maglev";
  affinityTimeout?: number;
  /** Maglev: the table's backend ids (M = rows.length) at this offset. */
  maglev?: { offset: number; rows: number[] };
  sourceRanges?: string[];
}

/** The ops of one frontend, in the hitless order: backends, slots, tables, rev-NAT, master last. */
function serviceOps(s: ServiceSpec): MapOp[] {
  const active = s.backends.filter((b) => !(b.flags & BackendFlag.TERMINATING));
  const ops: MapOp[] = s.backends.map((b) => ({ kind: "backend-upsert", backend: b }));
  active.forEach((b, i) =>
    ops.push({ kind: "slot-upsert", key: s.key, slot: i + 1, backendId: b.id, revNatId: s.revNatId }),
  );
  if (s.maglev)
    ops.push({ kind: "maglev-write", offset: s.maglev.offset, rows: Uint32Array.from(s.maglev.rows) });
  for (const cidr of s.sourceRanges ?? [])
    ops.push({ kind: "source-range-upsert", entry: { revNatId: s.revNatId, cidr } });
  ops.push({
    kind: "revnat-upsert",
    entry: { id: s.revNatId, address: s.revNatAddress ?? s.key.address, port: s.key.port },
  });
  ops.push({
    kind: "master-upsert",
    key: s.key,
    master: {
      count: active.length,
      revNatId: s.revNatId,
      flags: s.flags ?? 0,
      algorithm: Algorithm[s.algorithm ?? "random"],
      affinityTimeout: s.affinityTimeout ?? 0,
      maglevOffset: s.maglev?.offset ?? 0,
      maglevSize: s.maglev?.rows.length ?? 0,
    },
  });
  return ops;
}

const CLUSTER_IP = fe("10.96.0.10", 80);
const B1 = backend(1, "10.0.1.1");
const B2 = backend(2, "10.0.1.2");
const B3 = backend(3, "10.0.1.3");
const clusterIp = (backends = [B1]): MapOp[] => serviceOps({ key: CLUSTER_IP, backends, revNatId: 1 });

// ---- PKTGEN helpers ------------------------------------------------------------------------------

const CLIENT = "10.0.0.5";
const OUTSIDE = "192.0.2.1";
const tcp = (
  src: string,
  sport: number,
  dst: string,
  dport: number,
  extra: Partial<FrameSpec> = {},
): FrameSpec => ({
  src,
  dst,
  sport,
  dport,
  proto: "TCP",
  ...extra,
});
const udp = (
  src: string,
  sport: number,
  dst: string,
  dport: number,
  extra: Partial<FrameSpec> = {},
): FrameSpec => tcp(src, sport, dst, dport, { proto: "UDP", ...extra });

/** The same frame with one byte changed: how the malformed packets are made. */
function mutate(spec: FrameSpec, edits: Record<number, number>, length?: number): Uint8Array {
  const frame = buildFrame(spec);
  for (const [at, byte] of Object.entries(edits)) frame[Number(at)] = byte;
  return length === undefined ? frame : frame.slice(0, length);
}
const IP = ETH_HLEN;

// ---- the cases -----------------------------------------------------------------------------------

interface Step {
  pkt: Uint8Array;
  verdict: PacketResult["verdict"];
  reason: PacketResult["reason"];
  /** The expected output frame; the input, unchanged, when absent. */
  out?: Uint8Array;
  /** Runs just before the packet (a control-plane change between two packets). */
  before?: () => void;
}

interface GoldenCase {
  name: string;
  setup: MapOp[] | ((dp: Datapath) => void);
  steps: Step[] | ((dp: Datapath) => Step[]);
  /** Extra checks on the datapath afterwards (counters, maps). */
  check?: (dp: Datapath) => void;
  /** BPF_PROG_TEST_RUN cannot run it (frames shorter than an Ethernet header). */
  emulatedOnly?: string;
}

const dnatStep = (spec: FrameSpec, to: BackendEntry): Step => ({
  pkt: buildFrame(spec),
  verdict: "DNAT",
  reason: "OK",
  out: buildFrame({ ...spec, dst: to.address, dport: to.port }),
});

const passStep = (spec: FrameSpec): Step => ({
  pkt: buildFrame(spec),
  verdict: "PASS",
  reason: "NO_SERVICE",
});

const dropStep = (pkt: Uint8Array, reason: PacketResult["reason"]): Step => ({
  pkt,
  verdict: "DROP",
  reason,
});

/** The backend the hash picks for a flow among `backends` (random algorithm, slots in order). */
function randomPick(spec: FrameSpec, backends: BackendEntry[]): BackendEntry {
  const h = flowHash({ ...spec, proto: spec.proto }, SEED);
  return backends[randomSlot(h, backends.length) - 1]!;
}

/** A client port whose flow the random algorithm sends to `want`. */
function portFor(
  want: BackendEntry,
  backends: BackendEntry[],
  src: string,
  dst: FrontendKey,
  from = 40000,
): number {
  for (let port = from; port < 65536; port++) {
    if (randomPick(tcp(src, port, dst.address, dst.port), backends).id === want.id) return port;
  }
  throw new Error("no such port");
}

const CASES: GoldenCase[] = [
  {
    name: "ClusterIP: DNAT to the only backend, checksums updated incrementally",
    setup: clusterIp(),
    steps: [dnatStep(tcp(CLIENT, 40000, "10.96.0.10", 80), B1)],
    check: (dp) => {
      const s = dp.stats();
      assert.equal(s.verdicts.DNAT, 1n);
      assert.deepEqual(s.backends.get(1), { packets: 1n, bytes: 54n });
    },
  },
  {
    name: "not a service: a packet to another address or port passes untouched",
    setup: clusterIp(),
    steps: [passStep(tcp(CLIENT, 40000, "10.96.0.11", 80)), passStep(tcp(CLIENT, 40000, "10.96.0.10", 81))],
  },
  {
    name: "protocol is part of the frontend: UDP to a TCP service passes",
    setup: clusterIp(),
    steps: [passStep(udp(CLIENT, 40000, "10.96.0.10", 80))],
  },
  {
    name: "NodePort on a node address (exact frontend)",
    setup: serviceOps({
      key: fe("192.168.1.10", 30080),
      backends: [B1],
      revNatId: 2,
      flags: SvcFlag.NODEPORT,
    }),
    steps: [dnatStep(tcp(OUTSIDE, 5000, "192.168.1.10", 30080), B1)],
  },
  {
    name: "NodePort wildcard: matches only the node's own addresses",
    setup: serviceOps({ key: fe("0.0.0.0", 30080), backends: [B2], revNatId: 3, flags: SvcFlag.NODEPORT }),
    steps: [
      dnatStep(tcp(OUTSIDE, 5000, "192.168.1.11", 30080), B2),
      passStep(tcp(OUTSIDE, 5000, "192.168.1.99", 30080)),
    ],
  },
  {
    name: "LoadBalancer ingress IP",
    setup: serviceOps({ key: fe("203.0.113.10", 443), backends: [B3], revNatId: 4, flags: SvcFlag.EXTERNAL }),
    steps: [dnatStep(tcp(OUTSIDE, 5000, "203.0.113.10", 443), B3)],
  },
  {
    name: "no backends: dropped with NO_BACKEND and counted",
    setup: serviceOps({ key: CLUSTER_IP, backends: [], revNatId: 1 }),
    steps: [dropStep(buildFrame(tcp(CLIENT, 40000, "10.96.0.10", 80)), "NO_BACKEND")],
    check: (dp) => {
      assert.equal(dp.stats().reasons.NO_BACKEND, 1n);
      assert.equal(dp.stats().verdicts.DROP, 1n);
    },
  },
  {
    name: "loadBalancerSourceRanges: inside a range is balanced, outside is dropped",
    setup: serviceOps({
      key: fe("203.0.113.10", 443),
      backends: [B3],
      revNatId: 4,
      flags: SvcFlag.EXTERNAL | SvcFlag.SOURCE_RANGE,
      sourceRanges: ["198.51.100.0/24", "192.0.2.128/25"],
    }),
    steps: [
      dnatStep(tcp("198.51.100.7", 5000, "203.0.113.10", 443), B3),
      dnatStep(tcp("192.0.2.200", 5000, "203.0.113.10", 443), B3),
      dropStep(buildFrame(tcp("192.0.2.1", 5000, "203.0.113.10", 443)), "SOURCE_RANGE"),
    ],
  },
  {
    name: "Maglev: the backend is table[offset + hash % M]",
    setup: serviceOps({
      key: CLUSTER_IP,
      backends: [B1, B2, B3],
      revNatId: 1,
      algorithm: "maglev",
      maglev: { offset: 7, rows: [1, 2, 3, 1, 2, 3, 3] },
    }),
    steps: () =>
      [40000, 40001, 40002, 40003, 40004, 40005].map((sport) => {
        const spec = tcp(CLIENT, sport, "10.96.0.10", 80);
        const row = maglevRow(flowHash(spec, SEED), 7);
        const id = [1, 2, 3, 1, 2, 3, 3][row]!;
        return dnatStep(spec, [B1, B2, B3][id - 1]!);
      }),
  },
  {
    name: "random: the backend is slot hash % count + 1",
    setup: clusterIp([B1, B2, B3]),
    steps: () =>
      [40000, 40001, 40002, 40003, 40004, 40005].map((sport) => {
        const spec = tcp(CLIENT, sport, "10.96.0.10", 80);
        return dnatStep(spec, randomPick(spec, [B1, B2, B3]));
      }),
  },
  {
    name: "conntrack: a reply from the backend gets the frontend back as its source",
    setup: clusterIp(),
    steps: [
      dnatStep(tcp(CLIENT, 40000, "10.96.0.10", 80), B1),
      {
        pkt: buildFrame(tcp("10.0.1.1", 8080, CLIENT, 40000, { tcpFlags: 0x12 })),
        verdict: "REVNAT",
        reason: "OK",
        out: buildFrame(tcp("10.96.0.10", 80, CLIENT, 40000, { tcpFlags: 0x12 })),
      },
      // The backend talking to the client from another port is not a reply.
      passStep(tcp("10.0.1.1", 8081, CLIENT, 40000)),
    ],
  },
  {
    name: "wildcard NodePort reply: source becomes the node address the client used",
    setup: serviceOps({ key: fe("0.0.0.0", 30080), backends: [B2], revNatId: 3, revNatAddress: "0.0.0.0" }),
    steps: [
      dnatStep(tcp(OUTSIDE, 5000, "192.168.1.11", 30080), B2),
      {
        pkt: buildFrame(tcp("10.0.1.2", 8080, OUTSIDE, 5000)),
        verdict: "REVNAT",
        reason: "OK",
        out: buildFrame(tcp("192.168.1.11", 30080, OUTSIDE, 5000)),
      },
    ],
  },
  {
    name: "established flows keep their backend when the service changes; terminating backends drain",
    setup: clusterIp([B1, B2]),
    steps: (dp) => {
      const flowToB1 = tcp(CLIENT, portFor(B1, [B1, B2], CLIENT, CLUSTER_IP), "10.96.0.10", 80);
      // B1 starts terminating: the control plane drops it from the slots, keeps it in lb4_backends.
      return [
        dnatStep(flowToB1, B1),
        {
          ...dnatStep(flowToB1, B1),
          before: () =>
            dp.apply([
              { kind: "backend-upsert", backend: { ...B1, flags: BackendFlag.TERMINATING } },
              { kind: "slot-upsert", key: CLUSTER_IP, slot: 1, backendId: 2, revNatId: 1 },
              {
                kind: "master-upsert",
                key: CLUSTER_IP,
                master: {
                  count: 1,
                  revNatId: 1,
                  flags: 0,
                  algorithm: 1,
                  affinityTimeout: 0,
                  maglevOffset: 0,
                  maglevSize: 0,
                },
              },
              { kind: "slot-delete", key: CLUSTER_IP, slot: 2 },
            ]),
        },
        // Any new flow, even one the old table sent to B1, now goes to B2.
        dnatStep(
          tcp(CLIENT, portFor(B1, [B1, B2], CLIENT, CLUSTER_IP, flowToB1.sport + 1), "10.96.0.10", 80),
          B2,
        ),
      ];
    },
  },
  {
    name: "session affinity: a client's new flows stick to its first backend, never to a terminating one",
    setup: serviceOps({
      key: CLUSTER_IP,
      backends: [B1, B2],
      revNatId: 1,
      flags: SvcFlag.AFFINITY,
      affinityTimeout: 600,
    }),
    steps: (dp) => {
      const p1 = portFor(B1, [B1, B2], CLIENT, CLUSTER_IP);
      const p2 = portFor(B2, [B1, B2], CLIENT, CLUSTER_IP); // without affinity this flow would go to B2
      const other = portFor(B2, [B1, B2], "10.0.0.6", CLUSTER_IP);
      return [
        dnatStep(tcp(CLIENT, p1, "10.96.0.10", 80), B1),
        dnatStep(tcp(CLIENT, p2, "10.96.0.10", 80), B1),
        dnatStep(tcp("10.0.0.6", other, "10.96.0.10", 80), B2),
        {
          // B1 terminating: the client's affinity entry still names it, and must be ignored.
          ...dnatStep(tcp(CLIENT, 1, "10.96.0.10", 80), B2),
          before: () =>
            dp.apply(
              serviceOps({
                key: CLUSTER_IP,
                backends: [{ ...B1, flags: BackendFlag.TERMINATING }, B2],
                revNatId: 1,
                flags: SvcFlag.AFFINITY,
                affinityTimeout: 600,
              }).concat([{ kind: "slot-delete", key: CLUSTER_IP, slot: 2 }]),
            ),
        },
      ];
    },
  },
  {
    name: "Local traffic policy: cluster sources see every backend (INT), outside sources the local ones (EXT)",
    setup: (dp) => {
      dp.apply(
        serviceOps({ key: fe("203.0.113.10", 80), backends: [B1], revNatId: 5, flags: SvcFlag.TWO_SCOPES }),
      );
      dp.apply(serviceOps({ key: fe("203.0.113.10", 80, "TCP", Scope.INT), backends: [B2], revNatId: 5 }));
    },
    steps: [
      dnatStep(tcp(OUTSIDE, 5000, "203.0.113.10", 80), B1),
      dnatStep(tcp(CLIENT, 5000, "203.0.113.10", 80), B2),
    ],
  },
  {
    name: "UDP: a zero checksum stays zero, a real one is updated",
    setup: serviceOps({
      key: fe("10.96.0.53", 53, "UDP"),
      backends: [backend(9, "10.0.2.9", 5353, 0, "UDP")],
      revNatId: 6,
    }),
    steps: [
      dnatStep(
        udp(CLIENT, 3333, "10.96.0.53", 53, { noUdpChecksum: true }),
        backend(9, "10.0.2.9", 5353, 0, "UDP"),
      ),
      dnatStep(
        udp(CLIENT, 3334, "10.96.0.53", 53, { payload: Uint8Array.of(1, 2, 3) }),
        backend(9, "10.0.2.9", 5353, 0, "UDP"),
      ),
    ],
    check: (dp) => assert.equal(dp.stats().verdicts.DNAT, 2n),
  },
  {
    name: "a slot naming a backend that is not in lb4_backends: dropped with BACKEND_MISSING",
    setup: [
      { kind: "slot-upsert", key: CLUSTER_IP, slot: 1, backendId: 77, revNatId: 1 },
      {
        kind: "master-upsert",
        key: CLUSTER_IP,
        master: {
          count: 1,
          revNatId: 1,
          flags: 0,
          algorithm: 1,
          affinityTimeout: 0,
          maglevOffset: 0,
          maglevSize: 0,
        },
      },
    ],
    steps: [dropStep(buildFrame(tcp(CLIENT, 40000, "10.96.0.10", 80)), "BACKEND_MISSING")],
  },
  {
    name: "an established flow whose backend was deleted is balanced anew",
    setup: clusterIp([B1]),
    steps: (dp) => [
      dnatStep(tcp(CLIENT, 40000, "10.96.0.10", 80), B1),
      {
        ...dnatStep(tcp(CLIENT, 40000, "10.96.0.10", 80), B2),
        before: () =>
          dp.apply([
            { kind: "backend-upsert", backend: B2 },
            { kind: "slot-upsert", key: CLUSTER_IP, slot: 1, backendId: 2, revNatId: 1 },
            { kind: "backend-delete", id: 1 },
          ]),
      },
    ],
  },
  {
    name: "Ethernet padding: a frame longer than the IP total length is fine",
    setup: clusterIp(),
    steps: () => {
      const spec = tcp(CLIENT, 40000, "10.96.0.10", 80);
      const pad = (f: Uint8Array) => Uint8Array.from([...f, ...new Uint8Array(60 - f.length)]);
      const step = dnatStep(spec, B1);
      return [{ ...step, pkt: pad(step.pkt), out: pad(step.out!) }];
    },
  },
  {
    name: "bad packets to a frontend are dropped with their reason; to a pod, or unreadable, they pass; never rewritten",
    setup: clusterIp(),
    steps: () => {
      const steps: Step[] = [];
      // [frame edits, reason, verdict when sent to the frontend]: the same bytes sent to a pod pass.
      for (const dst of ["10.96.0.10", "10.0.9.9"]) {
        const to = tcp(CLIENT, 40000, dst, 80);
        const ours = (verdict: "DROP" | "PASS") => (dst === "10.96.0.10" ? verdict : "PASS");
        const bad = (pkt: Uint8Array, reason: PacketResult["reason"], verdict: "DROP" | "PASS") =>
          steps.push({ pkt, reason, verdict: ours(verdict) });
        bad(mutate(to, { 12: 0x08, 13: 0x06 }), "NOT_IP", "PASS"); // ARP
        bad(mutate(to, { [IP + 9]: 2 }), "NOT_TCP_UDP", "PASS"); // IGMP
        bad(mutate(to, {}, IP + 19), "TRUNC_IP", "PASS"); // no address to tell
        bad(mutate(to, { [IP]: 0x65 }), "BAD_IP_VERSION", "PASS");
        bad(mutate(to, { [IP]: 0x44 }), "BAD_IHL", "PASS"); // no place for the ports
        bad(mutate(to, { [IP]: 0x4f }), "IP_OPTIONS", "PASS"); // 60-byte header: ports past the buffer
        bad(mutate(to, { [IP + 6]: 0x00, [IP + 7]: 0x10 }), "FRAGMENT", "PASS"); // offset 16, untracked
        bad(mutate(to, { [IP + 3]: 41 }), "BAD_TOTAL_LEN", "DROP"); // one byte past the buffer
        bad(mutate(to, { [IP + 3]: 19 }), "BAD_TOTAL_LEN", "DROP"); // shorter than the header
        bad(mutate(to, { [IP + 3]: 39 }), "TRUNC_L4", "DROP"); // TCP header cut by the length
        // A buffer cut inside the L4 header always disagrees with a total length that covers it.
        bad(mutate(to, {}, IP + 20 + 19), "BAD_TOTAL_LEN", "DROP");
        bad(mutate(to, {}, IP + 20 + 3), "BAD_TOTAL_LEN", "PASS"); // the port itself cut: unknown
      }
      // UDP to the TCP frontend's port is not for the frontend: 7 of 8 header bytes pass.
      steps.push({
        pkt: mutate(udp(CLIENT, 1, "10.96.0.10", 80), { [IP + 3]: 27 }),
        verdict: "PASS",
        reason: "TRUNC_L4",
      });
      return steps;
    },
    check: (dp) => {
      const s = dp.stats();
      assert.equal(s.verdicts.DROP, 4n);
      assert.equal(s.verdicts.PASS, 21n);
      assert.equal(s.reasons.FRAGMENT, 2n);
      assert.equal(s.verdicts.DNAT, 0n);
    },
  },
  {
    name: "a frame shorter than an Ethernet header passes",
    setup: clusterIp(),
    steps: [
      { pkt: new Uint8Array(13), verdict: "PASS", reason: "TRUNC_ETH" },
      { pkt: new Uint8Array(0), verdict: "PASS", reason: "TRUNC_ETH" },
    ],
    emulatedOnly: "BPF_PROG_TEST_RUN refuses frames shorter than 14 bytes",
  },
  {
    name: "IP options: a frontend packet is balanced (its L4 header after IHL*4); a pod's and IGMP with Router Alert pass",
    setup: clusterIp(),
    steps: () => {
      const routerAlert = Uint8Array.of(0x94, 0x04, 0, 0); // RFC 2113
      const timestamp = Uint8Array.of(0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0); // 12 bytes of options
      const igmp = mutate(tcp(CLIENT, 0, "224.0.0.22", 0, { ipOptions: routerAlert }), { [IP + 9]: 2 });
      return [
        dnatStep(tcp(CLIENT, 40000, "10.96.0.10", 80, { ipOptions: routerAlert }), B1),
        dnatStep(tcp(CLIENT, 40001, "10.96.0.10", 80, { ipOptions: timestamp }), B1),
        passStep(tcp(CLIENT, 40000, "10.0.9.9", 80, { ipOptions: routerAlert })),
        { pkt: igmp, verdict: "PASS", reason: "NOT_TCP_UDP" },
      ];
    },
  },
  {
    name: "fragments: the first to a frontend is balanced and tracked, later ones follow it; untracked ones and a pod's pass",
    setup: clusterIp(),
    steps: () => {
      const payload = Uint8Array.from({ length: 60 }, (_, i) => i);
      const spec = tcp(CLIENT, 40000, "10.96.0.10", 80, { payload, ipId: 0x4242, tcpFlags: TcpFlag.ACK });
      const [first, later] = fragment(buildFrame(spec), 24);
      const [outFirst, outLater] = fragment(buildFrame({ ...spec, dst: B1.address, dport: B1.port }), 24);
      const pod = fragment(buildFrame({ ...spec, dst: "10.0.9.9" }), 24);
      const other = fragment(buildFrame({ ...spec, ipId: 0x4343 }), 24)[1];
      return [
        { pkt: first, verdict: "DNAT", reason: "OK", out: outFirst },
        { pkt: later, verdict: "DNAT", reason: "OK", out: outLater },
        { pkt: other, verdict: "PASS", reason: "FRAGMENT" }, // its first fragment never came
        { pkt: pod[0], verdict: "PASS", reason: "NO_SERVICE" },
        { pkt: pod[1], verdict: "PASS", reason: "FRAGMENT" },
      ];
    },
    check: (dp) => {
      const whole = [...dp.maps.entries("lb4_frags")];
      assert.equal(whole.length, 1, "only the frontend's datagram is tracked");
      assert.equal(dp.stats().reasons.FRAGMENT, 2n);
    },
  },
  {
    name: "ICMP errors about a tracked flow are translated, quote and checksums included, either way",
    setup: clusterIp(),
    steps: () => {
      const spec = tcp(CLIENT, 40000, "10.96.0.10", 80);
      const toBackend = buildFrame({ ...spec, dst: B1.address, dport: B1.port });
      const sent = buildFrame(spec);
      const router = "10.0.1.254";
      const error = (src: string, type: number, code: number, quoteBytes: number, rest = 0) => ({
        pkt: buildIcmpError({ src, dst: CLIENT, type, code, rest, offending: toBackend, quoteBytes }),
        out: buildIcmpError({
          src: src === B1.address ? "10.96.0.10" : src,
          dst: CLIENT,
          type,
          code,
          rest,
          offending: sent,
          quoteBytes,
        }),
        verdict: "REVNAT" as const,
        reason: "ICMP_ERROR" as const,
      });
      const stranger = buildFrame({ ...spec, sport: 40001, dst: B1.address, dport: B1.port });
      // The backend's answer, as it left the backend (false) or the load balancer (true).
      const answer = (revnatted: boolean) =>
        revnatted
          ? tcp("10.96.0.10", 80, CLIENT, 40000, { tcpFlags: TcpFlag.ACK, payload: new Uint8Array(32) })
          : tcp(B1.address, B1.port, CLIENT, 40000, { tcpFlags: TcpFlag.ACK, payload: new Uint8Array(32) });
      const toFrontend = {
        src: "192.0.2.254",
        dst: "10.96.0.10",
        type: 3,
        code: 4,
        rest: 1280,
        quoteBytes: 40,
      };
      return [
        dnatStep(spec, B1),
        error(router, IcmpType.DEST_UNREACH, 4, 28, 1400), // fragmentation needed, RFC 792's 8 bytes
        error(router, IcmpType.TIME_EXCEEDED, 0, 40), // the whole TCP header: its checksum too
        error(B1.address, IcmpType.DEST_UNREACH, 3, 40), // port unreachable, from the backend itself
        // The other way: a router on the client's side cannot forward the backend's (reverse-NATed)
        // answer and tells its source, the frontend; the error goes on to the backend, quote and all.
        {
          pkt: buildIcmpError({ ...toFrontend, offending: buildFrame(answer(true)) }),
          out: buildIcmpError({ ...toFrontend, dst: B1.address, offending: buildFrame(answer(false)) }),
          verdict: "DNAT",
          reason: "ICMP_ERROR",
        },
        {
          pkt: buildIcmpError({
            src: router,
            dst: CLIENT,
            type: 3,
            code: 4,
            offending: stranger,
            quoteBytes: 28,
          }),
          verdict: "PASS",
          reason: "NOT_TCP_UDP",
        },
        {
          // A later fragment of an ICMP message has no ICMP header, whatever its bytes look like.
          pkt: error(router, IcmpType.DEST_UNREACH, 4, 28, 1400).pkt.fill(1, IP + 7, IP + 8),
          verdict: "PASS",
          reason: "NOT_TCP_UDP",
        },
      ];
    },
    check: (dp) => assert.equal(dp.stats().reasons.ICMP_ERROR, 4n),
  },
  {
    name: "ICMP errors about a source-NATed flow: the client gets them about its own packet, the backend about the node's",
    setup: (dp) => {
      // A NodePort whose backend is on another node, from outside: SNAT to the node's only port.
      dp.configure({ ...NODE, snatIP: NODE_IP, snatPorts: { min: 62000, max: 62000 } });
      dp.apply(serviceOps({ key: fe(NODE_IP, 30080), backends: [B1], revNatId: 1, flags: SvcFlag.NODEPORT }));
    },
    steps: () => {
      const spec = tcp(OUTSIDE, 40000, NODE_IP, 30080);
      const sent = buildFrame(spec);
      const left = { ...spec, src: NODE_IP, sport: 62000, dst: B1.address, dport: B1.port }; // as it left
      const router = "10.0.1.254";
      // About the client's packet as it left (node:port -> backend), sent to the node: the client
      // gets it, quoting its own packet (client -> frontend); from the frontend if the backend sent it.
      const error = (src: string, quoteBytes: number): Step => {
        const icmp = { type: IcmpType.DEST_UNREACH, code: 4, rest: 1400, quoteBytes };
        return {
          pkt: buildIcmpError({ ...icmp, src, dst: NODE_IP, offending: buildFrame(left) }),
          out: buildIcmpError({
            ...icmp,
            src: src === B1.address ? NODE_IP : src,
            dst: OUTSIDE,
            offending: sent,
          }),
          verdict: "REVNAT",
          reason: "ICMP_ERROR",
        };
      };
      // About the backend's answer as reverse-NATed (frontend -> client), sent to the frontend: the
      // backend gets it, quoting its answer as it left the backend (backend -> node:port).
      const answer = tcp(NODE_IP, 30080, OUTSIDE, 40000, {
        tcpFlags: TcpFlag.ACK,
        payload: new Uint8Array(32),
      });
      const fromBackend = { ...answer, src: B1.address, sport: B1.port, dst: NODE_IP, dport: 62000 };
      const toFrontend = { src: "198.51.100.254", type: 3, code: 4, rest: 1280, quoteBytes: 40 };
      return [
        { ...dnatStep(spec, B1), out: buildFrame(left) },
        error(router, 28),
        error(B1.address, 40), // the whole TCP header: its checksum too
        {
          pkt: buildIcmpError({ ...toFrontend, dst: NODE_IP, offending: buildFrame(answer) }),
          out: buildIcmpError({ ...toFrontend, dst: B1.address, offending: buildFrame(fromBackend) }),
          verdict: "DNAT",
          reason: "ICMP_ERROR",
        },
      ];
    },
    check: (dp) => assert.equal(dp.stats().reasons.ICMP_ERROR, 3n),
  },
  {
    name: "TCP close: after FINs both ways a SYN on the same tuple is balanced anew; after an RST too",
    setup: clusterIp([B1]),
    steps: (dp) => {
      const to = (flags: number, sport = 40000) => tcp(CLIENT, sport, "10.96.0.10", 80, { tcpFlags: flags });
      const from = (flags: number, sport = 40000, b = B1) =>
        tcp(b.address, b.port, CLIENT, sport, { tcpFlags: flags });
      const revnat = (spec: FrameSpec): Step => ({
        pkt: buildFrame(spec),
        verdict: "REVNAT",
        reason: "OK",
        out: buildFrame({ ...spec, src: "10.96.0.10", sport: 80 }),
      });
      const moveTo = (b: BackendEntry) => () =>
        dp.apply([
          { kind: "backend-upsert", backend: b },
          { kind: "slot-upsert", key: CLUSTER_IP, slot: 1, backendId: b.id, revNatId: 1 },
        ]);
      return [
        dnatStep(to(TcpFlag.SYN), B1),
        { ...dnatStep(to(TcpFlag.ACK), B1), before: moveTo(B2) }, // established: keeps B1
        dnatStep(to(TcpFlag.FIN | TcpFlag.ACK), B1),
        revnat(from(TcpFlag.FIN | TcpFlag.ACK)),
        dnatStep(to(TcpFlag.ACK), B1), // closed, within the close timeout: the last ACK follows
        dnatStep(to(TcpFlag.SYN), B2), // a new connection on the closed tuple
        dnatStep(to(TcpFlag.SYN, 40001), B2),
        revnat(from(TcpFlag.RST, 40001, B2)),
        { ...dnatStep(to(TcpFlag.ACK, 40001), B2), before: moveTo(B3) }, // closed: still B2
        dnatStep(to(TcpFlag.SYN, 40001), B3),
      ];
    },
  },
];

// ---- the runner ----------------------------------------------------------------------------------

for (const target of TARGETS) {
  describe(`golden packets: ${target.name}`, () => {
    for (const c of CASES) {
      const skip = target.skip || (target.name === "kernel" && c.emulatedOnly) || false;
      test(c.name, { skip }, () => {
        const dp = target.open();
        try {
          dp.configure(NODE);
          if (typeof c.setup === "function") c.setup(dp);
          else dp.apply(c.setup);
          const steps = typeof c.steps === "function" ? c.steps(dp) : c.steps;
          steps.forEach((step, i) => {
            step.before?.();
            const frame = Uint8Array.from(step.pkt);
            const [result] = dp.process([frame]);
            assert.deepEqual(result, { verdict: step.verdict, reason: step.reason }, `step ${i + 1}`);
            assert.deepEqual(
              Buffer.from(frame).toString("hex"),
              Buffer.from(step.out ?? step.pkt).toString("hex"),
              `step ${i + 1} bytes`,
            );
            const isFragment = (frame[IP + 6]! & 0x3f) !== 0 || frame[IP + 7] !== 0; // checksum spans fragments
            if (step.out && step.verdict !== "DROP" && !isFragment) {
              assert.deepEqual(checksumsValid(frame), { ip: true, l4: true }, `step ${i + 1} checksums`);
            }
          });
          c.check?.(dp);
        } finally {
          dp.close();
        }
      });
    }
  });
}

test("session affinity expires after its timeout (emulated: the clock is set by the test)", () => {
  const dp = openEmulated();
  try {
    dp.configure(NODE);
    dp.apply(
      serviceOps({
        key: CLUSTER_IP,
        backends: [B1, B2],
        revNatId: 1,
        flags: SvcFlag.AFFINITY,
        affinityTimeout: 10,
      }),
    );
    const first = portFor(B1, [B1, B2], CLIENT, CLUSTER_IP);
    const toB2 = portFor(B2, [B1, B2], CLIENT, CLUSTER_IP);
    const run = (sport: number) => {
      const frame = buildFrame(tcp(CLIENT, sport, "10.96.0.10", 80));
      dp.process([frame]);
      return `${parseFrame(frame)!.dst}`;
    };
    dp.setClock(1_000_000_000_000n);
    assert.equal(run(first), "10.0.1.1");
    dp.setClock(1_009_000_000_000n); // 9 s later: still within 10 s
    assert.equal(run(toB2), "10.0.1.1");
    dp.setClock(1_020_000_000_000n); // 11 s after the last use: expired, the hash decides again
    assert.equal(run(toB2), "10.0.1.1", "an established flow keeps its backend regardless");
    assert.equal(run(portFor(B2, [B1, B2], CLIENT, CLUSTER_IP, toB2 + 1)), "10.0.1.2");
  } finally {
    dp.close();
  }
});

test("a closed flow's entries age out after the close timeout; an open flow's do not (emulated clock)", () => {
  const dp = openEmulated();
  try {
    dp.configure(NODE);
    dp.apply(clusterIp([B1]));
    const send = (flags: number, sport: number) => {
      const frame = buildFrame(tcp(CLIENT, sport, "10.96.0.10", 80, { tcpFlags: flags }));
      dp.process([frame]);
      return parseFrame(frame)!.dst;
    };
    const t0 = 1_000_000_000_000n;
    dp.setClock(t0);
    send(TcpFlag.SYN, 40000);
    send(TcpFlag.SYN, 40001);
    send(TcpFlag.RST, 40000); // closed at t0
    dp.apply([
      { kind: "backend-upsert", backend: B2 },
      { kind: "slot-upsert", key: CLUSTER_IP, slot: 1, backendId: 2, revNatId: 1 },
    ]);
    dp.setClock(t0 + 9_000_000_000n);
    assert.equal(send(TcpFlag.ACK, 40000), B1.address, "9 s after the close: still tracked");
    dp.setClock(t0 + 11_000_000_000n);
    assert.equal(send(TcpFlag.ACK, 40000), B2.address, "11 s after the close: gone, balanced anew");
    assert.equal(send(TcpFlag.ACK, 40001), B1.address, "an open flow keeps its backend");
  } finally {
    dp.close();
  }
});

test("CHECKSUM_PARTIAL frames (host model of TC): only the pseudo-header seed moves, as the kernel's helper does", () => {
  const dp = openEmulated();
  try {
    dp.configure(NODE);
    dp.apply([
      ...clusterIp([B1]),
      ...serviceOps({
        key: fe("10.96.0.11", 53, "UDP"),
        backends: [backend(5, "10.0.1.5", 5353, 0, "UDP")],
        revNatId: 2,
      }),
    ]);
    const payload = Uint8Array.from({ length: 33 }, (_, i) => i * 7);
    const cases: [FrameSpec, FrameSpec][] = [
      [
        tcp(CLIENT, 40000, "10.96.0.10", 80, { payload }),
        { ...tcp(CLIENT, 40000, B1.address, 8080, { payload }) },
      ],
      [
        udp(CLIENT, 40000, "10.96.0.11", 53, { payload }),
        { ...udp(CLIENT, 40000, "10.0.1.5", 5353, { payload }) },
      ],
    ];
    for (const [sent, expected] of cases) {
      const frame = withPartialChecksum(buildFrame(sent));
      const batch = {
        buffer: Uint8Array.from(frame),
        offsets: Uint32Array.of(0),
        lengths: Uint32Array.of(frame.length),
        csumPartial: Uint8Array.of(1),
      };
      const { verdicts } = dp.processBatch(batch);
      assert.equal(verdicts[0], 1, "DNAT");
      // The seed of the new addresses, computed from scratch: the ports are not in it.
      assert.deepEqual(
        Buffer.from(batch.buffer).toString("hex"),
        Buffer.from(withPartialChecksum(buildFrame(expected))).toString("hex"),
      );
      // The same frame handled as a finished checksum would corrupt the seed: the models differ.
      const asNone = Uint8Array.from(frame);
      dp.processBatch({ buffer: asNone, offsets: Uint32Array.of(0), lengths: Uint32Array.of(frame.length) });
      assert.notDeepEqual(asNone, batch.buffer);
    }
  } finally {
    dp.close();
  }
});

const kernel = TARGETS.find((t) => t.name === "kernel")!;
test(
  "the kernel target refuses CHECKSUM_PARTIAL frames (BPF_PROG_TEST_RUN's skb is CHECKSUM_NONE)",
  { skip: kernel.skip },
  () => {
    const dp = kernel.open();
    try {
      const frame = buildFrame(tcp(CLIENT, 40000, "10.96.0.10", 80));
      const batch = {
        buffer: frame,
        offsets: Uint32Array.of(0),
        lengths: Uint32Array.of(frame.length),
        csumPartial: Uint8Array.of(1),
      };
      assert.throws(() => dp.processBatch(batch), /EOPNOTSUPP/);
    } finally {
      dp.close();
    }
  },
);
