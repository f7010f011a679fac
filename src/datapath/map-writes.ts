// MapOps (the control plane's ordered diff) as writes to the native maps, key and value in bytes.
// Each entry goes to its family's map, lb4_* or lb6_*, by its address (ops without one say their
// family); the values without an address (lb4_service, backend ids) are the same structs in both.
import { familyOfAddress, type FrontendKey, type MapOp } from "../compile/tables.js";
import type { IpFamily, Protocol } from "../model/types.js";
import { ipv4ToInt, ipv6ToBigInt, parseIpCidr } from "../util/ip.js";
import { MaplbError } from "../errors.js";
import { SRC_RANGE_PREFIX_BASE, type NativeMapName } from "./abi.js";
import { encode, u32 } from "./codec.js";

export const PROTO_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/** One element written (value) or deleted (value null), or a run of Maglev rows. */
export type MapWrite =
  | { kind: "element"; map: NativeMapName; key: Uint8Array; value: Uint8Array | null }
  | { kind: "maglev-rows"; map: MaglevMapName; offset: number; rows: Uint32Array };

/** Each family's map of each kind. */
export const FAMILY_MAPS = {
  IPv4: {
    services: "lb4_services",
    backends: "lb4_backends",
    revNat: "lb4_reverse_nat",
    maglev: "lb4_maglev",
    sourceRange: "lb4_source_range",
    nodeAddrs: "node_addrs",
  },
  IPv6: {
    services: "lb6_services",
    backends: "lb6_backends",
    revNat: "lb6_reverse_nat",
    maglev: "lb6_maglev",
    sourceRange: "lb6_source_range",
    nodeAddrs: "node_addrs6",
  },
} as const satisfies Record<IpFamily, Record<string, NativeMapName>>;

export type MaglevMapName = (typeof FAMILY_MAPS)[IpFamily]["maglev"];

/** An address field's value: a u32 for IPv4, a 128-bit bigint for IPv6 (the ABI's "in6"). */
function addressValue(address: string): number | bigint {
  return familyOfAddress(address) === "IPv6" ? ipv6ToBigInt(address) : ipv4ToInt(address);
}

/** The lb4_key or lb6_key of a frontend's slot. */
export function serviceKey(k: FrontendKey, slot: number): Uint8Array {
  return encode(familyOfAddress(k.address) === "IPv6" ? "lb6_key" : "lb4_key", {
    address: addressValue(k.address),
    dport: k.port,
    backend_slot: slot,
    proto: PROTO_NUMBER[k.protocol],
    scope: k.scope,
  });
}

/** The lb4_src_range_key or lb6_src_range_key of a CIDR (its family's). */
export function sourceRangeKey(revNatId: number, cidr: string): Uint8Array {
  const parsed = parseIpCidr(cidr);
  if (!parsed)
    throw new MaplbError("E_INPUT", `source range ${JSON.stringify(cidr)} is not an IP CIDR`, { cidr });
  return encode(parsed.family === "IPv6" ? "lb6_src_range_key" : "lb4_src_range_key", {
    prefixlen: SRC_RANGE_PREFIX_BASE + parsed.prefix,
    rev_nat_id: revNatId,
    addr: addressValue(parsed.address),
  });
}

const element = (map: NativeMapName, key: Uint8Array, value: Uint8Array | null): MapWrite => ({
  kind: "element",
  map,
  key,
  value,
});

const mapsOf = (address: string) => FAMILY_MAPS[familyOfAddress(address)];

export function writesOf(op: MapOp): MapWrite[] {
  switch (op.kind) {
    case "backend-upsert": {
      const b = op.backend;
      const v6 = familyOfAddress(b.address) === "IPv6";
      const value = encode(v6 ? "lb6_backend" : "lb4_backend", {
        address: addressValue(b.address),
        port: b.port,
        proto: PROTO_NUMBER[b.protocol],
        flags: b.flags,
      });
      return [element(mapsOf(b.address).backends, u32(b.id), value)];
    }
    case "backend-delete":
      return [element(FAMILY_MAPS[op.family ?? "IPv4"].backends, u32(op.id), null)];
    case "slot-upsert":
      return [
        element(
          mapsOf(op.key.address).services,
          serviceKey(op.key, op.slot),
          encode("lb4_service", { backend_id: op.backendId, rev_nat_id: op.revNatId }),
        ),
      ];
    case "slot-delete":
      return [element(mapsOf(op.key.address).services, serviceKey(op.key, op.slot), null)];
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
      return [element(mapsOf(op.key.address).services, serviceKey(op.key, 0), value)];
    }
    case "master-delete":
      return [element(mapsOf(op.key.address).services, serviceKey(op.key, 0), null)];
    case "revnat-upsert": {
      const { id, address, port } = op.entry;
      const struct = familyOfAddress(address) === "IPv6" ? "lb6_reverse_nat" : "lb4_reverse_nat";
      return [
        element(mapsOf(address).revNat, u32(id), encode(struct, { address: addressValue(address), port })),
      ];
    }
    case "revnat-delete":
      return [element(FAMILY_MAPS[op.family ?? "IPv4"].revNat, u32(op.id), null)];
    case "maglev-write":
      return [
        {
          kind: "maglev-rows",
          map: FAMILY_MAPS[op.family ?? "IPv4"].maglev,
          offset: op.offset,
          rows: op.rows,
        },
      ];
    case "source-range-upsert":
      return [
        element(
          mapsOf(op.entry.cidr).sourceRange,
          sourceRangeKey(op.entry.revNatId, op.entry.cidr),
          Uint8Array.of(1),
        ),
      ];
    case "source-range-delete":
      return [
        element(mapsOf(op.entry.cidr).sourceRange, sourceRangeKey(op.entry.revNatId, op.entry.cidr), null),
      ];
  }
}
