// netfilter-real's socket-level LB rows. Each runs its client sockets in a cgroup v2 of its own (the
// connect-latency tool makes a target's sockets in the cgroup named after its "@"), and crosses a
// router with no rules at all, as the baseline does; every other row's sockets stay outside any
// hooked cgroup, so the baseline pays no hook. After the timed runs, a shorter one with the kernel's
// BPF statistics on gives each row's program run time per connect (hook_ns_per_connect):
//   maplb-socket-lb          maplb's hooks; connect() to the Service, given the backend at the socket;
//   maplb-socket-lb (miss)   maplb's hooks; connect() straight to the baseline's pod: the hooks run
//                            and find no frontend, as for a pod's every connection that is not to a
//                            Service;
//   empty connect4 program   a connect4 program that does nothing, same pod: what any program on
//                            the hook costs on this kernel, the floor under the two rows above.
// The hooks' frontends are the cell's services with their ports moved up by PORT_SHIFT, in maps of
// their own: the other rows' targets (the same addresses, the real ports) are no frontend there.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { Compiler } from "../../src/compile/compiler.js";
import { cgroup2Mount } from "../../src/datapath/cgroup.js";
import { openKernel, type KernelDatapath } from "../../src/datapath/kernel.js";
import {
  attachEmptyConnectHook,
  attachSocketLb,
  connectHookRunTime,
  detachSocketLb,
  enableBpfStats,
} from "../../src/datapath/socket-lb.js";
import type { NodeConfig, ServiceModel } from "../../src/model/types.js";
import type { Result, Target } from "../types.js";

export const SOCKET_LB_ROW = "maplb-socket-lb";
export const SOCKET_LB_MISS_ROW = "maplb-socket-lb (miss)";
export const EMPTY_HOOK_ROW = "empty connect4 program";
const PORT_SHIFT = 1000;

/** Each row's cgroup (its own, so that its program's statistics are its own too). */
let cgroups: Map<string, string> | null = null;

/** Creates the rows' cgroups (attach comes per cell, with that cell's maps). */
export function socketLbSetup(): void {
  const mount = cgroup2Mount();
  if (!mount) throw new Error(`${SOCKET_LB_ROW}: no cgroup2 mount`);
  cgroups = new Map(
    [
      [SOCKET_LB_ROW, "sock"],
      [SOCKET_LB_MISS_ROW, "sock-miss"],
      [EMPTY_HOOK_ROW, "empty"],
    ].map(([impl, name]) => [impl!, join(mount, `maplb-bench-nf-${name}-${process.pid}`)]),
  );
  for (const dir of cgroups.values()) mkdirSync(dir, { recursive: true });
}

/** Where a row's sockets are made: its cgroup, or (null) the client's own. */
export function socketLbCgroup(impl: string): string | null {
  return cgroups?.get(impl) ?? null;
}

/** Fresh maps for the cell's services on shifted ports, maplb's hooks over them, and the empty program. */
export function socketLbLoad(
  pinRoot: string,
  model: ServiceModel,
  node: NodeConfig,
  endpoints: number,
): void {
  const ports = model.ports.map((p) => ({ ...p, port: p.port + PORT_SHIFT }));
  const pinDir = join(pinRoot, `sock-s${ports.length}`);
  mkdirSync(pinDir, { recursive: true });
  const entries = ports.length * (endpoints + 1) + 16;
  const mapMax = { lb4_services: entries, lb4_backends: entries, lb4_reverse_nat: ports.length + 16 };
  // One load of the object per hooked row, over the same maps: a program attached to two cgroups
  // would count both rows' runs in its statistics. Each attach replaces the previous cell's.
  const load = (attach: (dp: KernelDatapath) => void) => {
    const dp = openKernel({ pinDir, mapMax });
    try {
      attach(dp);
    } finally {
      dp.close();
    }
  };
  load((dp) => {
    dp.configure({ nodeIPs: [], clusterCIDR: node.clusterCIDR, hashSeed: 1 });
    dp.apply(new Compiler(node).update(ports, []));
    attachSocketLb(dp, socketLbCgroup(SOCKET_LB_ROW)!, false);
    attachEmptyConnectHook(dp, socketLbCgroup(EMPTY_HOOK_ROW)!);
  });
  load((dp) => attachSocketLb(dp, socketLbCgroup(SOCKET_LB_MISS_ROW)!, false));
}

export const socketLbTarget = (model: ServiceModel) => {
  const worst = model.ports.at(-1)!;
  return { ip: worst.clusterIP!, port: worst.port + PORT_SHIFT };
};

/**
 * Runs the client in namespace `ns`. Through nsenter rather than `ip netns exec`, which mounts a
 * sysfs of its own where the cgroup2 mount is not to be seen: the tool opens the rows' cgroups.
 */
export function runClient(ns: string, tool: string, args: string[]): string {
  const r = spawnSync("nsenter", [`--net=/run/netns/${ns}`, tool, ...args], {
    encoding: "utf8",
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`${tool} ${args[0]} in ${ns}: ${(r.stderr ?? String(r.error)).trim()}`);
  return r.stdout;
}

/**
 * Each socket-LB row's connect4 program run time per connect, in place: `run` times the targets
 * again with the kernel's statistics on (they slow every program's every run, so they stay off
 * during the timed runs). The empty program's figure is the statistics' own floor.
 */
export function socketLbHookRuns(
  targets: { impl: string; target: string }[],
  run: (targets: string[]) => void,
): { impl: string; nsPerRun: number; runs: number }[] {
  const rows = targets.flatMap(({ impl }) => {
    const cgroup = socketLbCgroup(impl);
    return cgroup ? [{ impl, cgroup }] : [];
  });
  if (rows.length === 0) return [];
  const stop = enableBpfStats();
  try {
    const before = rows.map((r) => connectHookRunTime(r.cgroup));
    run(targets.map((t) => t.target));
    return rows.map((r, k) => {
      const after = connectHookRunTime(r.cgroup);
      const runs = after.runs - before[k]!.runs;
      return { impl: r.impl, nsPerRun: runs > 0 ? (after.ns - before[k]!.ns) / runs : NaN, runs };
    });
  } finally {
    stop();
  }
}

export function socketLbTeardown(): void {
  if (!cgroups) return;
  for (const dir of cgroups.values())
    if (existsSync(dir)) {
      detachSocketLb(dir);
      rmdirSync(dir);
    }
  cgroups = null;
}

/** The target: added connect latency over the no-service baseline ≤ 0.5 µs (p50), 10 and 10k services. */
export function socketLbTargets(results: Result[]): Target[] {
  const p50 = (impl: string, s: number) =>
    results.find((r) => r.impl === impl && r.services === s && r.metric === "connect_p50_us")?.value;
  return [10, 10000].flatMap((s) => {
    const row = p50(SOCKET_LB_ROW, s);
    const base = p50("baseline-no-service", s);
    if (row === undefined || base === undefined) return [];
    const floor = p50(EMPTY_HOOK_ROW, s);
    const overFloor =
      floor === undefined ? "" : `; ${(row - floor).toFixed(2)} over the empty connect4 program`;
    return [
      {
        suite: "netfilter-real",
        target: `${SOCKET_LB_ROW}: added connect p50 over the baseline ≤ 0.5 µs at ${s} services`,
        measured: `${(row - base).toFixed(2)} µs (${row.toFixed(2)} vs ${base.toFixed(2)}${overFloor})`,
        met: row - base <= 0.5,
        value: row - base,
      },
    ];
  });
}
