// lab up --socket-lb: the pods' processes run in one cgroup v2 per node, with maplb's socket-LB
// hooks attached over that node's maps, so a pod's connect() to a Service goes straight to a
// backend, as with Cilium's kube-proxy replacement. External clients are no pods: their traffic
// still meets the per-packet datapath on the node. The cgroups go with the lab.
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { cgroup2Mount } from "../datapath/cgroup.js";
import { openKernel } from "../datapath/kernel.js";
import { attachSocketLb, detachSocketLb } from "../datapath/socket-lb.js";
import { MaplbError } from "../errors.js";
import type { LabNode } from "./plan.js";
import { nodePinDir } from "./proxy/maplb.js";
import type { LabState } from "./state.js";

/** The cgroup of a node's pods: a child of the cgroup2 mount, never its root. */
export function podCgroup(labName: string, node: Pick<LabNode, "name">): string {
  const mount = cgroup2Mount();
  if (!mount)
    throw new MaplbError("E_USAGE", "--socket-lb needs a cgroup2 mount (none in /proc/self/mountinfo)");
  return join(mount, `maplb-lab-${labName}-${node.name}`);
}

/** Creates each node's pod cgroup (recorded in the state first, so down removes it). */
export function createPodCgroups(state: LabState, save: () => void): void {
  state.cgroups = {};
  for (const node of state.plan.nodes) {
    const dir = podCgroup(state.name, node);
    state.cgroups[node.name] = dir;
    save();
    mkdirSync(dir, { recursive: true });
  }
}

/** Attaches the hooks to each node's pod cgroup, over that node's pinned maps (after the proxy sync). */
export function attachPodCgroups(state: LabState): void {
  for (const node of state.plan.nodes) {
    const dp = openKernel({ pinDir: nodePinDir(state.name, node), lock: true, mustExist: true });
    try {
      attachSocketLb(dp, state.cgroups![node.name]!, false);
    } finally {
      dp.close();
    }
  }
}

/**
 * Detaches and removes the pod cgroups. Their processes were just killed; the kernel empties a
 * cgroup once they are gone, so removal is retried for a bounded time. Synchronous (runs on exit).
 */
export function removePodCgroups(state: LabState): void {
  for (const dir of Object.values(state.cgroups ?? {})) {
    if (!existsSync(dir)) continue;
    try {
      detachSocketLb(dir);
    } catch {
      // removing the cgroup releases its programs too
    }
    for (let i = 0; i < 100 && existsSync(dir); i++) {
      try {
        rmdirSync(dir);
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  }
}
