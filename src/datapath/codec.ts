// ABI structs to bytes and back, laid out by the mirror (binding.ts → koffi, checked against C by
// the layout test). "be" fields are written in network byte order, the rest in host order
// (little-endian on every target maplb builds for: x86-64, arm64, bpfel).
import { ABI_STRUCTS, type FieldDef, type StructName } from "./abi.js";
import { mirrorLayout } from "./binding.js";

export type StructValue = Record<string, number | bigint>;

interface Layout {
  size: number;
  fields: { def: FieldDef; offset: number }[];
}
const layouts = new Map<StructName, Layout>();

function layout(name: StructName): Layout {
  let l = layouts.get(name);
  if (!l) {
    const mirror = mirrorLayout(name);
    l = {
      size: mirror.size,
      fields: ABI_STRUCTS[name].map((def) => ({ def, offset: mirror.offsets[def.name]! })),
    };
    layouts.set(name, l);
  }
  return l;
}

export function structSize(name: StructName): number {
  return layout(name).size;
}

/** An IPv6 address (a 128-bit bigint) at `at`, most significant byte first (network order). */
function putIn6(out: Uint8Array, at: number, v: bigint): void {
  for (let i = 15; i >= 0; i--, v >>= 8n) out[at + i] = Number(v & 0xffn);
}

/** `bytes` bytes of `v` at `at`, least significant first (host order), or most (network order). */
function put(out: Uint8Array, at: number, v: number, bytes: number, bigEndian: boolean): void {
  for (let i = 0; i < bytes; i++, v >>>= 8) out[bigEndian ? at + bytes - 1 - i : at + i] = v & 0xff;
}

/**
 * Encodes `value` into `out` at byte `at`; fields left out (padding) are zero. Byte by byte, not
 * through a DataView: creating one per call cost more than the rest of a full sync's encoding.
 */
export function encodeInto(name: StructName, value: StructValue, out: Uint8Array, at = 0): void {
  const { size, fields } = layout(name);
  out.fill(0, at, at + size);
  for (const { def, offset } of fields) {
    const v = value[def.name];
    if (v === undefined || (def.count ?? 1) !== 1) continue;
    const o = at + offset;
    switch (def.type) {
      case "u8":
      case "char":
        out[o] = Number(v) & 0xff;
        break;
      case "u16":
      case "be16":
        put(out, o, Number(v), 2, def.type === "be16");
        break;
      case "u32":
      case "be32":
        put(out, o, Number(v), 4, def.type === "be32");
        break;
      case "u64":
        new DataView(out.buffer, out.byteOffset).setBigUint64(o, BigInt(v), true);
        break;
      case "in6":
        putIn6(out, o, BigInt(v));
        break;
    }
  }
}

export function encode(name: StructName, value: StructValue): Uint8Array {
  const out = new Uint8Array(structSize(name));
  encodeInto(name, value, out);
  return out;
}

/** Decodes the scalar fields (arrays, i.e. padding and names, are skipped). u64 stays a bigint. */
export function decode(name: StructName, bytes: Uint8Array, at = 0): StructValue {
  const { size, fields } = layout(name);
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, size);
  const out: StructValue = {};
  for (const { def, offset } of fields) {
    if ((def.count ?? 1) !== 1) continue;
    out[def.name] = readField(view, def.type, offset);
  }
  return out;
}

function readField(view: DataView, type: FieldDef["type"], offset: number): number | bigint {
  switch (type) {
    case "u8":
    case "char":
      return view.getUint8(offset);
    case "u16":
      return view.getUint16(offset, true);
    case "be16":
      return view.getUint16(offset, false);
    case "u32":
      return view.getUint32(offset, true);
    case "be32":
      return view.getUint32(offset, false);
    case "u64":
      return view.getBigUint64(offset, true);
    case "in6":
      return (view.getBigUint64(offset, false) << 64n) | view.getBigUint64(offset + 8, false);
  }
}

/** Scalars that are not structs: u32 keys and values (backend and rev-NAT ids, Maglev rows), u16, u8. */
export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  put(b, 0, n, 4, false);
  return b;
}
export function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  put(b, 0, n, 4, true);
  return b;
}
/** An IPv6 address (a 128-bit bigint) as 16 bytes, network order: a node_addrs6 key. */
export function in6(n: bigint): Uint8Array {
  const b = new Uint8Array(16);
  putIn6(b, 0, n);
  return b;
}
/** The 16 bytes at `at` as a 128-bit bigint (an IPv6 address). */
export function readIn6(b: Uint8Array, at = 0): bigint {
  if (at < 0 || at + 16 > b.length) throw new RangeError(`16 bytes at ${at} of a ${b.length}-byte array`);
  const view = new DataView(b.buffer, b.byteOffset + at, 16);
  return (view.getBigUint64(0, false) << 64n) | view.getBigUint64(8, false);
}
/** Four bytes at `at`, or a RangeError (as DataView gives) when the array is shorter. */
function need4(b: Uint8Array, at: number): void {
  if (at < 0 || at + 4 > b.length) throw new RangeError(`4 bytes at ${at} of a ${b.length}-byte array`);
}
export function readU32(b: Uint8Array, at = 0): number {
  need4(b, at);
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}
export function readBe32(b: Uint8Array, at = 0): number {
  need4(b, at);
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
export function readU64(b: Uint8Array, at = 0): bigint {
  return new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);
}
