// Options shared by both targets: map sizes (--map-max), where kernel maps are pinned, and the
// node settings (addresses, hash seed, SNAT).
import { MaplbError } from "../errors.js";
import { nodeIPsOfFamily, type NodeConfig } from "../model/types.js";
import { MAP_MAX_KNOB_MAPS, MAP_NAMES, type NativeMapName } from "./abi.js";
import type { NodeSettings, PortRange } from "./datapath.js";

export const DEFAULT_PIN_DIR = "/sys/fs/bpf/maplb";

/** The flow hash seed everything uses unless told otherwise: the same on every node, so a flow hashes
 * to the same Maglev row (and backend) wherever it enters the cluster. */
export const DEFAULT_HASH_SEED = 0x6d61706c; // "mapl"

/**
 * The ports source NAT gives flows: above Linux's default ephemeral range (32768-60999) and the
 * NodePort range (30000-32767), so they never meet the node's own connections or a NodePort.
 */
export const SNAT_PORTS: PortRange = { min: 61000, max: 65535 };

/**
 * The datapath's node settings for a node of the control plane. The SNAT address is the node's first
 * address: the one its pods and the other nodes route to it, so a backend's reply to it comes back
 * here. (kube-proxy's MASQUERADE takes the outgoing interface's address, packet by packet; the
 * datapath runs before routing, so it gets one address, configured.) One per family: the first
 * IPv4 address for IPv4 flows, the first IPv6 address for IPv6 ones.
 */
export function nodeSettings(node: NodeConfig, hashSeed = DEFAULT_HASH_SEED): NodeSettings {
  return {
    nodeIPs: node.nodeIPs,
    clusterCIDR: node.clusterCIDR,
    clusterCIDR6: node.clusterCIDR6,
    hashSeed,
    snatIP: nodeIPsOfFamily(node, "IPv4")[0] ?? null,
    snatIP6: nodeIPsOfFamily(node, "IPv6")[0] ?? null,
  };
}

/**
 * --map-max: one number sizes the service-sized maps (services, backends, rev-NAT, source ranges,
 * affinity, backend stats); an object sizes maps one by one. Unset maps keep the ABI defaults.
 */
export type MapMax = number | Partial<Record<NativeMapName, number>>;

/** The max_entries array of the C API: one per map id, 0 = the default. */
export function maxEntriesArray(mapMax: MapMax | undefined): Uint32Array {
  const out = new Uint32Array(MAP_NAMES.length);
  if (mapMax === undefined) return out;
  const sizes: Partial<Record<NativeMapName, number>> =
    typeof mapMax === "number" ? Object.fromEntries(MAP_MAX_KNOB_MAPS.map((m) => [m, mapMax])) : mapMax;
  for (const [name, size] of Object.entries(sizes)) {
    const id = MAP_NAMES.indexOf(name as NativeMapName);
    if (id < 0) throw new MaplbError("E_USAGE", `--map-max: no map named ${name}`);
    if (size === undefined) continue;
    if (!Number.isInteger(size) || size < 1 || size > 0xffffffff) {
      throw new MaplbError(
        "E_USAGE",
        `--map-max: ${name} must be a positive integer up to 4294967295 (max_entries is a u32), got ${size}`,
      );
    }
    out[id] = size;
  }
  return out;
}
