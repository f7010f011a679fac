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
import { intToIpv4 } from "../src/util/ip.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";

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
