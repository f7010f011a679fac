// How the lab's veths carry traffic, chosen per run. veth's defaults hide what a real node sees: the
// sender leaves TCP/UDP checksums to "the hardware" (CHECKSUM_PARTIAL: the checksum field holds only a
// pseudo-header seed), veth hands the packet on unchecked, and the receiver trusts it. A datapath that
// rewrites such a packet as if the checksum were complete still works in a veth lab and breaks on a
// node whose NIC completes the checksum. So the lab can set, on every veth end it creates:
//
//   --checksum default  the kernel's: tx and rx offload on; nothing is ever verified
//              off      tx and rx offload off everywhere: every sender computes checksums in software,
//                       every receiver verifies them (a bad one is counted by nstat and dropped)
//              partial  pods and external clients send CHECKSUM_PARTIAL (tx on) as real pods do; the
//                       nodes' ends have tx off, so a node completes the checksum from the seed in
//                       software as a NIC does in hardware; every receiver verifies (rx off)
//   --gso on|off        generic and TCP segmentation offload (TSO only takes where tx checksum is on;
//                       a veth whose peer has an XDP program gets no GSO at all, the kernel's rule)
//   --pod-mtu MTU[@NODE]  a smaller MTU on both ends of the pod veths of one node (default the last).
//                       The pods there still advertise the MSS of a 1500-byte path (advmss on their
//                       routes), so the narrow hop is invisible to TCP's handshake: a sender learns it
//                       only from the node's ICMP "fragmentation needed", which must find its way back
//                       through the Service's NAT (path MTU discovery through the Service).
import { spawnSync } from "node:child_process";
import { MaplbError } from "../errors.js";
import type { Topology } from "../netns/netns.js";

export const CHECKSUM_MODES = ["default", "off", "partial"] as const;
export type ChecksumMode = (typeof CHECKSUM_MODES)[number];
export const GSO_MODES = ["default", "on", "off"] as const;
export type GsoMode = (typeof GSO_MODES)[number];

export interface LinkSettings {
  checksum: ChecksumMode;
  gso: GsoMode;
  /** A smaller MTU on the pod veths of one node, or null for 1500 everywhere. */
  podMtu: { mtu: number; node: string } | null;
}

export const DEFAULT_LINKS: LinkSettings = { checksum: "default", gso: "default", podMtu: null };

/** The MSS a pod advertises under --pod-mtu: that of a standard 1500-byte Ethernet path. */
export const ETHERNET_ADVMSS = 1460;
export const POD_MTU_MIN = 576;
export const POD_MTU_MAX = 1500;

/** A pod's or external client's end of a veth, or a node's. */
export type VethSide = "host" | "node";

export interface VethEnd {
  ns: string;
  ifname: string;
  side: VethSide;
}

/** `MTU` or `MTU@NODE`, validated; the node is checked against the plan later. */
export function parsePodMtu(v: string): { mtu: number; node: string | null } {
  const m = /^(\d{3,4})(?:@([A-Za-z0-9][A-Za-z0-9.-]{0,62}))?$/.exec(v);
  const mtu = Number(m?.[1]);
  if (!m || mtu < POD_MTU_MIN || mtu > POD_MTU_MAX)
    throw new MaplbError(
      "E_USAGE",
      `--pod-mtu expects MTU[@NODE] with MTU ${POD_MTU_MIN}..${POD_MTU_MAX}, got '${v.slice(0, 80)}'`,
    );
  return { mtu, node: m[2] ?? null };
}

/**
 * The ethtool -K arguments for one end. "default" is spelled out (veth's own defaults), so that
 * `lab tune` can go back to it on a running lab.
 */
function offloadArgs(links: LinkSettings, side: VethSide): { checksum: string[]; segmentation: string[] } {
  const tx = { default: "on", off: "off", partial: side === "host" ? "on" : "off" }[links.checksum];
  const rx = links.checksum === "default" ? "on" : "off";
  const gso = links.gso === "off" ? "off" : "on";
  return { checksum: ["tx", tx, "rx", rx], segmentation: ["gso", gso, "tso", gso] };
}

/** Whether a lab being built must touch its veths' offloads (the kernel's defaults need no ethtool). */
export function changesOffloads(links: LinkSettings | undefined): boolean {
  return !!links && (links.checksum !== "default" || links.gso !== "default");
}

/** Applies the run's offload settings to one veth end (ethtool -K). */
export function tuneVeth(topo: Topology, links: LinkSettings | undefined, end: VethEnd): void {
  const args = offloadArgs(links ?? DEFAULT_LINKS, end.side);
  // Checksums first: the kernel drops TSO when tx checksum goes off, and keeps it off.
  topo.exec(end.ns, "ethtool", ["-K", end.ifname, ...args.checksum]);
  // Segmentation is the kernel's to refuse (no TSO without checksum offload, no GSO beside an XDP
  // program): what it kept is read back with readVeth and reported, not treated as a failure here.
  spawnSync("ip", ["netns", "exec", end.ns, "ethtool", "-K", end.ifname, ...args.segmentation], {
    stdio: "ignore",
    timeout: 5000,
  });
}

/** What the kernel actually has on a veth end (it may refuse a setting: TSO without checksum, GSO with XDP). */
export interface VethFeatures {
  txChecksum: boolean;
  rxChecksum: boolean;
  gso: boolean;
  tso: boolean;
  mtu: number;
}

const FEATURE_LINES: Record<string, keyof Omit<VethFeatures, "mtu">> = {
  "tx-checksumming": "txChecksum",
  "rx-checksumming": "rxChecksum",
  "generic-segmentation-offload": "gso",
  "tx-tcp-segmentation": "tso", // IPv4 TSO itself: the summary line is on while any TSO kind is
};

export function readVeth(topo: Topology, end: Pick<VethEnd, "ns" | "ifname">): VethFeatures {
  const f: VethFeatures = { txChecksum: false, rxChecksum: false, gso: false, tso: false, mtu: 0 };
  for (const line of topo.exec(end.ns, "ethtool", ["-k", end.ifname]).split("\n")) {
    const m = /^\s*([a-z0-9-]+): (on|off)/.exec(line);
    const key = m && FEATURE_LINES[m[1]!];
    if (key) f[key] = m[2] === "on";
  }
  const link = JSON.parse(topo.exec(end.ns, "ip", ["-j", "link", "show", "dev", end.ifname])) as {
    mtu: number;
  }[];
  f.mtu = link[0]?.mtu ?? 0;
  return f;
}

/** One line per distinct feature set: "12 veth ends: tx-checksum off, rx-checksum off, gso on, tso off, mtu 1500". */
export function summarizeVeths(features: readonly VethFeatures[]): string[] {
  const onOff = (b: boolean) => (b ? "on" : "off");
  const counts = new Map<string, number>();
  for (const f of features) {
    const line = `tx-checksum ${onOff(f.txChecksum)}, rx-checksum ${onOff(f.rxChecksum)}, gso ${onOff(f.gso)}, tso ${onOff(f.tso)}, mtu ${f.mtu}`;
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return [...counts].map(([line, n]) => `${n} veth end${n === 1 ? "" : "s"}: ${line}`);
}

export function describeLinks(links: LinkSettings | undefined): string {
  const l = links ?? DEFAULT_LINKS;
  const mtu = l.podMtu ? `, pod MTU ${l.podMtu.mtu} on ${l.podMtu.node}` : "";
  return `checksum ${l.checksum}, gso ${l.gso}${mtu}`;
}
