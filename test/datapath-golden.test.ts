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
import { buildFrame, checksumsValid, ETH_HLEN, parseFrame, type FrameSpec } from "../src/datapath/packet.js";
import { TARGETS } from "./helpers/datapath-targets.js";

// ---- SETUP helpers -------------------------------------------------------------------------------

const SEED = 0x5eed;
const NODE: NodeSettings = { nodeIPs: ["192.168.1.11"], clusterCIDR: "10.0.0.0/16", hashSeed: SEED };

const fe = (
  address: string,
  port: number,
  protocol: "TCP" | "UDP" = "TCP",
  scope: Scope = Scope.EXT,
): FrontendKey => ({
  address,
  port,
  protocol,
  scope,
});

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
    name: "bad packets are dropped with their reason (IPv4) or passed (not ours), never rewritten",
    setup: clusterIp(),
    steps: () => {
      const to = tcp(CLIENT, 40000, "10.96.0.10", 80);
      const arp = mutate(to, { 12: 0x08, 13: 0x06 });
      return [
        { pkt: arp, verdict: "PASS", reason: "NOT_IPV4" },
        { pkt: mutate(to, { [IP + 9]: 1 }), verdict: "PASS", reason: "NOT_TCP_UDP" }, // ICMP
        dropStep(mutate(to, {}, IP + 19), "TRUNC_IP"),
        dropStep(mutate(to, { [IP]: 0x65 }), "BAD_IP_VERSION"),
        dropStep(mutate(to, { [IP]: 0x44 }), "BAD_IHL"),
        dropStep(mutate(to, { [IP]: 0x46 }), "IP_OPTIONS"),
        dropStep(mutate(to, { [IP + 6]: 0x20 }), "FRAGMENT"), // MF
        dropStep(mutate(to, { [IP + 6]: 0x00, [IP + 7]: 0x10 }), "FRAGMENT"), // offset 16
        dropStep(mutate(to, { [IP + 3]: 41 }), "BAD_TOTAL_LEN"), // one byte past the buffer
        dropStep(mutate(to, { [IP + 3]: 19 }), "BAD_TOTAL_LEN"), // shorter than the header
        dropStep(mutate(to, { [IP + 3]: 39 }), "TRUNC_L4"), // TCP header cut by the length
        dropStep(mutate(udp(CLIENT, 1, "10.96.0.10", 80), { [IP + 3]: 27 }), "TRUNC_L4"), // UDP: 7 of 8 bytes
        // A buffer cut inside the L4 header always disagrees with a total length that covers it.
        dropStep(mutate(to, {}, IP + 20 + 19), "BAD_TOTAL_LEN"),
      ];
    },
    check: (dp) => {
      const s = dp.stats();
      assert.equal(s.verdicts.DROP, 11n);
      assert.equal(s.verdicts.PASS, 2n);
      assert.equal(s.reasons.FRAGMENT, 2n);
      assert.equal(s.verdicts.DNAT, 0n);
    },
  },
  {
    name: "a frame shorter than an Ethernet header is dropped",
    setup: clusterIp(),
    steps: [dropStep(new Uint8Array(13), "TRUNC_ETH"), dropStep(new Uint8Array(0), "TRUNC_ETH")],
    emulatedOnly: "BPF_PROG_TEST_RUN refuses frames shorter than 14 bytes",
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
            if (step.out && step.verdict !== "DROP") {
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
