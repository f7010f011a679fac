// LbTables: the control plane's picture of the datapath's maps, as plain data.
// Each type mirrors one map of native/include/maplb_abi.h (the single definition of the layouts);
// src/datapath turns these into bytes. Everything here is per service port, so one changed Service
// recompiles and diffs only its own rows.
//
// Both families are compiled together: an entry goes to the lb4 map or the lb6 map of its kind by
// its address (familyOfAddress). Backend ids and rev-NAT ids are one space across the families, as
// Cilium's, so they need no family; Maglev offsets are per family (each family has its own array,
// see MaglevTable), and ops that carry only an id or an offset say their family.
import type { IpFamily, LbAlgorithm, Protocol } from "../model/types.js";

/** lb4_key.scope: which backend set a lookup sees. */
export const Scope = { EXT: 0, INT: 1 } as const;
export type Scope = (typeof Scope)[keyof typeof Scope];

/** lb4_service.flags on the master slot. */
export const SvcFlag = {
  NODEPORT: 1 << 0,
  EXTERNAL: 1 << 1, // LoadBalancer ingress IP or externalIP
  SOURCE_RANGE: 1 << 2, // check lb4_source_range before choosing a backend
  AFFINITY: 1 << 3, // ClientIP session affinity
  TWO_SCOPES: 1 << 4, // ETP=Local: EXT holds local backends, INT (cluster sources) holds all
} as const;

/** lb4_service.algorithm. */
export const Algorithm: Record<LbAlgorithm, number> = { random: 1, maglev: 2 };

/** lb4_backend.flags. */
export const BackendFlag = {
  TERMINATING: 1 << 0,
  LOCAL: 1 << 1, // on this node: its flows need no SNAT (native/datapath/snat.h)
} as const;

/** The frontend part of an lb4_key or lb6_key (slot 0 and slots 1..n share it). 0.0.0.0 and :: are
 * the NodePort wildcards. IPv6 addresses are in their canonical (RFC 5952) text. */
export interface FrontendKey {
  address: string;
  port: number;
  protocol: Protocol;
  scope: Scope;
}

/** Slot 0 of a frontend: everything a packet needs to pick a backend. */
export interface MasterEntry {
  count: number;
  revNatId: number;
  flags: number;
  algorithm: number;
  affinityTimeout: number;
  /** First row of this frontend's Maglev table in its family's lb4_maglev or lb6_maglev; 0 without Maglev. */
  maglevOffset: number;
  /** M; 0 without Maglev. */
  maglevSize: number;
}

/** One frontend in one scope: its master and its slots 1..count (backend ids, in slot order). */
export interface FrontendEntry {
  key: FrontendKey;
  master: MasterEntry;
  slots: number[];
  /** The backend set whose Maglev table this frontend reads ("cluster" or "local"); null without Maglev. */
  maglevTable: string | null;
}

export interface BackendEntry {
  id: number;
  address: string;
  port: number;
  protocol: Protocol;
  flags: number;
}

/** lb4_reverse_nat: replies from a backend get this frontend address back as their source. */
export interface RevNatEntry {
  id: number;
  address: string;
  port: number;
}

/**
 * One Maglev lookup table: M rows of backend ids, placed at `offset` in its family's flat array
 * (lb4_maglev or lb6_maglev). Offsets are per family, not one space: each array is sized on its
 * own (--map-max), and a shared space would leave in each array holes as large as the other
 * family's tables, so each could hold fewer rows than its size says.
 */
export interface MaglevTable {
  name: string;
  family: IpFamily;
  offset: number;
  rows: Uint32Array;
}

/** lb4_source_range (lb6_source_range for an IPv6 CIDR): an allowed source CIDR for one LoadBalancer frontend. */
export interface SourceRangeEntry {
  revNatId: number;
  cidr: string;
}

/** Everything one service port contributes to the maps. */
export interface ServicePortTables {
  /** ServicePort.id */
  id: string;
  frontends: FrontendEntry[];
  /** The backends its slots (and draining, terminating endpoints) reference. */
  backends: BackendEntry[];
  revNat: RevNatEntry[];
  maglev: MaglevTable[];
  sourceRanges: SourceRangeEntry[];
}

/** All the tables: per service port, keyed by ServicePort.id. */
export interface LbTables {
  services: Map<string, ServicePortTables>;
}

/**
 * One write to one map. The order of a MapOp list is the order it must be applied in. The family of
 * an op with an address is its address's; the others say it (absent: IPv4).
 */
export type MapOp =
  | { kind: "backend-upsert"; backend: BackendEntry }
  | { kind: "backend-delete"; id: number; family?: IpFamily }
  | { kind: "slot-upsert"; key: FrontendKey; slot: number; backendId: number; revNatId: number }
  | { kind: "slot-delete"; key: FrontendKey; slot: number }
  | { kind: "master-upsert"; key: FrontendKey; master: MasterEntry }
  | { kind: "master-delete"; key: FrontendKey }
  | { kind: "revnat-upsert"; entry: RevNatEntry }
  | { kind: "revnat-delete"; id: number; family?: IpFamily }
  | { kind: "maglev-write"; offset: number; rows: Uint32Array; family?: IpFamily }
  | { kind: "source-range-upsert"; entry: SourceRangeEntry }
  | { kind: "source-range-delete"; entry: SourceRangeEntry };

/** Which family's maps an address (or a CIDR) goes to: only IPv6 text has a colon. */
export function familyOfAddress(address: string): IpFamily {
  return address.includes(":") ? "IPv6" : "IPv4";
}

export function frontendKeyString(k: FrontendKey): string {
  return `${k.address}:${k.port}/${k.protocol}${k.scope === Scope.INT ? "/int" : ""}`;
}
