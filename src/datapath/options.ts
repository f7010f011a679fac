// Options shared by both targets: map sizes (--map-max) and where kernel maps are pinned.
import { MaplbError } from "../errors.js";
import { MAP_MAX_KNOB_MAPS, MAP_NAMES, type NativeMapName } from "./abi.js";

export const DEFAULT_PIN_DIR = "/sys/fs/bpf/maplb";

/** The flow hash seed everything uses unless told otherwise: the same on every node, so a flow hashes
 * to the same Maglev row (and backend) wherever it enters the cluster. */
export const DEFAULT_HASH_SEED = 0x6d61706c; // "mapl"

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
