// The agent's view of a src/datapath Datapath: apply, read back (decoded into MapContents) and the
// gauges for /metrics (capacity per map, the packet counters).
import type { MapOp } from "../compile/tables.js";
import { MAP_NAMES } from "../datapath/abi.js";
import { readU32 } from "../datapath/codec.js";
import type { Datapath } from "../datapath/datapath.js";
import { FAMILY_MAPS } from "../datapath/map-writes.js";
import type { IpFamily } from "../model/types.js";
import type { DatapathGauges } from "./agent.js";
import type { MapContents } from "./map-contents.js";
import type { DatapathCounters } from "./metrics.js";
import type { MapSink } from "./syncer.js";

export class DatapathSink implements MapSink, DatapathGauges {
  constructor(readonly datapath: Datapath) {}

  apply(ops: MapOp[]): void {
    this.datapath.apply(ops);
  }

  read(): MapContents {
    const d = this.datapath.dump();
    const withMaster = d.frontends.flatMap((f) => (f.master ? [{ key: f.key, master: f.master }] : []));
    return {
      masters: withMaster,
      slots: d.frontends.flatMap((f) => f.slots.map((s) => ({ key: f.key, ...s }))),
      backends: [...d.backends.values()],
      revNat: d.revNat,
      sourceRanges: d.sourceRanges,
      maglevRows: (offset, size, family) => this.maglevRows(offset, size, family),
    };
  }

  capacity(): Record<string, number> {
    return Object.fromEntries(MAP_NAMES.map((m) => [m, this.datapath.maps.shapes[m].maxEntries]));
  }

  counters(): DatapathCounters {
    const s = this.datapath.stats();
    const numbers = (r: Record<string, bigint>) =>
      Object.fromEntries(Object.entries(r).map(([k, n]) => [k, Number(n)]));
    return { verdicts: numbers(s.verdicts), reasons: numbers(s.reasons) };
  }

  /** lb4_maglev (lb6_maglev) is an array map: rows are read by index, in one native call. */
  private maglevRows(offset: number, size: number, family: IpFamily): Uint32Array {
    const keys = new Uint8Array(4 * size);
    const view = new DataView(keys.buffer);
    for (let i = 0; i < size; i++) view.setUint32(4 * i, offset + i, true); // keys are host-order u32
    const { values } = this.datapath.maps.lookupMany(FAMILY_MAPS[family].maglev, keys, size);
    return Uint32Array.from({ length: size }, (_, i) => readU32(values, i * 4));
  }
}
