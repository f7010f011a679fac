// The Datapath over one native handle. Both targets share this: they differ only in how the
// handle is opened (emulated.ts, kernel.ts) and in what the kernel adds (attach, timed runs).
import type { MapOp } from "../compile/tables.js";
import { MaplbError } from "../errors.js";
import type { IpFamily } from "../model/types.js";
import { ipFamilyOf, ipv4ToInt, ipv6ToBigInt, parseIpCidr } from "../util/ip.js";
import {
  COUNTER_ROWS,
  counterRow,
  REASON_NAMES,
  VERDICT_NAMES,
  type ReasonName,
  type VerdictName,
} from "./abi.js";
import { applyOps, type ApplySummary } from "./apply.js";
import { be32, encode, in6, readU32, readU64, u32 } from "./codec.js";
import type {
  BackendCounters,
  BatchResult,
  Datapath,
  DatapathKind,
  DatapathStats,
  NodeSettings,
  PacketBatch,
  PacketResult,
  PortRange,
} from "./datapath.js";
import { dumpMaps, type MapsDump } from "./dump.js";
import { nativeError } from "./errno.js";
import type { DpHandle } from "./binding.js";
import { NativeMaps } from "./native-maps.js";
import { SNAT_PORTS } from "./options.js";

/** Packs frames into one buffer for a single native call. */
export function packFrames(frames: readonly Uint8Array[]): PacketBatch {
  const offsets = new Uint32Array(frames.length);
  const lengths = new Uint32Array(frames.length);
  let total = 0;
  frames.forEach((f, i) => {
    offsets[i] = total;
    lengths[i] = f.length;
    total += f.length;
  });
  const buffer = new Uint8Array(total);
  frames.forEach((f, i) => buffer.set(f, offsets[i]));
  return { buffer, offsets, lengths };
}

/** A node setting's SNAT address of the family, validated: null (SNAT off for it) when unset. */
function snatAddressOf(ip: string | null | undefined, family: IpFamily): string | null {
  if (ip === undefined || ip === null) return null;
  if (ipFamilyOf(ip) !== family || ip.includes("/"))
    throw new MaplbError("E_USAGE", `SNAT address ${JSON.stringify(ip)} is not an ${family} address`);
  return ip;
}

/** maplb_config's SNAT fields, validated: address 0 / :: (SNAT off) without an snatIP / snatIP6. */
function snatConfig(settings: NodeSettings): { addr: number; addr6: bigint; ports: PortRange } {
  const ports = settings.snatPorts ?? SNAT_PORTS;
  const ip = snatAddressOf(settings.snatIP, "IPv4");
  const ip6 = snatAddressOf(settings.snatIP6, "IPv6");
  const port = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!port(ports.min) || !port(ports.max) || ports.min > ports.max)
    throw new MaplbError(
      "E_USAGE",
      `SNAT port range ${JSON.stringify(ports)} is not min..max within 1..65535 with min <= max`,
    );
  return { addr: ip === null ? 0 : ipv4ToInt(ip), addr6: ip6 === null ? 0n : ipv6ToBigInt(ip6), ports };
}

/** The node IPs of one family. */
function nodeIPsOf(settings: NodeSettings, family: IpFamily): string[] {
  return settings.nodeIPs.filter((ip) => ipFamilyOf(ip) === family);
}

/** A cluster CIDR of the family, parsed; an E_USAGE error when it is not one. */
function clusterCidrOf(cidr: string | null, family: IpFamily): { address: string; prefix: number } | null {
  if (cidr === null) return null;
  const parsed = parseIpCidr(cidr);
  if (!parsed || parsed.family !== family)
    throw new MaplbError("E_USAGE", `cluster CIDR ${JSON.stringify(cidr)} is not an ${family} CIDR`);
  return parsed;
}

export class NativeDatapath implements Datapath {
  readonly maps: NativeMaps;
  private closed = false;

  constructor(
    readonly kind: DatapathKind,
    readonly description: string,
    handle: DpHandle,
  ) {
    this.maps = new NativeMaps(handle);
  }

  protected get handle(): DpHandle {
    if (this.closed) throw new MaplbError("E_USAGE", `the ${this.kind} datapath is closed`);
    return this.maps.handle;
  }

  apply(ops: readonly MapOp[]): ApplySummary {
    void this.handle;
    return applyOps(this.maps, ops);
  }

  /** Replaces node_addrs and node_addrs6 with settings.nodeIPs and writes maplb_config. */
  configure(settings: NodeSettings): void {
    for (const ip of settings.nodeIPs)
      if (ipFamilyOf(ip) === null || ip.includes("/"))
        throw new MaplbError("E_USAGE", `node IP ${JSON.stringify(ip)} is not an IP address`);
    const cidr = clusterCidrOf(settings.clusterCIDR ?? null, "IPv4");
    const cidr6 = clusterCidrOf(settings.clusterCIDR6 ?? null, "IPv6");
    const snat = snatConfig(settings);
    this.replaceKeys(
      "node_addrs",
      nodeIPsOf(settings, "IPv4").map((ip) => be32(ipv4ToInt(ip))),
    );
    this.replaceKeys(
      "node_addrs6",
      nodeIPsOf(settings, "IPv6").map((ip) => in6(ipv6ToBigInt(ip))),
    );
    const config = encode("maplb_config", {
      cluster_cidr_addr: cidr ? ipv4ToInt(cidr.address) : 0,
      cluster_cidr_prefix: cidr ? cidr.prefix : 0,
      cluster_cidr6_addr: cidr6 ? ipv6ToBigInt(cidr6.address) : 0n,
      cluster_cidr6_prefix: cidr6 ? cidr6.prefix : 0,
      hash_seed: settings.hashSeed >>> 0,
      snat_addr: snat.addr,
      snat6_addr: snat.addr6,
      snat_port_min: snat.ports.min,
      snat_port_max: snat.ports.max,
    });
    this.maps.update("maplb_config", u32(0), config);
  }

  /** Makes a set map (node_addrs, node_addrs6: key → 1) hold exactly `keys`. */
  private replaceKeys(map: "node_addrs" | "node_addrs6", keys: Uint8Array[]): void {
    const name = (k: Uint8Array) => k.join(",");
    const wanted = new Set(keys.map(name));
    for (const key of [...this.maps.keys(map)]) if (!wanted.has(name(key))) this.maps.delete(map, key);
    for (const key of keys) this.maps.update(map, key, Uint8Array.of(1));
  }

  process(frames: Uint8Array[]): PacketResult[] {
    const batch = packFrames(frames);
    const { verdicts, reasons } = this.processBatch(batch);
    frames.forEach((f, i) => f.set(batch.buffer.subarray(batch.offsets[i], batch.offsets[i]! + f.length)));
    return [...verdicts].map((v, i) => ({
      verdict: VERDICT_NAMES[v] ?? ("PASS" as VerdictName),
      reason: REASON_NAMES[reasons[i]!] ?? ("OK" as ReasonName),
    }));
  }

  processBatch(batch: PacketBatch): BatchResult {
    const n = batch.offsets.length;
    const verdicts = new Uint8Array(n);
    const reasons = new Uint8Array(n);
    const err = this.maps.api.process(
      this.handle,
      batch.buffer,
      batch.offsets,
      batch.lengths,
      batch.csumPartial ?? null,
      verdicts,
      reasons,
      n,
    );
    if (err < 0) throw nativeError(err, `running ${n} packets through the ${this.kind} datapath`);
    return { verdicts, reasons };
  }

  dump(): MapsDump {
    void this.handle;
    return dumpMaps(this.maps);
  }

  stats(): DatapathStats {
    const rows = new Uint8Array(COUNTER_ROWS * 4);
    for (let i = 0; i < COUNTER_ROWS; i++) rows.set(u32(i), i * 4);
    const { values } = this.maps.lookupMany("maplb_counters", rows, COUNTER_ROWS);
    const verdicts = Object.fromEntries(VERDICT_NAMES.map((name) => [name, 0n])) as Record<
      VerdictName,
      bigint
    >;
    const reasons = Object.fromEntries(REASON_NAMES.map((name) => [name, 0n])) as Record<ReasonName, bigint>;
    VERDICT_NAMES.forEach((verdict, v) =>
      REASON_NAMES.forEach((reason, r) => {
        const packets = readU64(values, counterRow(v, r) * 8);
        verdicts[verdict] += packets;
        reasons[reason] += packets;
      }),
    );
    const backends = new Map<number, BackendCounters>();
    for (const [k, v] of this.maps.entries("lb4_backend_stats")) {
      backends.set(readU32(k), { packets: readU64(v, 0), bytes: readU64(v, 8) });
    }
    return { verdicts, reasons, backends };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.maps.api.close(this.maps.handle);
  }
}
