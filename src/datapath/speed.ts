// Datapath speed, measured by the targets themselves: the per-packet cost of the pipeline for
// established and new flows (kernel: BPF_PROG_TEST_RUN's own duration; host: its clock around the
// loop), the host's cost over a large batch, and what the FFI call adds per packet. The benchmark
// suite and `maplb bench` report these; every figure names its algorithm and Maglev M.
import { Algorithm, Scope, type FrontendKey, type MapOp } from "../compile/tables.js";
import type { IpFamily } from "../model/types.js";
import { bigIntToIpv6, intToIpv4, ipv6ToBigInt } from "../util/ip.js";
import type { Datapath, PacketBatch } from "./datapath.js";
import { nativeError } from "./errno.js";
import { packFrames, type NativeDatapath } from "./native-datapath.js";
import { buildFrame } from "./packet.js";
import { buildFrame6 } from "./packet6.js";

export interface ScaleSpec {
  services: number;
  backendsPerService: number;
  algorithm: "random" | "maglev";
  /** Maglev table size per service (ignored for random). */
  maglevM?: number;
  /** The family of every address, and so of the maps written (default IPv4). */
  family?: IpFamily;
}

const FRONTEND_BASE = 0x0a600000; // 10.96.0.0: service i is 10.96.0.0 + i, port 80
const BACKEND_BASE = 0x0a800000; // 10.128.0.0
// The same over IPv6 (fd00::/8, never on a wire: these frames only run through BPF_PROG_TEST_RUN
// and the host build): service i is fd00:96:: + i, backend id n fd00:128:: + n.
const FRONTEND_BASE6 = ipv6ToBigInt("fd00:96::");
const BACKEND_BASE6 = ipv6ToBigInt("fd00:128::");
const CLIENT = { IPv4: "10.0.0.5", IPv6: "fd00::5" } as const;

export const frontendOf = (i: number, family: IpFamily = "IPv4"): FrontendKey => ({
  address: family === "IPv6" ? bigIntToIpv6(FRONTEND_BASE6 + BigInt(i)) : intToIpv4(FRONTEND_BASE + i),
  port: 80,
  protocol: "TCP",
  scope: Scope.EXT,
});

const backendAddress = (id: number, family: IpFamily) =>
  family === "IPv6" ? bigIntToIpv6(BACKEND_BASE6 + BigInt(id)) : intToIpv4(BACKEND_BASE + id);

/**
 * MapOps for `services` frontends of `backendsPerService` backends each. Service 0 is the one the
 * single-frame benchmarks hit: its backends are the frontend itself, so DNAT rewrites the packet
 * into itself and every BPF_PROG_TEST_RUN repeat sees the same bytes (an established flow stays
 * established, and its cost still includes the whole rewrite).
 */
export function scaleOps(spec: ScaleSpec): MapOp[] {
  const ops: MapOp[] = [];
  const m = spec.algorithm === "maglev" ? (spec.maglevM ?? 251) : 0;
  const family = spec.family ?? "IPv4";
  for (let i = 0; i < spec.services; i++) {
    const key = frontendOf(i, family);
    const ids = Array.from(
      { length: spec.backendsPerService },
      (_, j) => i * spec.backendsPerService + j + 1,
    );
    ids.forEach((id, j) => {
      const address = i === 0 ? key.address : backendAddress(id, family);
      ops.push({
        kind: "backend-upsert",
        backend: { id, address, port: i === 0 ? 80 : 8080, protocol: "TCP", flags: 0 },
      });
      ops.push({ kind: "slot-upsert", key, slot: j + 1, backendId: id, revNatId: i + 1 });
    });
    if (m)
      ops.push({
        kind: "maglev-write",
        offset: i * m,
        rows: Uint32Array.from({ length: m }, (_, r) => ids[r % ids.length]!),
        ...(family === "IPv6" ? { family } : {}),
      });
    ops.push({ kind: "revnat-upsert", entry: { id: i + 1, address: key.address, port: 80 } });
    ops.push({
      kind: "master-upsert",
      key,
      master: {
        count: ids.length,
        revNatId: i + 1,
        flags: 0,
        algorithm: Algorithm[spec.algorithm],
        affinityTimeout: 0,
        maglevOffset: i * m,
        maglevSize: m,
      },
    });
  }
  return ops;
}

/**
 * The benchmark frame: a client to service 0. The bench entry points make every repeat a new flow
 * by counting up the two bytes where an IPv4 frame has its source port (Ethernet + 20): in an IPv6
 * frame those are the 13th and 14th bytes of the source address, so each repeat comes from a new
 * client instead, as new a flow all the same.
 */
export function benchFrame(sport = 10000, family: IpFamily = "IPv4"): Uint8Array {
  const spec = {
    src: CLIENT[family],
    dst: frontendOf(0, family).address,
    sport,
    dport: 80,
    proto: "TCP" as const,
  };
  return family === "IPv6" ? buildFrame6(spec) : buildFrame(spec);
}

/** enum maplb_bench_mode (native/host/maplb_api.h). "empty" runs no pipeline: the harness alone. */
export const BENCH_MODES = { established: 0, new: 1, empty: 2 } as const;
export type BenchMode = keyof typeof BENCH_MODES;

/** ns per packet of `repeat` runs of one frame, timed by the target (see maplb_bench). */
export function pipelineNsPerPacket(
  dp: NativeDatapath,
  mode: BenchMode,
  repeat: number,
  family: IpFamily = "IPv4",
): number {
  const frame = benchFrame(10000, family);
  if (mode === "established") dp.process([Uint8Array.from(frame)]); // the flow exists before timing
  const out = new BigUint64Array(1);
  const err = dp.maps.api.bench(dp.maps.handle, frame, repeat, BENCH_MODES[mode], out);
  if (err < 0) throw nativeError(err, `benchmarking the ${dp.kind} datapath`);
  return Number(out[0]!) / repeat;
}

/**
 * ns per frame of `repeat` live frames (BPF_F_TEST_XDP_LIVE_FRAMES: the real XDP path, XDP_PASS
 * frames built into skbs for the stack) on the loopback device of network namespace `netns` (a
 * path such as /run/netns/NAME; null: ours), timed by the kernel. Kernel datapath only.
 */
export function liveNsPerFrame(
  dp: NativeDatapath,
  netns: string | null,
  mode: BenchMode,
  repeat: number,
): number {
  const frame = benchFrame();
  if (mode === "established") dp.process([Uint8Array.from(frame)]); // the flow exists before timing
  const out = new Uint32Array(1);
  const err = dp.maps.api.xdpLive(dp.maps.handle, netns, frame, repeat, BENCH_MODES[mode], out);
  if (err < 0) throw nativeError(err, `running live XDP frames through the ${dp.kind} datapath`);
  return out[0]!;
}

/** `count` frames from distinct clients to services spread over [0, services). */
export function batchOf(count: number, services: number): PacketBatch {
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const client = intToIpv4(0x0b000000 + (i >>> 8));
    frames.push(
      buildFrame({
        src: client,
        dst: intToIpv4(FRONTEND_BASE + (i % services)),
        sport: 1024 + (i & 0xff),
        dport: 80,
        proto: "TCP",
      }),
    );
  }
  return packFrames(frames);
}

export interface BatchTiming {
  packets: number;
  /** Wall time of the processBatch call, per packet (FFI, argument passing, the loop). */
  callNsPerPacket: number;
  /** Time inside the native loop, per packet. */
  pipelineNsPerPacket: number;
  /** The difference: what crossing the FFI costs, per packet. */
  ffiNsPerPacket: number;
}

/**
 * Host batch timing: runs `batch` (a fresh copy each round, made outside the timing) `rounds`
 * times; the first round creates the flows, the rest find them established.
 */
export function hostBatchTiming(
  dp: Datapath & NativeDatapath,
  batch: PacketBatch,
  rounds: number,
): { newFlows: BatchTiming; established: BatchTiming } {
  const pristine = Uint8Array.from(batch.buffer);
  const n = batch.offsets.length;
  const time = (): BatchTiming => {
    batch.buffer.set(pristine);
    const t0 = process.hrtime.bigint();
    dp.processBatch(batch);
    const call = Number(process.hrtime.bigint() - t0);
    const inside = Number(dp.maps.api.lastBatchNs(dp.maps.handle));
    return {
      packets: n,
      callNsPerPacket: call / n,
      pipelineNsPerPacket: inside / n,
      ffiNsPerPacket: (call - inside) / n,
    };
  };
  const newFlows = time();
  const runs = Array.from({ length: rounds }, time);
  runs.sort((a, b) => a.callNsPerPacket - b.callNsPerPacket);
  return { newFlows, established: runs[Math.floor(runs.length / 2)]! };
}
