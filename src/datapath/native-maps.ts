// The maps of one open datapath (emulated or kernel), by name, with errnos turned into MaplbErrors.
import { MaplbError } from "../errors.js";
import { MAP_NAMES, mapId, UpdateFlag, type NativeMapName } from "./abi.js";
import { native, type DpHandle, type NativeApi } from "./binding.js";
import { ENOENT, nativeError } from "./errno.js";

export interface MapShape {
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export class NativeMaps {
  readonly api: NativeApi;
  readonly shapes: Record<NativeMapName, MapShape>;

  constructor(readonly handle: DpHandle) {
    this.api = native();
    const shapes = {} as Record<NativeMapName, MapShape>;
    for (const name of MAP_NAMES) {
      const info = this.api.mapInfo(mapId(name));
      shapes[name] = {
        keySize: info.key_size,
        valueSize: info.value_size,
        maxEntries: this.api.maxEntries(handle, mapId(name)),
      };
    }
    this.shapes = shapes;
  }

  private check(map: NativeMapName, key: Uint8Array): void {
    if (key.length !== this.shapes[map].keySize) {
      throw new MaplbError(
        "E_NATIVE",
        `map ${map}: key of ${key.length} bytes, expected ${this.shapes[map].keySize}`,
      );
    }
  }

  /** The value, or null when the key is absent. */
  lookup(map: NativeMapName, key: Uint8Array): Uint8Array | null {
    this.check(map, key);
    const value = new Uint8Array(this.shapes[map].valueSize);
    const err = this.api.lookup(this.handle, mapId(map), key, value);
    if (err === ENOENT) return null;
    if (err < 0) throw nativeError(err, `looking up map ${map}`, { map });
    return value;
  }

  /** Returns the raw errno (0 on success), for callers that handle specific ones. */
  tryUpdate(map: NativeMapName, key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): number {
    this.check(map, key);
    return this.api.update(this.handle, mapId(map), key, value, flags);
  }

  update(map: NativeMapName, key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    const err = this.tryUpdate(map, key, value, flags);
    if (err < 0) throw nativeError(err, `updating map ${map}`, { map });
  }

  tryDelete(map: NativeMapName, key: Uint8Array): number {
    this.check(map, key);
    return this.api.delete(this.handle, mapId(map), key);
  }

  /** true when deleted, false when it was not there. */
  delete(map: NativeMapName, key: Uint8Array): boolean {
    const err = this.tryDelete(map, key);
    if (err === ENOENT) return false;
    if (err < 0) throw nativeError(err, `deleting from map ${map}`, { map });
    return true;
  }

  /** get_next_key: the raw errno, and the next key in `next`. */
  tryNextKey(map: NativeMapName, key: Uint8Array | null, next: Uint8Array): number {
    return this.api.getNextKey(this.handle, mapId(map), key, next);
  }

  /** Every key of a map, in the map's own iteration order. */
  *keys(map: NativeMapName): Generator<Uint8Array> {
    let key: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(this.shapes[map].keySize);
      const err = this.tryNextKey(map, key, next);
      if (err === ENOENT) return;
      if (err < 0) throw nativeError(err, `iterating map ${map}`, { map });
      yield next;
      key = next;
    }
  }

  *entries(map: NativeMapName): Generator<[Uint8Array, Uint8Array]> {
    for (const key of this.keys(map)) {
      const value = this.lookup(map, key);
      if (value) yield [key, value]; // an LRU entry may vanish between the two calls
    }
  }

  /** n lookups in one call; values of absent keys are zero and found[i] is 0. */
  lookupMany(map: NativeMapName, keys: Uint8Array, n: number): { values: Uint8Array; found: Uint8Array } {
    const values = new Uint8Array(n * this.shapes[map].valueSize);
    const found = new Uint8Array(n);
    const err = this.api.lookupMany(this.handle, mapId(map), keys, values, found, n);
    if (err < 0) throw nativeError(err, `looking up map ${map}`, { map });
    return { values, found };
  }

  /** Batch update; returns the errno and how many elements were written before it. */
  tryUpdateBatch(
    map: NativeMapName,
    keys: Uint8Array,
    values: Uint8Array,
    n: number,
    flags: number = UpdateFlag.ANY,
  ) {
    const count = Uint32Array.of(n);
    const err = this.api.updateBatch(this.handle, mapId(map), keys, values, count, flags);
    return { err, written: count[0]! };
  }
}
