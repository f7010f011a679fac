// The load-balancing maps of both families read back and decoded into the control plane's own shapes, for
// `maplb list` and for tests that compare what the maps hold with what was compiled.
import type {
  BackendEntry,
  FrontendKey,
  MasterEntry,
  RevNatEntry,
  Scope,
  SourceRangeEntry,
} from "../compile/tables.js";
import { IP_FAMILIES, type Protocol } from "../model/types.js";
import { bigIntToIpv6, intToIpv4 } from "../util/ip.js";
import { SRC_RANGE_PREFIX_BASE } from "./abi.js";
import { decode, readBe32, readIn6, readU32 } from "./codec.js";
import { FAMILY_MAPS, PROTO_NUMBER } from "./map-writes.js";
import type { NativeMaps } from "./native-maps.js";

export interface DumpedFrontend {
  key: FrontendKey;
  /** null when slots exist without their master (never, after a hitless apply). */
  master: MasterEntry | null;
  /** slot number → backend id, sorted by slot. */
  slots: { slot: number; backendId: number }[];
}

export interface MapsDump {
  frontends: DumpedFrontend[];
  backends: Map<number, BackendEntry>;
  revNat: RevNatEntry[];
  sourceRanges: SourceRangeEntry[];
  nodeAddrs: string[];
}

const PROTOCOLS = new Map<number, Protocol>(Object.entries(PROTO_NUMBER).map(([p, n]) => [n, p as Protocol]));

function protocolOf(n: number): Protocol {
  return PROTOCOLS.get(n) ?? "TCP";
}

/** Decoders of each family's structs: an address field's value as text. */
const FAMILY_CODEC = {
  IPv4: {
    key: "lb4_key",
    backend: "lb4_backend",
    revNat: "lb4_reverse_nat",
    srcRange: "lb4_src_range_key",
    text: (v: number | bigint) => intToIpv4(Number(v)),
  },
  IPv6: {
    key: "lb6_key",
    backend: "lb6_backend",
    revNat: "lb6_reverse_nat",
    srcRange: "lb6_src_range_key",
    text: (v: number | bigint) => bigIntToIpv6(BigInt(v)),
  },
} as const;

/** Both families' maps, decoded: IPv4 entries first, then IPv6 ones (backend and rev-NAT ids are one space). */
export function dumpMaps(maps: NativeMaps): MapsDump {
  const frontends = new Map<string, DumpedFrontend>();
  const backends = new Map<number, BackendEntry>();
  const revNat: RevNatEntry[] = [];
  const sourceRanges: SourceRangeEntry[] = [];
  const nodeAddrs: string[] = [];
  for (const family of IP_FAMILIES) {
    const codec = FAMILY_CODEC[family];
    const names = FAMILY_MAPS[family];
    for (const [k, v] of maps.entries(names.services)) {
      const key = decode(codec.key, k);
      const svc = decode("lb4_service", v);
      const fk: FrontendKey = {
        address: codec.text(key.address!),
        port: Number(key.dport),
        protocol: protocolOf(Number(key.proto)),
        scope: Number(key.scope) as Scope,
      };
      const id = `${fk.address}:${fk.port}/${fk.protocol}/${fk.scope}`;
      let fe = frontends.get(id);
      if (!fe) frontends.set(id, (fe = { key: fk, master: null, slots: [] }));
      const slot = Number(key.backend_slot);
      if (slot === 0) {
        fe.master = {
          count: Number(svc.count),
          revNatId: Number(svc.rev_nat_id),
          flags: Number(svc.flags),
          algorithm: Number(svc.algorithm),
          affinityTimeout: Number(svc.affinity_timeout),
          maglevOffset: Number(svc.maglev_offset),
          maglevSize: Number(svc.maglev_size),
        };
      } else {
        fe.slots.push({ slot, backendId: Number(svc.backend_id) });
      }
    }

    for (const [k, v] of maps.entries(names.backends)) {
      const b = decode(codec.backend, v);
      const id = readU32(k);
      backends.set(id, {
        id,
        address: codec.text(b.address!),
        port: Number(b.port),
        protocol: protocolOf(Number(b.proto)),
        flags: Number(b.flags),
      });
    }

    for (const [k, v] of maps.entries(names.revNat)) {
      const r = decode(codec.revNat, v);
      revNat.push({ id: readU32(k), address: codec.text(r.address!), port: Number(r.port) });
    }

    for (const k of maps.keys(names.sourceRange)) {
      const key = decode(codec.srcRange, k);
      const prefix = Number(key.prefixlen) - SRC_RANGE_PREFIX_BASE;
      sourceRanges.push({ revNatId: Number(key.rev_nat_id), cidr: `${codec.text(key.addr!)}/${prefix}` });
    }
  }
  for (const k of maps.keys("node_addrs")) nodeAddrs.push(intToIpv4(readBe32(k)));
  for (const k of maps.keys("node_addrs6")) nodeAddrs.push(bigIntToIpv6(readIn6(k)));
  for (const fe of frontends.values()) fe.slots.sort((a, b) => a.slot - b.slot);

  const byKey = (a: DumpedFrontend, b: DumpedFrontend) =>
    a.key.address.localeCompare(b.key.address) || a.key.port - b.key.port || a.key.scope - b.key.scope;
  return {
    frontends: [...frontends.values()].sort(byKey),
    backends,
    revNat: revNat.sort((a, b) => a.id - b.id),
    sourceRanges: sourceRanges.sort((a, b) => a.revNatId - b.revNatId || a.cidr.localeCompare(b.cidr)),
    nodeAddrs: nodeAddrs.sort(),
  };
}
