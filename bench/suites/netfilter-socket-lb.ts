// netfilter-real's maplb-socket-lb row: the client process runs in a cgroup v2 with maplb's socket-LB
// hooks, so its connect() to the Service is given the backend at the socket and the SYN crosses a
// router with no rules at all (as the baseline's). The row's frontends are the cell's services with
// their ports moved up by PORT_SHIFT, in maps of their own: the other rows' targets (the same
// addresses, the real ports) are no frontend there, so only this row is translated. The hooks still
// run, and miss, for the other rows' connect()s: the datapath suites report that miss beside the
// translation (ns_per_connect).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { Compiler } from "../../src/compile/compiler.js";
import { cgroup2Mount } from "../../src/datapath/cgroup.js";
import { openKernel } from "../../src/datapath/kernel.js";
import { attachSocketLb, detachSocketLb } from "../../src/datapath/socket-lb.js";
import { inCgroup } from "../../src/lab/processes.js";
import type { NodeConfig, ServiceModel } from "../../src/model/types.js";
import type { Topology } from "../../src/netns/netns.js";
import type { Result, Target } from "../types.js";

export const SOCKET_LB_ROW = "maplb-socket-lb";
const PORT_SHIFT = 1000;

let cgroup: string | null = null;

/** Creates the client's cgroup (attach comes per cell, with that cell's maps). */
export function socketLbSetup(): void {
  const mount = cgroup2Mount();
  if (!mount) throw new Error(`${SOCKET_LB_ROW}: no cgroup2 mount`);
  cgroup = join(mount, `maplb-bench-nf-${process.pid}`);
  mkdirSync(cgroup, { recursive: true });
}

/** Fresh maps for the cell's services on shifted ports, and the hooks over them on the cgroup. */
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
  const dp = openKernel({
    pinDir,
    mapMax: { lb4_services: entries, lb4_backends: entries, lb4_reverse_nat: ports.length + 16 },
  });
  try {
    dp.configure({ nodeIPs: [], clusterCIDR: node.clusterCIDR, hashSeed: 1 });
    dp.apply(new Compiler(node).update(ports, []));
    attachSocketLb(dp, cgroup!, false); // replaces the previous cell's hooks
  } finally {
    dp.close();
  }
}

export const socketLbTarget = (model: ServiceModel) => {
  const worst = model.ports.at(-1)!;
  return { ip: worst.clusterIP!, port: worst.port + PORT_SHIFT };
};

/**
 * Runs the client in namespace `ns`, inside the cgroup when this row runs. The cgroup is joined
 * before `ip netns exec`, which mounts a sysfs of its own where the cgroup2 mount is not to be seen.
 */
export function runClient(topo: Topology, ns: string, tool: string, args: string[]): string {
  if (!cgroup) return topo.exec(ns, tool, args);
  const [cmd, cmdArgs] = inCgroup(cgroup, "ip", ["netns", "exec", ns, tool, ...args]);
  const r = spawnSync(cmd, cmdArgs, { encoding: "utf8", timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${tool} ${args[0]} in ${ns} (cgroup ${cgroup}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function socketLbTeardown(): void {
  if (!cgroup || !existsSync(cgroup)) return;
  detachSocketLb(cgroup);
  rmdirSync(cgroup);
  cgroup = null;
}

/** The target: added connect latency over the no-service baseline ≤ 0.5 µs (p50), 10 and 10k services. */
export function socketLbTargets(results: Result[]): Target[] {
  const p50 = (impl: string, s: number) =>
    results.find((r) => r.impl === impl && r.services === s && r.metric === "connect_p50_us")?.value;
  return [10, 10000].flatMap((s) => {
    const row = p50(SOCKET_LB_ROW, s);
    const base = p50("baseline-no-service", s);
    if (row === undefined || base === undefined) return [];
    return [
      {
        suite: "netfilter-real",
        target: `${SOCKET_LB_ROW}: added connect p50 over the baseline ≤ 0.5 µs at ${s} services`,
        measured: `${(row - base).toFixed(2)} µs (${row.toFixed(2)} vs ${base.toFixed(2)})`,
        met: row - base <= 0.5,
        value: row - base,
      },
    ];
  });
}
