// The emulated target: the datapath's C pipeline compiled for the host (libmaplb.so), running over
// simulated BPF maps inside this process. Needs no privileges.
import { native } from "./binding.js";
import { mapCreateError, nativeError } from "./errno.js";
import { NativeDatapath } from "./native-datapath.js";
import { checkedMaxEntries } from "./map-budget.js";
import type { MapMax } from "./options.js";

export interface EmulatedOptions {
  mapMax?: MapMax;
}

export class EmulatedDatapath extends NativeDatapath {
  /** Fixes the pipeline's clock (ns) for deterministic tests; 0n returns to CLOCK_MONOTONIC. */
  setClock(nowNs: bigint): void {
    const err = this.maps.api.setClock(this.handle, nowNs);
    if (err < 0) throw nativeError(err, "setting the emulated clock");
  }
}

export function openEmulated(opts: EmulatedOptions = {}): EmulatedDatapath {
  const { err, dp } = native().openEmulated(checkedMaxEntries(opts.mapMax, "emulated"));
  if (err < 0) throw mapCreateError(err, "creating the emulated datapath's maps");
  return new EmulatedDatapath("emulated", "emulated (host build of the datapath over simulated maps)", dp);
}
