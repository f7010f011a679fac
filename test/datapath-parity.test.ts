// Differential parity: one corpus of generated frames, valid and malformed, through the host build
// and through the BPF program (BPF_PROG_TEST_RUN), in the same order over the same map state. Every
// verdict, reason and output byte must agree, and so must the counters at the end. SNAT is on, over
// a small port range, so hairpins, remote backends, their replies and port collisions all occur.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Algorithm,
  BackendFlag,
  Scope,
  SvcFlag,
  type FrontendKey,
  type MapOp,
} from "../src/compile/tables.js";
import { REASON_NAMES } from "../src/datapath/abi.js";
import type { Datapath, NodeSettings } from "../src/datapath/datapath.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { openKernel, probeKernel } from "../src/datapath/kernel.js";
import { packFrames } from "../src/datapath/native-datapath.js";
import { buildFrame, parseFrame } from "../src/datapath/packet.js";
import { intToIpv4 } from "../src/util/ip.js";

const PACKETS = 12_000;
const BATCH = 500;

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const SNAT_IP = "192.168.1.11";
const SNAT_PORTS = { min: 61000, max: 61063 };
const NODE: NodeSettings = {
  nodeIPs: [SNAT_IP, "192.168.1.12"],
  clusterCIDR: "10.0.0.0/16",
  hashSeed: 0xc0ffee,
  snatIP: SNAT_IP,
  snatPorts: SNAT_PORTS,
};
/** Backend i's address; those with i % 4 === 1 run on this node (flagged LOCAL). */
const backendAddress = (id: number) => `10.0.${id % 3}.${id}`;

interface Frontend {
  key: FrontendKey;
  revNatId: number;
  backendIds: number[];
  flags: number;
  algorithm: "random" | "maglev";
}

/** A map state with every kind of frontend: random and Maglev, NodePort wildcard, LB with source
 * ranges, affinity, two scopes, no backends, a terminating backend, a slot naming a missing backend,
 * and backends on this node and on others. */
function scenario(): { ops: MapOp[]; frontends: Frontend[] } {
  const ops: MapOp[] = [];
  for (let id = 1; id <= 12; id++) {
    ops.push({
      kind: "backend-upsert",
      backend: {
        id,
        address: backendAddress(id),
        port: 8000 + id,
        protocol: id % 2 ? "TCP" : "UDP",
        flags: (id === 12 ? BackendFlag.TERMINATING : 0) | (id % 4 === 1 ? BackendFlag.LOCAL : 0),
      },
    });
  }
  const M = 13;
  let maglevOffset = 0;
  const frontends: Frontend[] = [
    { key: fe("10.96.0.1", 80), revNatId: 1, backendIds: [1, 2, 3], flags: 0, algorithm: "random" },
    { key: fe("10.96.0.2", 443), revNatId: 2, backendIds: [4, 5, 6, 7], flags: 0, algorithm: "maglev" },
    { key: fe("10.96.0.3", 53, "UDP"), revNatId: 3, backendIds: [8, 9], flags: 0, algorithm: "random" },
    {
      key: fe("0.0.0.0", 30080),
      revNatId: 4,
      backendIds: [1, 4],
      flags: SvcFlag.NODEPORT,
      algorithm: "maglev",
    },
    {
      key: fe("203.0.113.1", 80),
      revNatId: 5,
      backendIds: [2, 3],
      flags: SvcFlag.EXTERNAL | SvcFlag.SOURCE_RANGE,
      algorithm: "random",
    },
    {
      key: fe("10.96.0.6", 80),
      revNatId: 6,
      backendIds: [5, 6, 7],
      flags: SvcFlag.AFFINITY,
      algorithm: "random",
    },
    {
      key: fe("203.0.113.2", 80), // externalTrafficPolicy=Local: no SNAT, though 2 is remote
      revNatId: 7,
      backendIds: [2],
      flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES,
      algorithm: "random",
    },
    {
      key: fe("203.0.113.2", 80, "TCP", Scope.INT),
      revNatId: 7,
      backendIds: [1, 2, 3],
      flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES,
      algorithm: "random",
    },
    { key: fe("10.96.0.9", 80), revNatId: 8, backendIds: [], flags: 0, algorithm: "random" },
    { key: fe("10.96.0.10", 80), revNatId: 9, backendIds: [10, 99], flags: 0, algorithm: "random" }, // 99: missing
  ];
  for (const f of frontends) {
    f.backendIds.forEach((backendId, i) =>
      ops.push({ kind: "slot-upsert", key: f.key, slot: i + 1, backendId, revNatId: f.revNatId }),
    );
    let offset = 0;
    if (f.algorithm === "maglev") {
      offset = maglevOffset;
      maglevOffset += M;
      const rows = Uint32Array.from({ length: M }, (_, i) => f.backendIds[i % f.backendIds.length]!);
      ops.push({ kind: "maglev-write", offset, rows });
    }
    ops.push({ kind: "revnat-upsert", entry: { id: f.revNatId, address: f.key.address, port: f.key.port } });
    ops.push({
      kind: "master-upsert",
      key: f.key,
      master: {
        count: f.backendIds.length,
        revNatId: f.revNatId,
        flags: f.flags,
        algorithm: Algorithm[f.algorithm],
        affinityTimeout: f.flags & SvcFlag.AFFINITY ? 600 : 0,
        maglevOffset: offset,
        maglevSize: f.algorithm === "maglev" ? M : 0,
      },
    });
  }
  ops.push({ kind: "source-range-upsert", entry: { revNatId: 5, cidr: "192.0.2.0/25" } });
  ops.push({ kind: "source-range-upsert", entry: { revNatId: 5, cidr: "10.0.0.0/16" } });
  return { ops, frontends };
}

function fe(
  address: string,
  port: number,
  protocol: "TCP" | "UDP" = "TCP",
  scope: Scope = Scope.EXT,
): FrontendKey {
  return { address, port, protocol, scope };
}

/** The corpus: frames to frontends (some from their own backends: hairpins), replies (some to the
 * SNAT address and ports), strangers, then a share of them damaged. */
function corpus(frontends: Frontend[], seed: number, count: number): Uint8Array[] {
  const r = prng(seed);
  const clients = ["10.0.0.5", "10.0.7.7", "192.0.2.9", "192.0.2.200", "198.51.100.1"];
  const frames: Uint8Array[] = [];
  const toFrontend = () => {
    const picked = r.pick(frontends);
    const f = picked.key;
    const dst = f.address === "0.0.0.0" ? r.pick([...NODE.nodeIPs, "192.168.1.99"]) : f.address;
    const hairpin = picked.backendIds.length > 0 && r.next() < 0.15;
    return buildFrame({
      src: hairpin ? backendAddress(r.pick(picked.backendIds)) : r.pick(clients),
      dst,
      sport: 1024 + r.int(200),
      dport: f.port,
      proto: r.next() < 0.9 ? (f.protocol as "TCP" | "UDP") : f.protocol === "TCP" ? "UDP" : "TCP",
      noUdpChecksum: r.next() < 0.3,
      payload: new Uint8Array(r.int(40)).map(() => r.int(256)),
    });
  };
  for (let i = 0; i < count; i++) {
    const kind = r.next();
    let frame: Uint8Array;
    if (kind < 0.45) {
      frame = toFrontend();
    } else if (kind < 0.6) {
      // A reply: from some backend address to a client, or to the node's SNAT address and ports
      // (sometimes one with a flow).
      const backendId = 1 + r.int(12);
      const snat = r.next() < 0.5;
      frame = buildFrame({
        src: backendAddress(backendId),
        dst: snat ? SNAT_IP : r.pick(clients),
        sport: 8000 + backendId,
        dport: snat ? SNAT_PORTS.min + r.int(SNAT_PORTS.max - SNAT_PORTS.min + 1) : 1024 + r.int(200),
        proto: backendId % 2 ? "TCP" : "UDP",
      });
    } else if (kind < 0.7) {
      frame = buildFrame({
        src: intToIpv4(r.int(2 ** 32)),
        dst: intToIpv4(r.int(2 ** 32)),
        sport: r.int(65536),
        dport: r.int(65536),
        proto: r.pick(["TCP", "UDP"] as const),
      });
    } else {
      frame = damage(toFrontend(), r);
    }
    frames.push(frame);
  }
  return frames;
}

/** Malformed frames: flipped header bytes, cuts, bad lengths, padding, or random bytes. */
function damage(frame: Uint8Array, r: ReturnType<typeof prng>): Uint8Array {
  const out = Uint8Array.from(frame);
  switch (r.int(5)) {
    case 0:
      for (let n = 1 + r.int(3); n > 0; n--) out[12 + r.int(30)] = r.int(256); // ethertype .. ports
      return out;
    case 1:
      return out.slice(0, 14 + r.int(out.length - 14));
    case 2:
      out[16] = r.int(2);
      out[17] = r.int(256); // total length
      return out;
    case 3:
      return Uint8Array.from([...out, ...new Uint8Array(r.int(30))]);
    default:
      return Uint8Array.from({ length: 14 + r.int(80) }, () => r.int(256));
  }
}

function run(dp: Datapath, frames: Uint8Array[]) {
  const verdicts: number[] = [];
  const reasons: number[] = [];
  const bytes: Uint8Array[] = [];
  for (let i = 0; i < frames.length; i += BATCH) {
    const batch = packFrames(frames.slice(i, i + BATCH));
    const res = dp.processBatch(batch);
    verdicts.push(...res.verdicts);
    reasons.push(...res.reasons);
    batch.offsets.forEach((off, j) => bytes.push(batch.buffer.slice(off, off + batch.lengths[j]!)));
  }
  return { verdicts, reasons, bytes };
}

const kernelProblem = probeKernel();

test(
  `parity: ${PACKETS} generated frames give the same verdicts, reasons, bytes and counters on both targets`,
  { skip: kernelProblem ? `needs root for BPF_PROG_TEST_RUN (${kernelProblem})` : false },
  () => {
    const { ops, frontends } = scenario();
    const frames = corpus(frontends, 42, PACKETS);
    const host = openEmulated();
    const kernel = openKernel({ ephemeral: true });
    try {
      for (const dp of [host, kernel]) {
        dp.configure(NODE);
        dp.apply(ops);
      }
      const a = run(host, frames);
      const b = run(kernel, frames);
      for (let i = 0; i < frames.length; i++) {
        const where = `frame ${i} (${Buffer.from(frames[i]!).toString("hex")})`;
        assert.equal(a.verdicts[i], b.verdicts[i], `verdict of ${where}`);
        assert.equal(a.reasons[i], b.reasons[i], `reason of ${where}`);
        assert.deepEqual(a.bytes[i], b.bytes[i], `bytes of ${where}`);
      }
      assert.deepEqual(host.stats(), kernel.stats());

      // The corpus must exercise what it claims to: every verdict, and many reasons.
      const seen = new Set(a.verdicts);
      assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
      assert.ok(
        new Set(a.reasons).size >= 12,
        `reasons seen: ${[...new Set(a.reasons)].sort((x, y) => x - y)}`,
      );
      const dnat = a.verdicts.filter((v) => v === 1).length;
      assert.ok(dnat > PACKETS / 10, `${dnat} DNATs`);
      assert.ok(parseFrame(a.bytes[a.verdicts.indexOf(1)]!) !== null);
      // ... and SNAT: requests sent from the node's address (hairpins among them), replies to it
      // translated back, and flows refused when the ports probed were taken.
      const seenAt = (i: number) => ({ before: parseFrame(frames[i]!), after: parseFrame(a.bytes[i]!) });
      const snated = a.verdicts.flatMap((v, i) => (v === 1 && seenAt(i).after?.src === SNAT_IP ? [i] : []));
      const hairpins = snated.filter((i) => seenAt(i).before!.src === seenAt(i).after!.dst);
      const snatReplies = a.verdicts.filter((v, i) => v === 2 && seenAt(i).before?.dst === SNAT_IP).length;
      const refused = a.reasons.filter((r) => r === REASON_NAMES.indexOf("SNAT_NO_PORT")).length;
      assert.ok(
        snated.length > 100 && hairpins.length > 10 && snatReplies > 20 && refused > 0,
        `${snated.length} SNATed (${hairpins.length} hairpins), ${snatReplies} SNAT replies, ${refused} refused`,
      );
      // Policy Local keeps the client's address, except in a hairpin.
      const local = a.verdicts.flatMap((v, i) =>
        v === 1 && seenAt(i).before?.dst === "203.0.113.2" && seenAt(i).before!.src !== seenAt(i).after!.dst
          ? [seenAt(i)]
          : [],
      );
      assert.ok(local.length > 50, `${local.length} flows to the Local frontend`);
      assert.ok(local.every((x) => x.after!.src === x.before!.src));
    } finally {
      host.close();
      kernel.close();
    }
  },
);
