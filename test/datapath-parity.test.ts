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
import type { Datapath, NodeSettings } from "../src/datapath/datapath.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { REASON_NAMES, Verdict } from "../src/datapath/abi.js";
import { openKernel, type KernelDatapath } from "../src/datapath/kernel.js";
import { packFrames } from "../src/datapath/native-datapath.js";
import {
  buildFrame,
  buildIcmpError,
  fragment,
  IcmpType,
  parseFrame,
  TcpFlag,
  withPartialChecksum,
} from "../src/datapath/packet.js";
import {
  buildFrame6,
  buildIcmp6,
  buildIcmp6Error,
  checksumValid6,
  fragment6,
  Icmp6Type,
  NextHeader,
  parseFrame6,
  withPartialChecksum6,
  type Frame6Spec,
} from "../src/datapath/packet6.js";
import { u32 } from "../src/datapath/codec.js";
import { intToIpv4 } from "../src/util/ip.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";
import { putNodeAddr6, putService6, setClusterCidr6, type Service6 } from "./helpers/lb6-maps.js";

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

const ROUTER_ALERT = Uint8Array.of(0x94, 0x04, 0, 0);
const TCP_FLAGS = [TcpFlag.SYN, TcpFlag.ACK, TcpFlag.ACK, TcpFlag.FIN | TcpFlag.ACK, TcpFlag.RST] as const;
const snatPort = (r: ReturnType<typeof prng>) => SNAT_PORTS.min + r.int(SNAT_PORTS.max - SNAT_PORTS.min + 1);

/**
 * The corpus: frames to frontends (with IP options, fragmented, opening and closing TCP flows on a
 * few reused ports; some from their own backends: hairpins), replies (some to the SNAT address and
 * ports), ICMP errors quoting a frontend's flow as DNATed (and SNATed), strangers (IGMP with Router
 * Alert, fragments and options to pods), then a share of them damaged.
 */
function corpus(frontends: Frontend[], seed: number, count: number): Uint8Array[] {
  const r = prng(seed);
  const clients = ["10.0.0.5", "10.0.7.7", "192.0.2.9", "192.0.2.200", "198.51.100.1"];
  const frames: Uint8Array[] = [];
  const toFrontend = (extra: { ipOptions?: Uint8Array; payload?: Uint8Array } = {}) => {
    const fr = r.pick(frontends);
    const f = fr.key;
    const dst = f.address === "0.0.0.0" ? r.pick([...NODE.nodeIPs, "192.168.1.99"]) : f.address;
    const hairpin = fr.backendIds.length > 0 && r.next() < 0.15;
    const spec = {
      src: hairpin ? backendAddress(r.pick(fr.backendIds)) : r.pick(clients),
      dst,
      sport: 1024 + r.int(200),
      dport: f.port,
      proto: r.next() < 0.9 ? (f.protocol as "TCP" | "UDP") : f.protocol === "TCP" ? "UDP" : "TCP",
      noUdpChecksum: r.next() < 0.3,
      tcpFlags: r.pick(TCP_FLAGS),
      ipId: r.int(65536),
      ipOptions: extra.ipOptions ?? (r.next() < 0.1 ? ROUTER_ALERT : undefined),
      payload: extra.payload ?? new Uint8Array(r.int(40)).map(() => r.int(256)),
    } as const;
    return { frame: buildFrame(spec), spec, frontend: fr };
  };
  for (let i = 0; i < count; i++) {
    const kind = r.next();
    if (kind < 0.38) {
      frames.push(toFrontend().frame);
    } else if (kind < 0.45) {
      // A fragmented datagram to a frontend, its fragments in order, swapped, or the first lost.
      const payload = new Uint8Array(24 + r.int(40)).map(() => r.int(256));
      const [first, later] = fragment(toFrontend({ payload }).frame, 24);
      const order = r.int(3);
      frames.push(...(order === 0 ? [first, later] : order === 1 ? [later, first] : [later]));
    } else if (kind < 0.5) {
      // An ICMP error about a frontend's flow (tracked or not): about the client's packet as
      // DNATed to one of the backends, sent to the client; or about the backend's answer as
      // reverse-NATed, sent to the frontend.
      const { frame: sent, spec, frontend } = toFrontend();
      if (frontend.backendIds.length === 0) continue;
      const id = r.pick(frontend.backendIds);
      const type = r.pick([IcmpType.DEST_UNREACH, IcmpType.TIME_EXCEEDED]);
      const quoteBytes = Math.min(sent.length - 14, r.pick([28, 40, 48]));
      const error = { type, code: r.int(5), rest: 1400, quoteBytes };
      if (r.next() < 0.5) {
        // As it left: from the client, or (SNATed) from the node's address and one of its ports.
        const from =
          r.next() < 0.5 ? { src: SNAT_IP, sport: snatPort(r) } : { src: spec.src, sport: spec.sport };
        const toBackend = buildFrame({ ...spec, ...from, dst: backendAddress(id), dport: 8000 + id });
        const router = r.next() < 0.5 ? backendAddress(id) : "10.0.9.254";
        frames.push(buildIcmpError({ ...error, src: router, dst: from.src, offending: toBackend }));
      } else {
        const answer = { ...spec, src: spec.dst, dst: spec.src, sport: spec.dport, dport: spec.sport };
        frames.push(
          buildIcmpError({ ...error, src: "198.51.100.254", dst: spec.dst, offending: buildFrame(answer) }),
        );
      }
    } else if (kind < 0.62) {
      // A reply: from some backend address to a client, or to the node's SNAT address and ports
      // (sometimes one with a flow).
      const backendId = 1 + r.int(12);
      const snat = r.next() < 0.5;
      frames.push(
        buildFrame({
          src: backendAddress(backendId),
          dst: snat ? SNAT_IP : r.pick(clients),
          sport: 8000 + backendId,
          dport: snat ? snatPort(r) : 1024 + r.int(200),
          proto: backendId % 2 ? "TCP" : "UDP",
          tcpFlags: r.pick(TCP_FLAGS),
        }),
      );
    } else if (kind < 0.7) {
      const stranger = buildFrame({
        src: intToIpv4(r.int(2 ** 32)),
        dst: intToIpv4(r.int(2 ** 32)),
        sport: r.int(65536),
        dport: r.int(65536),
        proto: r.pick(["TCP", "UDP"] as const),
        ipOptions: r.next() < 0.3 ? ROUTER_ALERT : undefined,
        payload: new Uint8Array(32),
      });
      const variant = r.int(3);
      if (variant === 0) stranger[14 + 9 + (stranger[14]! & 0xf) * 4 - 20] = 2; // IGMP
      frames.push(...(variant === 1 ? fragment(stranger, 24) : [stranger]));
    } else {
      frames.push(damage(toFrontend().frame, r));
    }
  }
  return frames;
}

/** Malformed frames: flipped header bytes, cuts, bad lengths, padding, options past the total
 * length, or random bytes. */
function damage(frame: Uint8Array, r: ReturnType<typeof prng>): Uint8Array {
  const out = Uint8Array.from(frame);
  switch (r.int(6)) {
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
    case 4: {
      // IHL*4 > total length >= 20 (within the buffer): IP_OPTIONS, rare among flipped bytes.
      const ihl = 6 + r.int(10);
      out[14] = 0x40 | ihl;
      new DataView(out.buffer).setUint16(16, 20 + r.int(Math.min(ihl * 4, out.length - 14) - 20));
      return out;
    }
    default:
      return Uint8Array.from({ length: 14 + r.int(80) }, () => r.int(256));
  }
}

/** Runs `frames` in batches; partial[i] marks frame i CHECKSUM_PARTIAL (emulated only). */
function run(dp: Datapath, frames: Uint8Array[], partial?: boolean[]) {
  const verdicts: number[] = [];
  const reasons: number[] = [];
  const bytes: Uint8Array[] = [];
  for (let i = 0; i < frames.length; i += BATCH) {
    const batch = packFrames(frames.slice(i, i + BATCH));
    if (partial) batch.csumPartial = Uint8Array.from(partial.slice(i, i + BATCH), Number);
    const res = dp.processBatch(batch);
    verdicts.push(...res.verdicts);
    reasons.push(...res.reasons);
    batch.offsets.forEach((off, j) => bytes.push(batch.buffer.slice(off, off + batch.lengths[j]!)));
  }
  return { verdicts, reasons, bytes };
}

/** A whole, unfragmented TCP/UDP frame that a local socket could have sent CHECKSUM_PARTIAL. */
function couldBePartial(frame: Uint8Array): boolean {
  const p = parseFrame(frame);
  if (!p) return false;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const ihl = (v.getUint8(14) & 0xf) * 4;
  const total = v.getUint16(16);
  const header = p.proto === "TCP" ? 20 : 8;
  return (v.getUint16(20) & 0x3fff) === 0 && total + 14 <= frame.length && total >= ihl + header && ihl >= 20;
}

/** Both targets programmed alike with the scenario; closed after `body`, also when it throws. */
function withBothTargets(
  body: (host: Datapath, kernel: KernelDatapath, frontends: Frontend[]) => void,
): void {
  const { ops, frontends } = scenario();
  const host = openEmulated();
  const kernel = openKernel({ ephemeral: true });
  try {
    for (const dp of [host, kernel]) {
      dp.configure(NODE);
      dp.apply(ops);
    }
    body(host, kernel, frontends);
  } finally {
    host.close();
    kernel.close();
  }
}

test(
  `parity: ${PACKETS} generated frames give the same verdicts, reasons, bytes and counters on both targets`,
  { skip: KERNEL_SKIP },
  () =>
    withBothTargets((host, kernel, frontends) => {
      const frames = corpus(frontends, 42, PACKETS);
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
      for (const reason of ["ICMP_ERROR", "FRAGMENT", "IP_OPTIONS", "NOT_TCP_UDP", "TRUNC_L4"])
        assert.ok(a.reasons.includes(REASON_NAMES.indexOf(reason as (typeof REASON_NAMES)[number])), reason);
      const icmpErrors = (verdict: number) =>
        a.verdicts.filter((v, i) => v === verdict && a.reasons[i] === REASON_NAMES.indexOf("ICMP_ERROR"))
          .length;
      assert.ok(icmpErrors(Verdict.REVNAT) > 10, "ICMP errors about DNATed packets");
      assert.ok(icmpErrors(Verdict.DNAT) > 10, "ICMP errors about reverse-NATed answers");
      const dnat = a.verdicts.filter((v) => v === 1).length;
      assert.ok(dnat > PACKETS / 10, `${dnat} DNATs`);
      assert.ok(parseFrame(a.bytes[a.verdicts.indexOf(1)]!) !== null);
      // ... and SNAT: requests sent from the node's address (hairpins among them), replies to it
      // translated back, ICMP errors sent to it passed on to the client, and flows refused when
      // the ports probed were taken.
      const seenAt = (i: number) => ({ before: parseFrame(frames[i]!), after: parseFrame(a.bytes[i]!) });
      const snated = a.verdicts.flatMap((v, i) => (v === 1 && seenAt(i).after?.src === SNAT_IP ? [i] : []));
      const hairpins = snated.filter((i) => seenAt(i).before!.src === seenAt(i).after!.dst);
      const snatReplies = a.verdicts.filter((v, i) => v === 2 && seenAt(i).before?.dst === SNAT_IP).length;
      const refused = a.reasons.filter((r) => r === REASON_NAMES.indexOf("SNAT_NO_PORT")).length;
      assert.ok(
        snated.length > 100 && hairpins.length > 10 && snatReplies > 20 && refused > 0,
        `${snated.length} SNATed (${hairpins.length} hairpins), ${snatReplies} SNAT replies, ${refused} refused`,
      );
      const ipDst = (f: Uint8Array) => intToIpv4(new DataView(f.buffer, f.byteOffset).getUint32(14 + 16));
      const snatErrors = a.verdicts.filter(
        (v, i) =>
          v === Verdict.REVNAT &&
          a.reasons[i] === REASON_NAMES.indexOf("ICMP_ERROR") &&
          ipDst(frames[i]!) === SNAT_IP &&
          ipDst(a.bytes[i]!) !== SNAT_IP,
      ).length;
      assert.ok(snatErrors > 20, `${snatErrors} ICMP errors about SNATed packets, passed on to the client`);
      // Policy Local keeps the client's address, except in a hairpin.
      const local = a.verdicts.flatMap((v, i) =>
        v === 1 && seenAt(i).before?.dst === "203.0.113.2" && seenAt(i).before!.src !== seenAt(i).after!.dst
          ? [seenAt(i)]
          : [],
      );
      assert.ok(local.length > 50, `${local.length} flows to the Local frontend`);
      assert.ok(local.every((x) => x.after!.src === x.before!.src));
    }),
);

/** TC_ACT_* the TC program returns for each verdict (NO_BACKEND: the ICMP reply is redirected). */
const TC_ACT = { OK: 0, SHOT: 2, REDIRECT: 7 };

test(
  "parity on TC: the TC program (the kernel's checksum helpers) writes the same bytes as the host build",
  { skip: KERNEL_SKIP },
  () =>
    withBothTargets((host, kernel, frontends) => {
      // BPF_PROG_TEST_RUN builds an skb for TC and refuses IPv4 frames without room for the header.
      const frames = corpus(frontends, 7, 3000).filter((f) => f.length >= 34);
      const a = run(host, frames);
      let rewritten = 0;
      frames.forEach((frame, i) => {
        const where = `frame ${i} (${Buffer.from(frame).toString("hex")})`;
        const { retval, output } = kernel.testRun("tc", frame);
        const noBackend = a.reasons[i] === REASON_NAMES.indexOf("NO_BACKEND");
        const want = a.verdicts[i] !== Verdict.DROP ? TC_ACT.OK : noBackend ? TC_ACT.REDIRECT : TC_ACT.SHOT;
        assert.equal(retval, want, `TC_ACT of ${where}`);
        if (a.verdicts[i] === Verdict.DROP) return;
        assert.deepEqual(output, a.bytes[i], `bytes of ${where}`);
        if (a.verdicts[i] !== Verdict.PASS) rewritten++;
      });
      assert.ok(rewritten > 300, `${rewritten} frames rewritten`);
      const h = host.stats();
      const k = kernel.stats();
      assert.deepEqual(k.reasons, h.reasons);

      // The host's CHECKSUM_PARTIAL model against the kernel's helpers: the same corpus with every
      // frame a local socket could send made CHECKSUM_PARTIAL (its L4 field the pseudo-header's
      // sum) must come out as the TC program's output with that field recomputed from scratch.
      const partial = frames.map(couldBePartial);
      const seeded = frames.map((f, i) => (partial[i] ? withPartialChecksum(f) : f));
      const hostPartial = openEmulated();
      try {
        hostPartial.configure(NODE);
        hostPartial.apply(scenario().ops);
        const p = run(hostPartial, seeded, partial);
        let checked = 0;
        frames.forEach((_, i) => {
          assert.equal(p.verdicts[i], a.verdicts[i], `verdict of partial frame ${i}`);
          if (!partial[i] || p.verdicts[i] === Verdict.DROP || p.verdicts[i] === Verdict.PASS) return;
          assert.deepEqual(p.bytes[i], withPartialChecksum(a.bytes[i]!), `bytes of partial frame ${i}`);
          checked++;
        });
        assert.ok(checked > 300, `${checked} CHECKSUM_PARTIAL frames rewritten`);
      } finally {
        hostPartial.close();
      }
    }),
);

// ---- IPv6 ------------------------------------------------------------------------------------------

/** IPv6 backends take ids 21..32: one id space with the IPv4 ones (1..12), never the same id. */
const backend6 = (id: number) => `2001:db8:${id % 3}::${id.toString(16)}`;
const NODE6 = ["2001:db8:ff::11", "2001:db8:ff::12"];
const CLIENTS6 = ["2001:db8:0:1::5", "2001:db8:0:7::7", "2001:db9::9", "2001:db9::200", "2001:db8:cafe::1"];

/** The IPv6 frontends, one of every kind as in scenario(), written through test/helpers/lb6-maps. */
function scenario6(dp: Datapath): Service6[] {
  const M = 13;
  const ids = (...xs: number[]) => xs.map((id) => ({ id, address: backend6(id), port: 8000 + id }));
  const maglev = (offset: number, xs: number[]) => ({
    offset,
    rows: Array.from({ length: M }, (_, i) => xs[i % xs.length]!),
  });
  const services: Service6[] = [
    { address: "2001:db8:96::1", port: 80, backends: ids(21, 22, 23), revNatId: 21 },
    {
      address: "2001:db8:96::2",
      port: 443,
      backends: ids(24, 25, 26, 27),
      revNatId: 22,
      algorithm: "maglev",
      maglev: maglev(0, [24, 25, 26, 27]),
    },
    { address: "2001:db8:96::3", port: 53, proto: "UDP", backends: ids(28, 29), revNatId: 23 },
    {
      address: "::",
      port: 30080,
      backends: ids(21, 24),
      revNatId: 24,
      flags: SvcFlag.NODEPORT,
      algorithm: "maglev",
      maglev: maglev(M, [21, 24]),
    },
    {
      address: "2001:db8:cafe::80",
      port: 80,
      backends: ids(22, 23),
      revNatId: 25,
      flags: SvcFlag.EXTERNAL | SvcFlag.SOURCE_RANGE,
      sourceRanges: ["2001:db8:0:1::/64", "2001:db9::/120"],
    },
    {
      address: "2001:db8:96::6",
      port: 80,
      backends: ids(25, 26, 27),
      revNatId: 26,
      flags: SvcFlag.AFFINITY,
      affinityTimeout: 600,
    },
    {
      address: "2001:db8:cafe::2",
      port: 80,
      backends: ids(22),
      revNatId: 27,
      flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES,
    },
    {
      address: "2001:db8:cafe::2",
      port: 80,
      scope: Scope.INT,
      backends: ids(21, 22, 23),
      revNatId: 27,
      flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES,
    },
    { address: "2001:db8:96::9", port: 80, backends: [], revNatId: 28 },
    {
      address: "2001:db8:96::a",
      port: 80,
      backends: [...ids(30), { id: 99, address: "2001:db8::99", port: 1 }],
      revNatId: 29,
    },
  ];
  for (const s of services) putService6(dp, s);
  dp.maps.delete("lb6_backends", u32(99)); // a slot naming a missing backend
  for (const a of NODE6) putNodeAddr6(dp, a);
  setClusterCidr6(dp, "2001:db8::/48");
  return services;
}

/** IPv6 frames: to frontends (behind extension headers, fragmented), replies, ICMPv6 (ND, echo,
 * errors), strangers, and a share of them damaged. */
function corpus6(services: Service6[], seed: number, count: number): Uint8Array[] {
  const r = prng(seed);
  const frames: Uint8Array[] = [];
  const exts = [
    [],
    [],
    [],
    [{ type: NextHeader.HOP }],
    [{ type: NextHeader.DEST, length: 16 }, { type: NextHeader.ROUTING }],
    [{ type: NextHeader.AUTH, length: 12 }],
    [0, 60, 43, 60, 60].map((type) => ({ type: type as 0 | 60 | 43 })),
  ];
  const toFrontend = (payload?: Uint8Array) => {
    const s = r.pick(services);
    const proto = s.proto ?? "TCP";
    const spec: Frame6Spec = {
      src: r.pick(CLIENTS6),
      dst: s.address === "::" ? r.pick([...NODE6, "2001:db8:ff::99"]) : s.address,
      sport: 1024 + r.int(200),
      dport: s.port,
      proto: r.next() < 0.9 ? proto : proto === "TCP" ? "UDP" : "TCP",
      noUdpChecksum: r.next() < 0.1,
      tcpFlags: r.pick(TCP_FLAGS),
      ext: r.pick(exts),
      payload: payload ?? new Uint8Array(r.int(40)).map(() => r.int(256)),
    };
    return buildFrame6(spec);
  };
  for (let i = 0; i < count; i++) {
    const kind = r.next();
    if (kind < 0.4) frames.push(toFrontend());
    else if (kind < 0.48) {
      const payload = new Uint8Array(24 + r.int(40)).map(() => r.int(256));
      const whole = toFrontend(payload);
      if (parseFrame6(whole)?.l4Offset !== 14 + 40) continue; // fragment6 cuts frames without extension headers
      const [first, later] = fragment6(whole, 24, r.int(2 ** 32));
      const order = r.int(3);
      frames.push(...(order === 0 ? [first, later] : order === 1 ? [later, first] : [later]));
    } else if (kind < 0.62) {
      const id = 21 + r.int(12);
      frames.push(
        buildFrame6({
          src: backend6(id),
          dst: r.pick(CLIENTS6),
          sport: 8000 + id,
          dport: 1024 + r.int(200),
          proto: r.pick(["TCP", "UDP"] as const),
          tcpFlags: r.pick(TCP_FLAGS),
        }),
      );
    } else if (kind < 0.66) {
      // An ICMPv6 error about a frontend's flow (tracked or not), either way, as for IPv4.
      const p = parseFrame6(toFrontend());
      const s = services.find((x) => x.port === p?.dport && x.backends.length > 0);
      if (!p || !s || p.proto === 58) continue;
      const b = r.pick(s.backends);
      const proto = p.proto === 6 ? "TCP" : "UDP";
      const spec = { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport, proto } as const;
      const type = r.pick([Icmp6Type.DEST_UNREACH, Icmp6Type.PACKET_TOO_BIG, Icmp6Type.TIME_EXCEEDED]);
      if (r.next() < 0.5) {
        const offending = buildFrame6({ ...spec, dst: b.address, dport: b.port });
        const src = r.next() < 0.5 ? b.address : "2001:db8:9::fe";
        frames.push(buildIcmp6Error({ src, dst: spec.src, type, offending }));
      } else {
        const answer = { ...spec, src: spec.dst, dst: spec.src, sport: spec.dport, dport: spec.sport };
        const offending = buildFrame6(answer);
        frames.push(buildIcmp6Error({ src: "2001:db9::fe", dst: spec.dst, type, rest: 1280, offending }));
      }
    } else if (kind < 0.7) {
      const type = r.pick([
        Icmp6Type.NEIGHBOR_SOLICIT,
        Icmp6Type.ECHO_REQUEST,
        Icmp6Type.DEST_UNREACH,
        Icmp6Type.PACKET_TOO_BIG,
      ]);
      const s = r.pick(services);
      frames.push(
        buildIcmp6({
          src: r.pick(CLIENTS6),
          dst: s.address === "::" ? NODE6[0]! : s.address,
          sport: 0,
          dport: 0,
          proto: "TCP",
          type,
          body: toFrontend().subarray(10, 10 + 48),
        }),
      );
    } else if (kind < 0.76) {
      const hex16 = () => r.int(65536).toString(16);
      const addr = () => `2001:db8:${hex16()}:${hex16()}::${hex16()}`;
      frames.push(
        buildFrame6({
          src: addr(),
          dst: addr(),
          sport: r.int(65536),
          dport: r.int(65536),
          proto: r.pick(["TCP", "UDP"] as const),
          payload: new Uint8Array(32),
        }),
      );
    } else {
      frames.push(damage6(toFrontend(), r));
    }
  }
  return frames;
}

/** Malformed IPv6 frames: flipped header bytes (extension headers and ports included), cuts, bad
 * payload lengths, padding, or random bytes behind the IPv6 ethertype. */
function damage6(frame: Uint8Array, r: ReturnType<typeof prng>): Uint8Array {
  const out = Uint8Array.from(frame);
  switch (r.int(5)) {
    case 0:
      for (let n = 1 + r.int(3); n > 0; n--) out[12 + r.int(Math.min(out.length - 12, 90))] = r.int(256);
      return out;
    case 1: {
      const cut = out.slice(0, 14 + r.int(out.length - 14));
      if (r.next() < 0.5 && cut.length >= 54) new DataView(cut.buffer).setUint16(18, cut.length - 54);
      return cut;
    }
    case 2:
      new DataView(out.buffer).setUint16(18, r.int(out.length));
      return out;
    case 3:
      return Uint8Array.from([...out, ...new Uint8Array(r.int(30))]);
    default: {
      const junk = Uint8Array.from({ length: 14 + r.int(120) }, () => r.int(256));
      junk[12] = 0x86;
      junk[13] = 0xdd;
      return junk;
    }
  }
}

test(
  "parity, IPv6: generated frames give the same verdicts, reasons, bytes and counters on XDP, TC and the host build",
  { skip: KERNEL_SKIP },
  () =>
    withBothTargets((host, kernel) => {
      const services = scenario6(host);
      scenario6(kernel);
      const frames = corpus6(services, 6, 6000);
      const a = run(host, frames);
      const b = run(kernel, frames);
      for (let i = 0; i < frames.length; i++) {
        const where = `frame ${i} (${Buffer.from(frames[i]!).toString("hex")})`;
        assert.equal(a.verdicts[i], b.verdicts[i], `verdict of ${where}`);
        assert.equal(a.reasons[i], b.reasons[i], `reason of ${where}`);
        assert.deepEqual(a.bytes[i], b.bytes[i], `bytes of ${where}`);
      }
      assert.deepEqual(host.stats(), kernel.stats());
      assert.deepEqual([...new Set(a.verdicts)].sort(), [0, 1, 2, 3]);
      for (const reason of [
        "ICMP_ERROR",
        "FRAGMENT",
        "EXT_HDR_CHAIN",
        "TRUNC_EXT_HDR",
        "NOT_TCP_UDP",
        "TRUNC_L4",
        "SOURCE_RANGE",
        "NO_BACKEND",
        "BACKEND_MISSING",
        "BAD_TOTAL_LEN",
      ])
        assert.ok(a.reasons.includes(REASON_NAMES.indexOf(reason as (typeof REASON_NAMES)[number])), reason);
      const dnat = a.verdicts.filter((v) => v === Verdict.DNAT).length;
      const revnat = a.verdicts.filter((v) => v === Verdict.REVNAT).length;
      assert.ok(dnat > 1000 && revnat > 20, `${dnat} DNATs, ${revnat} REVNATs`);
      // Every whole TCP/UDP frame rewritten carries a valid checksum (UDP's 0 stays 0: not ours to fix).
      a.bytes.forEach((out, i) => {
        const p = parseFrame6(out);
        if (a.verdicts[i] === Verdict.DNAT || a.verdicts[i] === Verdict.REVNAT)
          if (p && !p.fragment && !(p.proto === 17 && p.l4Checksum === 0))
            assert.ok(checksumValid6(out) || !checksumValid6(frames[i]!), `checksum of frame ${i}`);
      });
    }),
);

test(
  "parity, IPv6 on TC: the kernel's checksum helpers write what the host build does, CHECKSUM_PARTIAL included",
  { skip: KERNEL_SKIP },
  () =>
    withBothTargets((host, kernel) => {
      const services = scenario6(host);
      scenario6(kernel);
      const frames = corpus6(services, 9, 2000).filter((f) => f.length >= 54);
      const a = run(host, frames);
      let rewritten = 0;
      frames.forEach((frame, i) => {
        const where = `frame ${i} (${Buffer.from(frame).toString("hex")})`;
        const { retval, output } = kernel.testRun("tc", frame);
        assert.equal(retval, a.verdicts[i] === Verdict.DROP ? TC_ACT.SHOT : TC_ACT.OK, `TC_ACT of ${where}`);
        if (a.verdicts[i] === Verdict.DROP) return;
        assert.deepEqual(output, a.bytes[i], `bytes of ${where}`);
        if (a.verdicts[i] !== Verdict.PASS) rewritten++;
      });
      assert.ok(rewritten > 300, `${rewritten} frames rewritten`);
      assert.deepEqual(kernel.stats().reasons, host.stats().reasons);

      // The host's CHECKSUM_PARTIAL model, for IPv6's pseudo-header.
      const seeded = frames.map((f) => withPartialChecksum6(f));
      const partial = seeded.map((f) => f !== null);
      const hostPartial = openEmulated();
      try {
        hostPartial.configure(NODE);
        scenario6(hostPartial);
        const p = run(
          hostPartial,
          seeded.map((f, i) => f ?? frames[i]!),
          partial,
        );
        let checked = 0;
        frames.forEach((_, i) => {
          assert.equal(p.verdicts[i], a.verdicts[i], `verdict of partial frame ${i}`);
          if (!partial[i] || p.verdicts[i] === Verdict.DROP || p.verdicts[i] === Verdict.PASS) return;
          assert.deepEqual(p.bytes[i], withPartialChecksum6(a.bytes[i]!), `bytes of partial frame ${i}`);
          checked++;
        });
        assert.ok(checked > 300, `${checked} CHECKSUM_PARTIAL frames rewritten`);
      } finally {
        hostPartial.close();
      }
    }),
);
