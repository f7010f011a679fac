// ffi: what it costs to cross from JavaScript into the native pipeline, per call and per packet,
// with koffi (maplb's binding) and with @2060.io/ffi-napi + ref-napi (the maintained fork of the
// ffi-napi the design card named), at batch sizes 1, 64 and 1024, measured with benchmark.js.
// Both bindings call the same function (maplb_process) on the same frames; the frames are for no
// service, so the pipeline leaves them unchanged and every call does identical work.
import Benchmark from "benchmark";
import { createRequire } from "node:module";
import { librarySearchPath } from "../../src/datapath/binding.js";
import type { NativeDatapath } from "../../src/datapath/native-datapath.js";
import { packFrames } from "../../src/datapath/native-datapath.js";
import { openDatapath } from "../../src/datapath/open.js";
import { buildFrame } from "../../src/datapath/packet.js";
import type { PacketBatch } from "../../src/datapath/datapath.js";
import { existsSync } from "node:fs";
import { median, type Mode, type Result, type Suite, type Target } from "../types.js";

const BATCHES = [1, 64, 1024];
const FFI_NAPI = "@2060.io/ffi-napi";

/** The ffi-napi side: its own handle on the same library, and its own emulated datapath. */
interface FfiNapiSide {
  /** A call with its arguments already wrapped as Buffers (as koffi gets its typed arrays as they are). */
  prepare(b: PacketBatch, verdicts: Uint8Array, reasons: Uint8Array): () => number;
  close(): void;
}

interface FfiNapiModule {
  Library(path: string, fns: Record<string, [string, string[]]>): Record<string, (...a: unknown[]) => number>;
}
interface RefNapiModule {
  alloc(type: string): { deref(): unknown };
}

function loadFfiNapi(libPath: string): FfiNapiSide {
  const require = createRequire(import.meta.url);
  const ffi = require(FFI_NAPI) as FfiNapiModule;
  const ref = require("@2060.io/ref-napi") as RefNapiModule;
  const lib = ffi.Library(libPath, {
    maplb_open_emulated: ["int", ["pointer", "pointer"]],
    maplb_process: [
      "int",
      ["pointer", "pointer", "uint32", "pointer", "pointer", "pointer", "pointer", "pointer", "uint32"],
    ],
    maplb_close: ["void", ["pointer"]],
  });
  const out = ref.alloc("pointer");
  const err = lib.maplb_open_emulated!(Buffer.alloc(4 * 32), out);
  if (err < 0) throw new Error(`maplb_open_emulated through ffi-napi: ${err}`);
  const dp = out.deref();
  const buf = (a: Uint8Array | Uint32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return {
    prepare: (b, verdicts, reasons) => {
      const args = [
        buf(b.buffer),
        b.buffer.length,
        buf(b.offsets),
        buf(b.lengths),
        null, // csum_partial: none
        buf(verdicts),
        buf(reasons),
      ] as const;
      const n = b.offsets.length;
      return () => lib.maplb_process!(dp, ...args, n);
    },
    close: () => void lib.maplb_close!(dp),
  };
}

function batchOfPassFrames(n: number): PacketBatch {
  return packFrames(
    Array.from({ length: n }, (_, i) =>
      buildFrame({ src: "198.18.64.1", dst: "198.18.200.1", sport: 1024 + i, dport: 9999, proto: "TCP" }),
    ),
  );
}

/** Median seconds per operation from benchmark.js's samples. */
const medianSeconds = (b: Benchmark) => median(b.stats.sample);

function run(fns: Record<string, () => void>, maxTime: number): Record<string, number> {
  const suite = new Benchmark.Suite();
  for (const [name, fn] of Object.entries(fns)) suite.add(name, fn, { maxTime, minSamples: 10 });
  suite.run({ async: false });
  const out: Record<string, number> = {};
  suite.forEach((b: Benchmark) => (out[(b as unknown as { name: string }).name] = medianSeconds(b) * 1e9));
  return out;
}

let koffiDp: NativeDatapath | null = null;
let napi: FfiNapiSide | null = null;

export const ffiSuite: Suite = {
  name: "ffi",
  title: "ffi: cost per call and per packet of koffi vs @2060.io/ffi-napi (benchmark.js, same native call)",

  async skipReason() {
    try {
      createRequire(import.meta.url).resolve(FFI_NAPI);
    } catch {
      return `${FFI_NAPI} is not installed (an optional dependency: its native build failed or was skipped), so there is nothing to compare koffi with`;
    }
    return librarySearchPath().some((p) => existsSync(p))
      ? null
      : "the native library is not built (npm run build)";
  },

  cells(mode: Mode) {
    return BATCHES.map((b) => ({
      label: `batch=${b}`,
      services: 0,
      endpointsPerService: 0,
      batch: b,
      estimateSeconds: mode === "full" ? 8 : 4,
    }));
  },

  async setup() {
    koffiDp = openDatapath({ kind: "emulated" }) as NativeDatapath;
    const path = librarySearchPath().find((p) => existsSync(p))!;
    try {
      napi = loadFfiNapi(path);
    } catch (err) {
      koffiDp.close();
      koffiDp = null;
      throw new Error(`loading ${FFI_NAPI}: ${(err as Error).message}`, { cause: err });
    }
  },

  async run(cell, ctx) {
    const n = cell.batch as number;
    const batch = batchOfPassFrames(n);
    const verdicts = new Uint8Array(n);
    const reasons = new Uint8Array(n);
    const dp = koffiDp!;
    const api = dp.maps.api;
    const napiCall = napi!.prepare(batch, verdicts, reasons);
    const times = run(
      {
        koffi: () =>
          void api.process(
            dp.maps.handle,
            batch.buffer,
            batch.offsets,
            batch.lengths,
            null,
            verdicts,
            reasons,
            n,
          ),
        [FFI_NAPI]: () => void napiCall(),
      },
      ctx.mode === "full" ? 3 : 1,
    );
    // What koffi adds per packet: the call's wall time minus the time spent inside the native loop.
    const overhead: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      api.process(dp.maps.handle, batch.buffer, batch.offsets, batch.lengths, null, verdicts, reasons, n);
      const call = Number(process.hrtime.bigint() - t0);
      overhead.push((call - Number(api.lastBatchNs(dp.maps.handle))) / n);
    }
    const results: Result[] = [];
    const row = (impl: string, metric: string, value: number, samples: number): Result => ({
      suite: "ffi",
      impl,
      services: 0,
      endpointsPerService: 0,
      traffic: "same frames",
      metric,
      value,
      unit: "ns",
      samples,
      params: { batch: n, call: "maplb_process", frames: "not for a service (unchanged)" },
    });
    for (const [impl, ns] of Object.entries(times)) {
      results.push(row(impl, "ns_per_call", ns, 10));
      results.push(row(impl, "ns_per_packet", ns / n, 10));
    }
    results.push(row("koffi", "ffi_overhead_ns_per_packet", median(overhead), overhead.length));
    return results;
  },

  async teardown() {
    napi?.close();
    napi = null;
    koffiDp?.close();
    koffiDp = null;
  },

  targets(results) {
    const o = results.find((r) => r.metric === "ffi_overhead_ns_per_packet" && r.params?.batch === 1024);
    const k1 = results.find((r) => r.impl === "koffi" && r.metric === "ns_per_call" && r.params?.batch === 1);
    const f1 = results.find(
      (r) => r.impl === FFI_NAPI && r.metric === "ns_per_call" && r.params?.batch === 1,
    );
    const out: Target[] = [];
    if (o)
      out.push({
        suite: "ffi",
        target: "koffi's overhead per packet at a batch of 1024 within 5 ns",
        measured: `${o.value.toFixed(2)} ns`,
        met: o.value <= 5,
      });
    if (k1 && f1)
      out.push({
        suite: "ffi",
        target: "(information) ffi-napi / koffi per call at batch 1",
        measured: `${(f1.value / k1.value).toFixed(1)}× (${f1.value.toFixed(0)} vs ${k1.value.toFixed(0)} ns)`,
        met: true,
      });
    return out;
  },
};
