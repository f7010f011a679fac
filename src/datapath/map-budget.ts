// Checking --map-max before any map is created. Both targets preallocate: the kernel's hash maps
// take all their elements at creation, and the emulated maps calloc() a pool and thread a free list
// through it (so every page is touched). A size too large for memory does not fail cleanly there:
// the host swaps, or the OOM killer ends some other process. So the sizes are checked first, against
// the kernel's own limits and against the memory this process may still take, and refused with a
// message that names the map, what it would need and which limit applies.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MaplbError } from "../errors.js";
import { formatBytes } from "../k8s/input.js";
import { MAP_NAMES } from "./abi.js";
import { native } from "./binding.js";
import { maxEntriesArray, type MapMax } from "./options.js";

/** The bpf_map_type values of the ABI's maps (linux/bpf.h). */
const MapType = { HASH: 1, ARRAY: 2, PERCPU_HASH: 5, PERCPU_ARRAY: 6, LRU_HASH: 9, LPM_TRIE: 11 };

export interface MapShape {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
}

export type Target = "kernel" | "emulated";

const round8 = (n: number): number => Math.ceil(n / 8) * 8;
const pow2AtLeast = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

const isHash = (t: number): boolean =>
  t === MapType.HASH || t === MapType.PERCPU_HASH || t === MapType.LRU_HASH;
const isPercpu = (t: number): boolean => t === MapType.PERCPU_HASH || t === MapType.PERCPU_ARRAY;

/**
 * The kernel's hash maps keep a bucket array of roundup_pow_of_two(max_entries) 16-byte buckets whose
 * size must fit a u32 (kernel/bpf/hashtab.c), so max_entries stops at 2^27; larger is E2BIG.
 */
export const KERNEL_HASH_MAX_ENTRIES = 2 ** 27;

/** Why the kernel would refuse this size, or null. */
export function kernelLimit(shape: MapShape, entries: number): string | null {
  if (isHash(shape.type) && entries > KERNEL_HASH_MAX_ENTRIES)
    return (
      `${shape.name} would have ${entries} entries; the kernel allows a hash map at most ` +
      `${KERNEL_HASH_MAX_ENTRIES} (2^27: its bucket array must fit in 4 GiB), larger is E2BIG`
    );
  return null;
}

/** Bytes a map takes at creation, about. `cpus`: possible CPUs (per-CPU values are kept per CPU). */
export function preallocatedBytes(shape: MapShape, entries: number, target: Target, cpus: number): number {
  const key = round8(shape.keySize);
  const value = round8(shape.valueSize);
  const arrayed = shape.type === MapType.ARRAY || shape.type === MapType.PERCPU_ARRAY;
  if (target === "emulated") {
    // sim_map.c: one CPU; arrays are a value array, the rest a pool of 24-byte-headed elements, a
    // 4-byte free-list entry each, and 8-byte slots, a power of two above 1.5 × the entries.
    if (arrayed) return entries * value;
    return entries * (round8(24 + key + value) + 4) + 8 * pow2AtLeast(Math.floor(1.5 * entries) + 1);
  }
  const perEntryValue = isPercpu(shape.type) ? value * cpus : value;
  if (arrayed) return entries * perEntryValue;
  if (shape.type === MapType.LPM_TRIE) return 0; // BPF_F_NO_PREALLOC: nodes come with each insert
  // hashtab.c: a htab_elem (about 48 bytes) + key + value (per-CPU: a pointer) per element, and the buckets.
  const elem = 48 + key + (isPercpu(shape.type) ? 8 : value);
  const percpu = isPercpu(shape.type) ? perEntryValue : 0;
  return entries * (elem + percpu) + 16 * pow2AtLeast(entries);
}

export interface Headroom {
  bytes: number;
  /** Where it comes from, e.g. "MemAvailable in /proc/meminfo". */
  source: string;
}

/** Number of possible CPUs ("0-127" in /sys/devices/system/cpu/possible): per-CPU maps take one value each. */
export function possibleCpus(): number {
  try {
    const text = readFileSync("/sys/devices/system/cpu/possible", "utf8").trim();
    return text.split(",").reduce((n, part) => {
      const [a, b] = part.split("-").map(Number);
      return n + (b === undefined ? 1 : b - a! + 1);
    }, 0);
  } catch {
    return 1;
  }
}

/**
 * What this process may still allocate: the host's MemAvailable and the tightest memory cgroup.
 * `root`: where /proc and /sys are (tests give a directory tree of their own).
 */
export function memoryHeadroom(root = "/"): Headroom[] {
  const read = fileReader(root);
  const out: Headroom[] = [];
  const avail = /^MemAvailable:\s+(\d+) kB/m.exec(read("/proc/meminfo") ?? "");
  if (avail) out.push({ bytes: Number(avail[1]) * 1024, source: "the host's MemAvailable" });
  const cgroup = cgroupHeadroom(read);
  if (cgroup) out.push(cgroup);
  return out;
}

export type Read = (path: string) => string | null;

/** Reads files under `root` as text; a file that cannot be read is null. */
export function fileReader(root = "/"): Read {
  return (path) => {
    try {
      return readFileSync(join(root, path), "utf8");
    } catch {
      return null;
    }
  };
}

/** Mount points of cgroup2 and of the v1 memory controller, from /proc/self/mountinfo. */
export function cgroupMounts(read: Read): { v2?: string; v1?: string } {
  const out: { v2?: string; v1?: string } = {};
  for (const line of (read("/proc/self/mountinfo") ?? "").split("\n")) {
    const [left, right] = line.split(" - ");
    const mountPoint = left?.split(" ")[4];
    const [fstype, , options] = right?.split(" ") ?? [];
    if (!mountPoint) continue;
    if (fstype === "cgroup2") out.v2 ??= mountPoint;
    if (fstype === "cgroup" && options?.split(",").includes("memory")) out.v1 ??= mountPoint;
  }
  return out;
}

/**
 * The tightest memory cgroup limit above this process, minus what is used under it: cgroup v2 walks
 * memory.max − memory.current up to the root; v1 reads hierarchical_memory_limit (the smallest limit
 * on the path) − memory.usage_in_bytes. No limit: null.
 */
function cgroupHeadroom(read: Read): Headroom | null {
  const mounts = cgroupMounts(read);
  const lines = (read("/proc/self/cgroup") ?? "").split("\n").map((l) => l.split(":"));
  const v1Path = lines.find((l) => l[1]?.split(",").includes("memory"))?.[2];
  const v2Path = lines.find((l) => l[0] === "0" && l[1] === "")?.[2];
  if (mounts.v1 && v1Path !== undefined) {
    // Inside a cgroup namespace the path may not exist under the mount: its root is then ours.
    const dir = [join(mounts.v1, v1Path), mounts.v1].find((d) => read(join(d, "memory.stat")) !== null);
    const stat = dir === undefined ? "" : read(join(dir, "memory.stat"))!;
    const limit = Number(/^hierarchical_memory_limit (\d+)/m.exec(stat)?.[1]);
    const usage = dir === undefined ? NaN : Number(read(join(dir, "memory.usage_in_bytes")));
    // "No limit" is 2^63 rounded down to a page: anything that large is no limit.
    if (limit < 2 ** 62 && !Number.isNaN(usage))
      return {
        bytes: Math.max(0, limit - usage),
        source: `the memory cgroup ${dir} (limit ${formatBytes(limit)}, ${formatBytes(usage)} in use)`,
      };
  }
  if (mounts.v2 && v2Path !== undefined) {
    let best: Headroom | null = null;
    for (let p = v2Path; ; p = p.slice(0, p.lastIndexOf("/"))) {
      const dir = join(mounts.v2, p);
      const max = read(join(dir, "memory.max"))?.trim();
      const current = Number(read(join(dir, "memory.current")));
      if (max && max !== "max" && !Number.isNaN(current)) {
        const bytes = Math.max(0, Number(max) - current);
        if (!best || bytes < best.bytes)
          best = {
            bytes,
            source: `the memory cgroup ${dir} (memory.max ${formatBytes(Number(max))}, memory.current ${formatBytes(current)})`,
          };
      }
      if (p === "" || p === "/") break;
    }
    return best;
  }
  return null;
}

export interface BudgetInput {
  shapes: readonly MapShape[];
  /** Max entries per map id, as the native library resolves them. */
  entries: readonly number[];
  target: Target;
  /** Maps that exist already (pinned): they are reused, not allocated. */
  existing?: ReadonlySet<string>;
  headroom: readonly Headroom[];
  cpus: number;
}

/** Throws E_USAGE, naming the map, its need and the limit, when these sizes cannot be created safely. */
export function checkMapBudget(b: BudgetInput): void {
  const fresh = b.shapes.map((s, id) => ({ s, n: b.entries[id]! })).filter((m) => !b.existing?.has(m.s.name));
  if (b.target === "kernel")
    for (const { s, n } of fresh) {
      const why = kernelLimit(s, n);
      if (why)
        throw new MaplbError("E_USAGE", `--map-max: ${why}; lower --map-max`, { map: s.name, entries: n });
    }
  const needs = fresh
    .map(({ s, n }) => ({ name: s.name, n, bytes: preallocatedBytes(s, n, b.target, b.cpus) }))
    .sort((x, y) => y.bytes - x.bytes);
  const total = needs.reduce((sum, m) => sum + m.bytes, 0);
  const tightest = [...b.headroom].sort((x, y) => x.bytes - y.bytes)[0];
  if (!tightest || total <= tightest.bytes) return;
  const top = needs[0]!;
  throw new MaplbError(
    "E_USAGE",
    `--map-max: the ${b.target} maps would take about ${formatBytes(total)} at creation ` +
      `(the largest, ${top.name}: ${formatBytes(top.bytes)} for ${top.n} entries), but ` +
      `${tightest.source} leaves only ${formatBytes(tightest.bytes)}; lower --map-max`,
    { map: top.name, entries: top.n, bytes: total, headroom: tightest.bytes },
  );
}

/** Maps whose size the native library fixes, whatever is asked (maplb_resolve_max_entries in maps.c). */
const FIXED_SIZE = new Set(["maplb_config", "maplb_counters"]);

/**
 * The max_entries array for the native open, once checked: the sizes it will create, against the
 * kernel's limits (kernel target) and the memory left. `pinDir`: kernel maps pinned there are reused.
 */
export function checkedMaxEntries(mapMax: MapMax | undefined, target: Target, pinDir?: string): Uint32Array {
  const requested = maxEntriesArray(mapMax);
  const api = native();
  const infos = MAP_NAMES.map((_, id) => api.mapInfo(id));
  checkMapBudget({
    shapes: infos.map((i) => ({ name: i.name, type: i.type, keySize: i.key_size, valueSize: i.value_size })),
    entries: infos.map((i, id) => (FIXED_SIZE.has(i.name) ? 0 : requested[id]) || i.default_max_entries),
    target,
    existing: new Set(pinDir ? MAP_NAMES.filter((name) => existsSync(join(pinDir, name))) : []),
    headroom: memoryHeadroom(),
    cpus: target === "kernel" ? possibleCpus() : 1,
  });
  return requested;
}
