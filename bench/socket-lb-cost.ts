// The cost of one connect() translation by the socket-LB hooks, for the datapath suites:
//   emulated: the hooks' C code (datapath/sock.h) in a loop over the cell's maps, each call a new
//     socket (ns per translation);
//   kernel: a UDP socket's connect() (it sends nothing) in a cgroup with the hooks, to a frontend
//     (translated) and to a non-frontend (the hooks' miss), against the same call outside the cgroup;
//     the differences are the hooks' cost. Then a shorter run of each with the kernel's BPF statistics
//     on: the program's own run time per call (the rest of a difference is the kernel calling it).
//     Its own network namespace and cgroup, removed after.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import type { FrontendKey } from "../src/compile/tables.js";
import { cgroup2Mount } from "../src/datapath/cgroup.js";
import type { EmulatedDatapath } from "../src/datapath/emulated.js";
import type { KernelDatapath } from "../src/datapath/kernel.js";
import { serviceKey } from "../src/datapath/map-writes.js";
import {
  attachSocketLb,
  connectHookRunTime,
  detachSocketLb,
  enableBpfStats,
  socketConnectNs,
} from "../src/datapath/socket-lb.js";
import { inCgroup } from "../src/lab/processes.js";
import { buildTool } from "./tools/build.js";

export const SOCKET_LB_IMPL = "maplb-socket-lb";
/** An address that is no frontend: the hooks' miss. */
const MISS = "198.18.255.254";

/** Emulated: ns per connect() translation to `frontend` (a TCP frontend of the cell's maps). */
export function emulatedConnectNs(dp: EmulatedDatapath, frontend: FrontendKey, repeat: number): number {
  return socketConnectNs(dp, frontend.address, frontend.port, repeat);
}

const keyOf = (f: FrontendKey, protocol: "TCP" | "UDP", slot: number) => serviceKey({ ...f, protocol }, slot);

/** A UDP twin of a TCP frontend (its master and slots copied): UDP connect() sends no packet. */
function udpTwin(dp: KernelDatapath, f: FrontendKey): void {
  for (let slot = 0; ; slot++) {
    const v = dp.maps.lookup("lb4_services", keyOf(f, "TCP", slot));
    if (!v) break;
    dp.maps.update("lb4_services", keyOf(f, "UDP", slot), v);
  }
}

export interface KernelConnectCost {
  /** ns per connect() outside any hooked cgroup. */
  none: number;
  /** In the hooked cgroup, to an address that is no frontend. */
  miss: number;
  /** In the hooked cgroup, to the frontend (translated). */
  translated: number;
  /** The connect4 program's own run time per call (kernel statistics), to the non-frontend and to the frontend. */
  hookMiss: number;
  hookTranslated: number;
}

/** Kernel: the three timings, each the median of `samples` runs of `repeat` calls. */
export function kernelConnectCost(
  dp: KernelDatapath,
  frontend: FrontendKey,
  repeat: number,
  samples: number,
): KernelConnectCost {
  const mount = cgroup2Mount();
  if (!mount) throw new Error("socket LB cost: no cgroup2 mount");
  udpTwin(dp, frontend);
  const tool = buildTool("udp-connect");
  const ns = `maplb-bench-sock-${process.pid}`;
  const cgroup = join(mount, `maplb-bench-sock-${process.pid}`);
  const run = (inside: boolean, address: string, calls = repeat, runs = samples): number => {
    const [cmd, args] = inCgroup(inside ? cgroup : undefined, "ip", [
      "netns",
      "exec",
      ns,
      tool,
      String(calls),
      address,
      String(frontend.port),
    ]);
    const times = Array.from({ length: runs }, () => {
      const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
      if (r.status !== 0) throw new Error(`udp-connect: ${r.stderr.trim()}`);
      return Number(r.stdout);
    });
    return times.sort((a, b) => a - b)[Math.floor(runs / 2)]!;
  };
  spawnSync("ip", ["netns", "add", ns]);
  mkdirSync(cgroup);
  try {
    for (const args of [
      ["link", "set", "lo", "up"],
      ["route", "add", "default", "dev", "lo"], // UDP connect() needs a route; nothing is sent
    ])
      spawnSync("ip", ["-n", ns, ...args]);
    attachSocketLb(dp, cgroup, false);
    const timed = {
      none: run(false, frontend.address),
      miss: run(true, MISS),
      translated: run(true, frontend.address),
    };
    const stop = enableBpfStats(); // after the timed runs: the statistics slow every program
    try {
      const hookNs = (address: string) => {
        const before = connectHookRunTime(cgroup);
        run(true, address, Math.ceil(repeat / 10), 1);
        const after = connectHookRunTime(cgroup);
        return (after.ns - before.ns) / Math.max(1, after.runs - before.runs);
      };
      return { ...timed, hookMiss: hookNs(MISS), hookTranslated: hookNs(frontend.address) };
    } finally {
      stop();
    }
  } finally {
    detachSocketLb(cgroup);
    rmdirSync(cgroup);
    spawnSync("ip", ["netns", "del", ns]);
  }
}
