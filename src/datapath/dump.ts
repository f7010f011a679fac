// The load-balancing maps read back and decoded into the control plane's own shapes, for
// `maplb list` and for tests that compare what the maps hold with what was compiled.
import type {
  BackendEntry,
  FrontendKey,
  MasterEntry,
  RevNatEntry,
  Scope,
  SourceRangeEntry,
} from "../compile/tables.js";
import type { Protocol } from "../model/types.js";
import { intToIpv4 } from "../util/ip.js";
import { SRC_RANGE_PREFIX_BASE } from "./abi.js";
import { decode, readBe32, readU32 } from "./codec.js";
import { PROTO_NUMBER } from "./map-writes.js";
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

export function dumpMaps(maps: NativeMaps): MapsDump {
  const frontends = new Map<string, DumpedFrontend>();
  for (const [k, v] of maps.entries("lb4_services")) {
    const key = decode("lb4_key", k);
    const svc = decode("lb4_service", v);
    const fk: FrontendKey = {
      address: intToIpv4(Number(key.address)),
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
  for (const fe of frontends.values()) fe.slots.sort((a, b) => a.slot - b.slot);

  const backends = new Map<number, BackendEntry>();
  for (const [k, v] of maps.entries("lb4_backends")) {
    const b = decode("lb4_backend", v);
    const id = readU32(k);
    backends.set(id, {
      id,
      address: intToIpv4(Number(b.address)),
      port: Number(b.port),
      protocol: protocolOf(Number(b.proto)),
      flags: Number(b.flags),
    });
  }

  const revNat: RevNatEntry[] = [];
  for (const [k, v] of maps.entries("lb4_reverse_nat")) {
    const r = decode("lb4_reverse_nat", v);
    revNat.push({ id: readU32(k), address: intToIpv4(Number(r.address)), port: Number(r.port) });
  }

  const sourceRanges: SourceRangeEntry[] = [];
  for (const k of maps.keys("lb4_source_range")) {
    const key = decode("lb4_src_range_key", k);
    const prefix = Number(key.prefixlen) - SRC_RANGE_PREFIX_BASE;
    sourceRanges.push({ revNatId: Number(key.rev_nat_id), cidr: `${intToIpv4(Number(key.addr))}/${prefix}` });
  }

  const nodeAddrs = [...maps.keys("node_addrs")].map((k) => intToIpv4(readBe32(k)));

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
