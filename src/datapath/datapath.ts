// The Datapath interface: what the control plane, the CLI and the benchmark see of either target.
import type { MapOp } from "../compile/tables.js";
import type { ReasonName, VerdictName } from "./abi.js";
import type { ApplySummary } from "./apply.js";
import type { MapsDump } from "./dump.js";
import type { NativeMaps } from "./native-maps.js";

export type DatapathKind = "kernel" | "emulated";

export interface PacketResult {
  verdict: VerdictName;
  reason: ReasonName;
}

/** Frames packed into one buffer: frame i is buffer[offsets[i], offsets[i] + lengths[i]). */
export interface PacketBatch {
  buffer: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  /** Per frame, 1 when it is CHECKSUM_PARTIAL (as TC sees a local socket's packets): its L4
   * checksum field holds the pseudo-header's sum. Emulated only. */
  csumPartial?: Uint8Array;
}

/** Raw results of a packed batch: enum maplb_verdict / maplb_reason values per frame. */
export interface BatchResult {
  verdicts: Uint8Array;
  reasons: Uint8Array;
}

/** Node-level state the MapOps do not carry: node_addrs, node_addrs6 and maplb_config. */
export interface NodeSettings {
  /** Addresses a NodePort wildcard frontend answers on, of either family (IPv6 ones go to node_addrs6). */
  nodeIPs: string[];
  /** IPv4 sources inside it use the INT scope of TWO_SCOPES frontends; null: none. */
  clusterCIDR: string | null;
  /** The same for IPv6 sources (maplb_config.cluster_cidr6_*); absent or null: none. */
  clusterCIDR6?: string | null;
  /** Flow hash seed: the same seed gives the same backend choices on every target. */
  hashSeed: number;
  /**
   * This node's address for source NAT where kube-proxy masquerades (hairpin, and backends on other
   * nodes of masquerading frontends: native/datapath/snat.h). Absent or null: no SNAT of IPv4 flows.
   */
  snatIP?: string | null;
  /** The same for IPv6 flows (maplb_config.snat6_addr); absent or null: no SNAT of IPv6 flows. */
  snatIP6?: string | null;
  /** The ports SNAT allocates from, both families (default SNAT_PORTS). */
  snatPorts?: PortRange;
}

export interface PortRange {
  min: number;
  max: number;
}

export interface BackendCounters {
  packets: bigint;
  bytes: bigint;
}

export interface DatapathStats {
  verdicts: Record<VerdictName, bigint>;
  reasons: Record<ReasonName, bigint>;
  backends: Map<number, BackendCounters>;
}

export interface Datapath {
  readonly kind: DatapathKind;
  /** One line for people: which target, and where its maps are. */
  readonly description: string;
  /** The maps themselves, by name (tests, `maplb list`, simulated-vs-real comparisons). */
  readonly maps: NativeMaps;
  /** Applies the MapOps in order; on failure nothing is left changed and a MaplbError is thrown. */
  apply(ops: readonly MapOp[]): ApplySummary;
  configure(settings: NodeSettings): void;
  /** Runs frames through the pipeline in one native call; each frame is rewritten in place. */
  process(frames: Uint8Array[]): PacketResult[];
  /** The same on frames already packed (no copies: for benchmarks). */
  processBatch(batch: PacketBatch): BatchResult;
  /** The load-balancing maps read back and decoded. */
  dump(): MapsDump;
  stats(): DatapathStats;
  close(): void;
}
