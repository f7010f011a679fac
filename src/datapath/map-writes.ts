// MapOps (the control plane's ordered diff) as writes to the native maps, key and value in bytes.
import type { FrontendKey, MapOp } from "../compile/tables.js";
import type { Protocol } from "../model/types.js";
import { ipv4ToInt, parseCidr } from "../util/ip.js";
import { MaplbError } from "../errors.js";
import { SRC_RANGE_PREFIX_BASE, type NativeMapName } from "./abi.js";
import { encode, u32 } from "./codec.js";

export const PROTO_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/** One element written (value) or deleted (value null), or a run of Maglev rows. */
export type MapWrite =
  | { kind: "element"; map: NativeMapName; key: Uint8Array; value: Uint8Array | null }
  | { kind: "maglev-rows"; offset: number; rows: Uint32Array };

export function serviceKey(k: FrontendKey, slot: number): Uint8Array {
  return encode("lb4_key", {
    address: ipv4ToInt(k.address),
    dport: k.port,
    backend_slot: slot,
    proto: PROTO_NUMBER[k.protocol],
    scope: k.scope,
  });
}

export function sourceRangeKey(revNatId: number, cidr: string): Uint8Array {
  const parsed = parseCidr(cidr);
  if (!parsed)
    throw new MaplbError("E_INPUT", `source range ${JSON.stringify(cidr)} is not an IPv4 CIDR`, { cidr });
  return encode("lb4_src_range_key", {
    prefixlen: SRC_RANGE_PREFIX_BASE + parsed.prefix,
    rev_nat_id: revNatId,
    addr: ipv4ToInt(parsed.address),
  });
}

const element = (map: NativeMapName, key: Uint8Array, value: Uint8Array | null): MapWrite => ({
  kind: "element",
  map,
  key,
  value,
});

export function writesOf(op: MapOp): MapWrite[] {
  switch (op.kind) {
    case "backend-upsert": {
      const b = op.backend;
      const value = encode("lb4_backend", {
        address: ipv4ToInt(b.address),
        port: b.port,
        proto: PROTO_NUMBER[b.protocol],
        flags: b.flags,
      });
      return [element("lb4_backends", u32(b.id), value)];
    }
    case "backend-delete":
      return [element("lb4_backends", u32(op.id), null)];
    case "slot-upsert":
      return [
        element(
          "lb4_services",
          serviceKey(op.key, op.slot),
          encode("lb4_service", { backend_id: op.backendId, rev_nat_id: op.revNatId }),
        ),
      ];
    case "slot-delete":
      return [element("lb4_services", serviceKey(op.key, op.slot), null)];
    case "master-upsert": {
      const m = op.master;
      const value = encode("lb4_service", {
        affinity_timeout: m.affinityTimeout,
        maglev_offset: m.maglevOffset,
        maglev_size: m.maglevSize,
        count: m.count,
        rev_nat_id: m.revNatId,
        flags: m.flags,
        algorithm: m.algorithm,
      });
      return [element("lb4_services", serviceKey(op.key, 0), value)];
    }
    case "master-delete":
      return [element("lb4_services", serviceKey(op.key, 0), null)];
    case "revnat-upsert":
      return [
        element(
          "lb4_reverse_nat",
          u32(op.entry.id),
          encode("lb4_reverse_nat", { address: ipv4ToInt(op.entry.address), port: op.entry.port }),
        ),
      ];
    case "revnat-delete":
      return [element("lb4_reverse_nat", u32(op.id), null)];
    case "maglev-write":
      return [{ kind: "maglev-rows", offset: op.offset, rows: op.rows }];
    case "source-range-upsert":
      return [
        element("lb4_source_range", sourceRangeKey(op.entry.revNatId, op.entry.cidr), Uint8Array.of(1)),
      ];
    case "source-range-delete":
      return [element("lb4_source_range", sourceRangeKey(op.entry.revNatId, op.entry.cidr), null)];
  }
}
