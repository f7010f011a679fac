// Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, §3.4), as Cilium uses it. Each backend gets a permutation of the M rows, derived
// from two hashes of its name (`ip:port`): it starts at `offset` and steps by `skip`. Backends take
// turns claiming their next unclaimed row until all M rows are taken. Because M is prime, every skip
// visits every row, every backend gets ⌊M/N⌋ or ⌈M/N⌉ rows, and removing one backend moves mostly the
// rows it owned. The datapath picks `rows[flowHash % M]`.
//
// Cost: a table is M u32 backend ids, 4·M bytes (64 KiB at Cilium's default M = 16381), per backend set.
import { native, type NativeApi } from "../datapath/binding.js";
import { MaplbError } from "../errors.js";
import { log } from "../log.js";
// Cilium's limit for M, defined where the annotation is validated.
import { MAX_MAGLEV_TABLE_SIZE } from "../k8s/service.js";
import { isPrime } from "../util/prime.js";
import { fmix32 } from "../util/fmix.js";

const OFFSET_SEED = 0x6d61676c; // "magl"
const SKIP_SEED = 0x65763021; // "ev0!"

/** MurmurHash3 x86_32 of the string's UTF-16 code units (backend names are ASCII, so these are its bytes). */
export function murmur3(s: string, seed: number): number {
  let h = seed >>> 0;
  const n = s.length;
  const mixBlock = (k: number): number => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, 0x1b873593);
  };
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k =
      (s.charCodeAt(i) & 0xff) |
      ((s.charCodeAt(i + 1) & 0xff) << 8) |
      ((s.charCodeAt(i + 2) & 0xff) << 16) |
      ((s.charCodeAt(i + 3) & 0xff) << 24);
    h ^= mixBlock(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let tail = 0;
  for (let j = n - 1; j >= i; j--) tail = (tail << 8) | (s.charCodeAt(j) & 0xff);
  if (n > i) h ^= mixBlock(tail);
  return fmix32(h ^ n);
}

/** A usable Maglev table size: a prime no larger than MAX_MAGLEV_TABLE_SIZE. */
export function isMaglevTableSize(m: number): boolean {
  return isPrime(m) && m <= MAX_MAGLEV_TABLE_SIZE;
}

/** Throws unless M is a usable Maglev table size. */
export function checkMaglevTableSize(m: number, where: string): void {
  if (!isMaglevTableSize(m))
    throw new MaplbError(
      "E_VALIDATION",
      `${where}: Maglev table size must be a prime up to ${MAX_MAGLEV_TABLE_SIZE} (got ${m}); ` +
        `Cilium's default is 16381, small primes include 251, 1021, 4093`,
      { where, maglevTableSize: m },
    );
}

export interface MaglevBackend {
  id: number;
  /** `ip:port`: the permutation depends only on the name, so it survives id changes and restarts. */
  name: string;
}

/** Which fill maglevRows uses: native/host/maglev.c (same rows, about twice as fast) or this file's. */
export type MaglevFill = "native" | "js";

/** The C fill once libmaplb.so has loaded; null when it is not built (the JS fill then). */
let nativeFill: NativeApi["maglevFill"] | null | undefined;

function loadNativeFill(): NativeApi["maglevFill"] | null {
  if (nativeFill === undefined) {
    try {
      nativeFill = native().maglevFill;
    } catch (err) {
      // A compile needs no kernel and no build of the C: without the library it fills in JS.
      log.debug({ err: String(err) }, "Maglev tables filled in JS: the native library did not load");
      nativeFill = null;
    }
  }
  return nativeFill;
}

/** maglevRows' bytes for the taken rows, kept for the next table. */
let scratch = new Uint8Array(0);

/**
 * Populates a Maglev table of M rows (M prime) with backend ids; 0 fills an empty table.
 * Deterministic: the same backends in the same order and the same M give the same rows.
 * `rows`: where to write them (M entries), instead of a new array. `fill`: "js" to use this
 * file's loop even when the C one is there (the test compares them).
 */
export function maglevRows(
  backends: readonly MaglevBackend[],
  m: number,
  rows: Uint32Array = new Uint32Array(m),
  fill: MaglevFill = "native",
): Uint32Array {
  const n = backends.length;
  if (n === 0) return rows.fill(0);
  // One backend's permutation visits every row, and nobody else takes any: it owns them all.
  if (n === 1) return rows.fill(backends[0]!.id);
  // position[i] is the row backend i looks at next: offset, offset+skip, offset+2·skip, … (mod M).
  // All below M < 2^31, so small integers in the loop below.
  const position = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const ids = new Uint32Array(n);
  // A plain loop, not forEach: arrays a closure captures live in a heap context, and every access
  // in the hot loop below would go through it.
  for (let i = 0; i < n; i++) {
    const b = backends[i]!;
    position[i] = murmur3(b.name, OFFSET_SEED) % m;
    skip[i] = (murmur3(b.name, SKIP_SEED) % (m - 1)) + 1;
    ids[i] = b.id;
  }
  // Probing finds a free row in about M/free steps: cheap while most rows are free, but the last
  // √M rows cost about half of all the probes. So once only ½√M rows are free, fillLastRows() picks
  // them in another way that gives the same rows. (It costs an integer % per free row per turn,
  // several probes' worth: ½√M measured 5-20% faster than √M at M = 16381 and 131071.)
  const last = Math.floor(Math.sqrt(m) / 2);
  const fillInC = fill === "native" ? loadNativeFill() : null;
  if (fillInC) {
    const err = fillInC(position, skip, ids, last, rows);
    if (err !== 0)
      throw new MaplbError("E_NATIVE", `maplb_maglev_fill: errno ${-err} for M=${m}, ${n} backends`, {
        m,
        n,
        err,
      });
    return rows;
  }
  // Which rows are taken, one byte each: a quarter of the rows' size, so the probing stays in cache.
  // Reused from table to table: allocating it for each was garbage the size of all the tables.
  if (scratch.length < m) scratch = new Uint8Array(m);
  const taken = scratch.fill(0, 0, m); // only its first M bytes are used
  let filled = 0;
  let i = 0;
  // Small integers and a conditional subtraction instead of %: this loop runs ~M·ln(M) times.
  while (m - filled > last) {
    const step = skip[i]!;
    let row = position[i]!;
    while (taken[row] !== 0) {
      row += step;
      if (row >= m) row -= m;
    }
    taken[row] = 1;
    rows[row] = ids[i]!;
    row += step;
    position[i] = row >= m ? row - m : row;
    filled++;
    i = i + 1 === n ? 0 : i + 1;
  }
  fillLastRows(rows, taken, { position, skip, ids }, i);
  return rows;
}

/**
 * Finishes a table whose free rows are few, continuing the backends' turns at backend `next`. Every
 * row before a backend's position in its permutation is taken (and stays taken), so the row probing
 * would reach is the free row that comes first in the permutation from there: the one with the
 * smallest k such that position + k·skip ≡ row (mod M), that is k = (row − position)·skip⁻¹ mod M.
 * One multiply per free row per turn, instead of about M/free probes. ((row − position)·skip⁻¹ < M²
 * ≤ 2^34: exact in a double.)
 */
function fillLastRows(
  rows: Uint32Array,
  taken: Uint8Array,
  b: { position: Uint32Array; skip: Uint32Array; ids: Uint32Array },
  next: number,
): void {
  const m = rows.length;
  const n = b.ids.length;
  const free: number[] = [];
  for (let r = 0; r < m; r++) if (taken[r] === 0) free.push(r);
  const inverse = new Map<number, number>();
  // Below √(2^31) the product fits an int32, and integer % is much cheaper than a double's.
  const small = m <= 46340;
  for (let i = next; free.length > 0; i = i + 1 === n ? 0 : i + 1) {
    const p = b.position[i]!;
    const step = b.skip[i]!;
    let inv = inverse.get(step);
    if (inv === undefined) inverse.set(step, (inv = modInverse(step, m)));
    let best = 0;
    let bestK = Infinity;
    for (let j = 0; j < free.length; j++) {
      const d = free[j]! >= p ? free[j]! - p : free[j]! - p + m;
      const k = small ? Math.imul(d, inv) % m : (d * inv) % m;
      if (k < bestK) {
        bestK = k;
        best = j;
      }
    }
    const row = free[best]!;
    rows[row] = b.ids[i]!;
    free[best] = free[free.length - 1]!;
    free.pop();
  }
}

/** x⁻¹ mod m, for m prime and 0 < x < m (extended Euclid). */
function modInverse(x: number, m: number): number {
  let [r0, r1, t0, t1] = [m, x, 0, 1];
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1);
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return ((t0 % m) + m) % m;
}
