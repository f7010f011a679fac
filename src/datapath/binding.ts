// The only file that touches the FFI: it finds libmaplb.so, declares its C API (native/host/maplb_api.h)
// and builds koffi structs from the ABI mirror in abi.ts. Everything else calls `native()`.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import koffi, { type LibraryHandle, type TypeObject } from "koffi";
import { MaplbError } from "../errors.js";
import { log } from "../log.js";
import { ABI_STRUCTS, type FieldDef, type StructName } from "./abi.js";

/** The package root: this file is src/datapath/binding.ts, or dist/src/datapath/binding.js once built. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export const PACKAGE_ROOT = packageRoot();
export const DEFAULT_BPF_OBJECT = join(PACKAGE_ROOT, "native", "build", "maplb.bpf.o");

/** Where the library is looked for, in order: $MAPLB_NATIVE_LIB, then native/build/libmaplb.so. */
export function librarySearchPath(): string[] {
  const fromEnv = process.env.MAPLB_NATIVE_LIB;
  return [...(fromEnv ? [resolve(fromEnv)] : []), join(PACKAGE_ROOT, "native", "build", "libmaplb.so")];
}

const FIELD_TYPES: Record<Exclude<FieldDef["type"], "in6">, string> = {
  u8: "uint8_t",
  u16: "uint16_t",
  be16: "uint16_be_t",
  u32: "uint32_t",
  be32: "uint32_be_t",
  u64: "uint64_t",
  char: "char",
};

/** A field's koffi type; an IPv6 address is struct maplb_in6 (__be32[4]) in C. */
function fieldType(f: FieldDef): TypeObject | string {
  if (f.type === "in6") return koffi.array("uint32_be_t", 4);
  return f.count ? koffi.array(FIELD_TYPES[f.type], f.count) : FIELD_TYPES[f.type];
}

const structTypes = new Map<StructName, TypeObject>();

/** The koffi struct for an ABI struct (C layout rules: natural alignment, trailing padding). */
export function abiStruct(name: StructName): TypeObject {
  let t = structTypes.get(name);
  if (!t) {
    const members: Record<string, TypeObject | string> = {};
    for (const f of ABI_STRUCTS[name]) members[f.name] = fieldType(f);
    t = koffi.struct(`maplb_${name}`, members);
    structTypes.set(name, t);
  }
  return t;
}

/** Size and field offsets of an ABI struct as the TypeScript mirror lays it out. */
export function mirrorLayout(name: StructName): { size: number; offsets: Record<string, number> } {
  const t = abiStruct(name);
  const offsets: Record<string, number> = {};
  for (const f of ABI_STRUCTS[name]) offsets[f.name] = koffi.offsetof(t, f.name);
  return { size: koffi.sizeof(t), offsets };
}

/** An opaque struct maplb_dp *, as koffi hands it back. */
export type DpHandle = unknown;
/** An opaque struct maplb_ipt * (the kube-proxy chain evaluator). */
export type IptHandle = unknown;

export interface NativeApi {
  path: string;
  mapCount(): number;
  mapInfo(id: number): {
    name: string;
    type: number;
    key_size: number;
    value_size: number;
    default_max_entries: number;
  };
  openEmulated(maxEntries: Uint32Array): { err: number; dp: DpHandle };
  openKernel(object: string, pinDir: string, maxEntries: Uint32Array): { err: number; dp: DpHandle };
  close(dp: DpHandle): void;
  maxEntries(dp: DpHandle, id: number): number;
  lookup(dp: DpHandle, id: number, key: Uint8Array, value: Uint8Array): number;
  lookupMany(
    dp: DpHandle,
    id: number,
    keys: Uint8Array,
    values: Uint8Array,
    found: Uint8Array,
    n: number,
  ): number;
  update(dp: DpHandle, id: number, key: Uint8Array, value: Uint8Array, flags: number): number;
  delete(dp: DpHandle, id: number, key: Uint8Array): number;
  getNextKey(dp: DpHandle, id: number, key: Uint8Array | null, next: Uint8Array): number;
  updateBatch(
    dp: DpHandle,
    id: number,
    keys: Uint8Array,
    values: Uint8Array,
    count: Uint32Array,
    flags: number,
  ): number;
  /** csumPartial (null: none): n flags, frames that are CHECKSUM_PARTIAL (emulated only). */
  process(
    dp: DpHandle,
    frames: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    csumPartial: Uint8Array | null,
    verdicts: Uint8Array,
    reasons: Uint8Array,
    n: number,
  ): number;
  setClock(dp: DpHandle, nowNs: bigint): number;
  /** maplb_test_run: the output frame in `output` (its length in lengths[0]); out[0] = retval, out[1] = ns per run. */
  testRun(
    dp: DpHandle,
    prog: number,
    frame: Uint8Array,
    output: Uint8Array,
    outLength: Uint32Array,
    repeat: number,
    out: Uint32Array,
  ): number;
  /** maplb_icmp_unreachable: the 70-byte reply to a frame for a service without backends. */
  icmpUnreachable(frame: Uint8Array, out: Uint8Array): number;
  /** maplb_bench: the target's own timing of `repeat` runs on one frame; out[0] = total ns. */
  /** mode: enum maplb_bench_mode (BENCH_MODES in speed.ts). */
  bench(dp: DpHandle, frame: Uint8Array, repeat: number, mode: number, out: BigUint64Array): number;
  lastBatchNs(dp: DpHandle): bigint;
  /** maplb_xdp_live: `repeat` live frames in network namespace `netns` (null: ours); out[0] = ns per frame. */
  xdpLive(
    dp: DpHandle,
    netns: string | null,
    frame: Uint8Array,
    repeat: number,
    mode: number,
    out: Uint32Array,
  ): number;
  ifindex(name: string): number;
  attachXdp(dp: DpHandle, ifindex: number, flags: number): number;
  detachXdp(ifindex: number, flags: number): number;
  attachTc(dp: DpHandle, ifindex: number, egress: boolean): number;
  detachTc(ifindex: number, egress: boolean): number;
  /** maplb_sock_xlate4 (emulated): 1 with out = [backend addr, port, backend id, rev-NAT id], 0, or -errno. */
  sockXlate4(
    dp: DpHandle,
    cookie: bigint,
    saddr: number,
    client: number,
    daddr: number,
    dport: number,
    proto: number,
    out: Uint32Array,
  ): number;
  /** maplb_sock_rev4 (emulated): addrPort [addr, port] of a backend become the frontend's; 1 when they did. */
  sockRev4(dp: DpHandle, cookie: bigint, addrPort: Uint32Array): number;
  /** maplb_sock_bench: out[0] = ns for `repeat` translations. */
  sockBench(
    dp: DpHandle,
    daddr: number,
    dport: number,
    proto: number,
    repeat: number,
    out: BigUint64Array,
  ): number;
  attachSock(dp: DpHandle, cgroup: string, hostnsOnly: boolean): number;
  detachSock(cgroup: string): number;
  sockAttached(cgroup: string): number;
  /** maplb_lock_file (native/host/lock.c): a locked fd, or a negative errno and the holder's pid. */
  lockFile(path: string, timeoutMs: number): { fd: number; holderPid: number };
  unlockFile(path: string, fd: number): number;
  iptOpen(
    rules: Uint8Array,
    ruleCount: number,
    chains: Uint8Array,
    chainCount: number,
    entry: number,
    local: Uint8Array,
    localCount: number,
    seed: bigint,
  ): { err: number; handle: IptHandle };
  iptEval(
    handle: IptHandle,
    packets: Uint8Array,
    n: number,
    nowSeconds: bigint,
    results: Uint8Array,
    path: Uint32Array | null,
    pathCap: number,
  ): number;
  iptClose(handle: IptHandle): void;
  /** maplb_maglev_fill (native/host/maglev.c): rows.length rows from n = ids.length backends. */
  maglevFill(
    offsets: Uint32Array,
    skips: Uint32Array,
    ids: Uint32Array,
    last: number,
    rows: Uint32Array,
  ): number;
  abiSizeof(type: string): number;
  abiOffsetof(type: string, field: string): number;
  abiConstant(name: string): number;
}

let loaded: NativeApi | undefined;

/** The native library, loaded on first use. Throws E_NATIVE_MISSING when it has not been built. */
export function native(): NativeApi {
  loaded ??= loadNative(librarySearchPath());
  return loaded;
}

/** Loads the first of `candidates` that exists (native() does this once, with the search path). */
export function loadNative(candidates: string[]): NativeApi {
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new MaplbError(
      "E_NATIVE_MISSING",
      `the native library is not built (looked for ${candidates.join(", ")}); run npm run build`,
      { candidates },
    );
  }
  const lib = koffi.load(path);
  declareNamedTypes();
  const mapInfoType = abiStruct("maplb_map_info");
  const f = (decl: string) => lib.func(decl);

  const mapCount = f("int maplb_map_count(void)");
  const mapInfo = lib.func("maplb_map_info", "int", ["uint32_t", koffi.out(koffi.pointer(mapInfoType))]);
  const openEmulated = f("int maplb_open_emulated(const uint32_t *max, _Out_ maplb_dp **out)");
  const openKernel = f(
    "int maplb_open_kernel(const char *obj, const char *pin, const uint32_t *max, _Out_ maplb_dp **out)",
  );
  const close = f("void maplb_close(maplb_dp *dp)");
  const maxEntries = f("int maplb_max_entries(maplb_dp *dp, uint32_t id)");
  const lookup = f("int maplb_lookup(maplb_dp *dp, uint32_t id, const void *key, void *value)");
  const lookupMany = f(
    "int maplb_lookup_many(maplb_dp *dp, uint32_t id, const void *keys, uint32_t keys_len, void *values, uint32_t values_len, uint8_t *found, uint32_t n)",
  );
  const update = f(
    "int maplb_update(maplb_dp *dp, uint32_t id, const void *key, const void *value, uint64_t flags)",
  );
  const del = f("int maplb_delete(maplb_dp *dp, uint32_t id, const void *key)");
  const getNextKey = f("int maplb_get_next_key(maplb_dp *dp, uint32_t id, const void *key, void *next)");
  const updateBatch = f(
    "int maplb_update_batch(maplb_dp *dp, uint32_t id, const void *keys, uint32_t keys_len, const void *values, uint32_t values_len, uint32_t *count, uint64_t flags)",
  );
  const process = f(
    "int maplb_process(maplb_dp *dp, uint8_t *frames, uint32_t frames_len, const uint32_t *offsets, const uint32_t *lengths, const uint8_t *csum_partial, uint8_t *verdicts, uint8_t *reasons, uint32_t n)",
  );
  const setClock = f("int maplb_set_clock(maplb_dp *dp, uint64_t now)");
  const testRun = f(
    "int maplb_test_run(maplb_dp *dp, int prog, const uint8_t *frame, uint32_t len, uint8_t *out, uint32_t *out_len, uint32_t repeat, _Out_ uint32_t *retval, _Out_ uint32_t *ns)",
  );
  const icmpUnreachable = f("int maplb_icmp_unreachable(const uint8_t *frame, uint32_t len, uint8_t *out)");
  const bench = f(
    "int maplb_bench(maplb_dp *dp, const uint8_t *frame, uint32_t len, uint32_t repeat, int mode, uint64_t *ns)",
  );
  const lastBatchNs = f("uint64_t maplb_last_batch_ns(maplb_dp *dp)");
  const xdpLive = f(
    "int maplb_xdp_live(maplb_dp *dp, const char *netns, const uint8_t *frame, uint32_t len, uint32_t repeat, int mode, _Out_ uint32_t *ns)",
  );
  const ifindex = f("int maplb_ifindex(const char *name)");
  const attachXdp = f("int maplb_attach_xdp(maplb_dp *dp, int ifindex, uint32_t flags)");
  const detachXdp = f("int maplb_detach_xdp(int ifindex, uint32_t flags)");
  const attachTc = f("int maplb_attach_tc(maplb_dp *dp, int ifindex, int egress)");
  const detachTc = f("int maplb_detach_tc(int ifindex, int egress)");
  const sockXlate4 = f(
    "int maplb_sock_xlate4(maplb_dp *dp, uint64_t cookie, uint32_t saddr, uint32_t client, uint32_t daddr, uint16_t dport, uint8_t proto, uint32_t *out)",
  );
  const sockRev4 = f("int maplb_sock_rev4(maplb_dp *dp, uint64_t cookie, uint32_t *addr_port)");
  const sockBench = f(
    "int maplb_sock_bench(maplb_dp *dp, uint32_t daddr, uint16_t dport, uint8_t proto, uint32_t repeat, uint64_t *ns)",
  );
  const attachSock = f("int maplb_attach_sock(maplb_dp *dp, const char *cgroup, int hostns_only)");
  const detachSock = f("int maplb_detach_sock(const char *cgroup)");
  const sockAttached = f("int maplb_sock_attached(const char *cgroup)");
  const lockFile = f("int maplb_lock_file(const char *path, uint32_t timeout_ms, _Out_ int *holder)");
  const unlockFile = f("int maplb_unlock_file(const char *path, int fd)");
  const iptOpen = f(
    "int maplb_ipt_open(const void *rules, uint32_t rule_count, const void *chains, uint32_t chain_count, uint32_t entry, const void *local, uint32_t local_count, uint64_t seed, _Out_ maplb_ipt **out)",
  );
  const iptEval = f(
    "int maplb_ipt_eval(maplb_ipt *ipt, const void *packets, uint32_t n, uint64_t now, void *results, uint32_t *path, uint32_t path_cap)",
  );
  const iptClose = f("void maplb_ipt_close(maplb_ipt *ipt)");
  const maglevFill = f(
    "int maplb_maglev_fill(const uint32_t *offsets, const uint32_t *skips, const uint32_t *ids, uint32_t n, uint32_t m, uint32_t last, uint32_t *rows)",
  );
  const abiSizeof = f("long maplb_abi_sizeof(const char *type)");
  const abiOffsetof = f("long maplb_abi_offsetof(const char *type, const char *field)");
  const abiConstant = f("long maplb_abi_constant(const char *name)");

  routeLibbpfLog(lib);

  const opened = (fn: (out: unknown[]) => number) => {
    const out: unknown[] = [null];
    const err = fn(out);
    return { err, dp: out[0] };
  };

  // The batch calls' buffers must hold exactly what the count says: checked here, before the
  // native code would read or write past them (the library checks the byte lengths again).
  const mapShapes: { key: number; value: number }[] = [];
  const shape = (id: number) => {
    if (!mapShapes[id]) {
      const out: unknown[] = [{}];
      if ((mapInfo(id, out) as number) < 0) throw new MaplbError("E_USAGE", `no map with id ${id}`, { id });
      const info = out[0] as { key_size: number; value_size: number };
      mapShapes[id] = { key: info.key_size, value: info.value_size };
    }
    return mapShapes[id];
  };

  return {
    path,
    mapCount: () => mapCount() as number,
    mapInfo: (id) => {
      const out: unknown[] = [{}];
      const err = mapInfo(id, out) as number;
      if (err < 0) throw new MaplbError("E_NATIVE", `no map with id ${id}`, { id, err });
      return out[0] as ReturnType<NativeApi["mapInfo"]>;
    },
    openEmulated: (max) => opened((out) => openEmulated(max, out) as number),
    openKernel: (obj, pin, max) => opened((out) => openKernel(obj, pin, max, out) as number),
    close: (dp) => close(dp) as void,
    maxEntries: (dp, id) => maxEntries(dp, id) as number,
    lookup: (dp, id, key, value) => lookup(dp, id, key, value) as number,
    lookupMany: (dp, id, keys, values, found, n) => {
      const { key, value } = shape(id);
      expectLength("maplb_lookup_many keys", keys.length, n * key);
      expectLength("maplb_lookup_many values", values.length, n * value);
      expectLength("maplb_lookup_many found", found.length, n);
      return lookupMany(dp, id, keys, keys.length, values, values.length, found, n) as number;
    },
    update: (dp, id, key, value, flags) => update(dp, id, key, value, flags) as number,
    delete: (dp, id, key) => del(dp, id, key) as number,
    getNextKey: (dp, id, key, next) => getNextKey(dp, id, key, next) as number,
    updateBatch: (dp, id, keys, values, count, flags) => {
      const { key, value } = shape(id);
      const n = count[0] ?? 0;
      expectLength("maplb_update_batch keys", keys.length, n * key);
      expectLength("maplb_update_batch values", values.length, n * value);
      return updateBatch(dp, id, keys, keys.length, values, values.length, count, flags) as number;
    },
    process: (dp, frames, offsets, lengths, csumPartial, verdicts, reasons, n) => {
      for (const [what, array] of [
        ["offsets", offsets],
        ["lengths", lengths],
        ["verdicts", verdicts],
        ["reasons", reasons],
        ...(csumPartial ? [["csumPartial", csumPartial] as const] : []),
      ] as const)
        expectLength(`maplb_process ${what}`, array.length, n);
      for (let i = 0; i < n; i++) {
        if (offsets[i]! + lengths[i]! > frames.length) {
          throw new MaplbError(
            "E_USAGE",
            `maplb_process: frame ${i} (offset ${offsets[i]}, length ${lengths[i]}) ends past the ${frames.length}-byte buffer`,
          );
        }
      }
      return process(
        dp,
        frames,
        frames.length,
        offsets,
        lengths,
        csumPartial,
        verdicts,
        reasons,
        n,
      ) as number;
    },
    setClock: (dp, now) => setClock(dp, now) as number,
    testRun: (dp, prog, frame, output, outLength, repeat, out) => {
      const retval = [0];
      const ns = [0];
      const err = testRun(dp, prog, frame, frame.length, output, outLength, repeat, retval, ns) as number;
      out[0] = retval[0] ?? 0;
      out[1] = ns[0] ?? 0;
      return err;
    },
    icmpUnreachable: (frame, out) => icmpUnreachable(frame, frame.length, out) as number,
    bench: (dp, frame, repeat, mode, out) => bench(dp, frame, frame.length, repeat, mode, out) as number,
    lastBatchNs: (dp) => BigInt(lastBatchNs(dp) as number | bigint),
    xdpLive: (dp, netns, frame, repeat, mode, out) => {
      const ns = [0];
      const err = xdpLive(dp, netns, frame, frame.length, repeat, mode, ns) as number;
      out[0] = ns[0] ?? 0;
      return err;
    },
    ifindex: (name) => ifindex(name) as number,
    attachXdp: (dp, ifindex, flags) => attachXdp(dp, ifindex, flags) as number,
    detachXdp: (ifindex, flags) => detachXdp(ifindex, flags) as number,
    attachTc: (dp, ifindex, egress) => attachTc(dp, ifindex, egress ? 1 : 0) as number,
    detachTc: (ifindex, egress) => detachTc(ifindex, egress ? 1 : 0) as number,
    sockXlate4: (dp, cookie, saddr, client, daddr, dport, proto, out) => {
      expectLength("maplb_sock_xlate4 out", out.length, 4);
      return sockXlate4(dp, cookie, saddr, client, daddr, dport, proto, out) as number;
    },
    sockRev4: (dp, cookie, addrPort) => {
      expectLength("maplb_sock_rev4 addr_port", addrPort.length, 2);
      return sockRev4(dp, cookie, addrPort) as number;
    },
    sockBench: (dp, daddr, dport, proto, repeat, out) =>
      sockBench(dp, daddr, dport, proto, repeat, out) as number,
    attachSock: (dp, cgroup, hostnsOnly) => attachSock(dp, cgroup, hostnsOnly ? 1 : 0) as number,
    detachSock: (cgroup) => detachSock(cgroup) as number,
    sockAttached: (cgroup) => sockAttached(cgroup) as number,
    lockFile: (path, timeoutMs) => {
      const holder = [0];
      const fd = lockFile(path, timeoutMs, holder) as number;
      return { fd, holderPid: holder[0] ?? 0 };
    },
    unlockFile: (path, fd) => unlockFile(path, fd) as number,
    iptOpen: (rules, ruleCount, chains, chainCount, entry, local, localCount, seed) => {
      const out: unknown[] = [null];
      const err = iptOpen(
        rules,
        ruleCount,
        chains,
        chainCount,
        entry,
        local,
        localCount,
        seed,
        out,
      ) as number;
      return { err, handle: out[0] };
    },
    iptEval: (handle, packets, n, now, results, path, pathCap) =>
      iptEval(handle, packets, n, now, results, path, pathCap) as number,
    iptClose: (handle) => iptClose(handle) as void,
    maglevFill: (offsets, skips, ids, last, rows) => {
      expectLength("maplb_maglev_fill offsets", offsets.length, ids.length);
      expectLength("maplb_maglev_fill skips", skips.length, ids.length);
      return maglevFill(offsets, skips, ids, ids.length, rows.length, last, rows) as number;
    },
    abiSizeof: (type) => abiSizeof(type) as number,
    abiOffsetof: (type, field) => abiOffsetof(type, field) as number,
    abiConstant: (name) => abiConstant(name) as number,
  };
}

/** A buffer handed to the library must be exactly as long as the call's count makes it. */
function expectLength(what: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new MaplbError("E_USAGE", `${what}: ${actual} bytes or items where the count needs ${expected}`, {
      what,
      actual,
      expected,
    });
  }
}

let logFnType: TypeObject | undefined;

/** koffi's named types are process-wide: declared once, whichever library is loaded. */
function declareNamedTypes(): void {
  if (logFnType) return;
  koffi.pointer("maplb_dp", koffi.opaque());
  koffi.pointer("maplb_ipt", koffi.opaque());
  logFnType = koffi.proto("void maplb_log_fn(int level, const char *msg)");
}

/** libbpf's messages go to pino: warnings as warn, info as info, debug as debug. */
function routeLibbpfLog(lib: LibraryHandle): void {
  const LogFn = logFnType!;
  const setLog = lib.func("void maplb_set_log(maplb_log_fn *fn)");
  const callback = koffi.register((level: number, msg: string) => {
    const line = msg.trimEnd();
    if (level === 0) log.warn({ source: "libbpf" }, line);
    else if (level === 1) log.info({ source: "libbpf" }, line);
    else log.debug({ source: "libbpf" }, line);
  }, koffi.pointer(LogFn));
  setLog(callback);
}
