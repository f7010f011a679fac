// The node-traffic tests' scenario and what they read besides the probes' answers: maplb's drop
// reasons on each node (so a failing case says why), and a client's cached path MTUs (flushed, so each
// path MTU case starts from a 1500-byte path).
//
// Nodes: node-a is the edge (external clients behind it), node-b has the narrow pod veths (--pod-mtu).
//   solo  NodePort, one backend on node-a: hairpin through a one-pod Service; an external client to
//         the NodePort of node-b, which has no backend
//   many  ClusterIP, three backends (two on node-a, one on node-b): hairpin through a many-pod Service
//   far   NodePort, one backend on node-b: bulk transfers and uploads that cross both nodes
import { spawnSync } from "node:child_process";
import { pinDirStatus } from "../../src/cli/commands/attach.js";
import { findClient } from "../../src/lab/client.js";
import { nodePinDir } from "../../src/lab/proxy/maplb.js";
import type { LabState } from "../../src/lab/state.js";
import { writeServices, type ScenarioService } from "./lab-scenario.js";

const SERVICES: ScenarioService[] = [
  {
    name: "solo",
    spec: { type: "NodePort", clusterIP: "10.96.1.10" },
    endpoints: [["10.244.1.10", "node-a"]],
  },
  {
    name: "many",
    spec: { type: "ClusterIP", clusterIP: "10.96.1.11" },
    endpoints: [
      ["10.244.1.11", "node-a"],
      ["10.244.1.12", "node-a"],
      ["10.244.2.13", "node-b"],
    ],
  },
  {
    name: "far",
    spec: { type: "NodePort", clusterIP: "10.96.1.12" },
    endpoints: [["10.244.2.14", "node-b"]],
  },
];

export const writeNodeTrafficScenario = (): string => writeServices("lab-node-traffic.yaml", SERVICES);

/** The tools these tests need beyond the lab's own. */
export function nodeTrafficToolBlocker(): string | null {
  for (const tool of ["ethtool", "socat", "ping", "nstat", "nft"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      return `needs ${tool} (not found on PATH; scripts/setup.mjs installs it)`;
  return null;
}

/** maplb's drop and pass reasons per node (null for kube-proxy's rules, which count nothing of the kind). */
export function maplbReasons(state: LabState): Map<string, Record<string, number>> | null {
  if (state.proxy !== "maplb") return null;
  return new Map(state.plan.nodes.map((n) => [n.name, pinDirStatus(nodePinDir(state.name, n)).reasons]));
}

/** The reasons counted since `before`, as "node: REASON +n"; for failure messages. */
export function reasonsSince(state: LabState, before: ReturnType<typeof maplbReasons>): string {
  const after = maplbReasons(state);
  if (!after || !before) return "";
  const grown: string[] = [];
  for (const [node, reasons] of after)
    for (const [reason, n] of Object.entries(reasons)) {
      const d = n - (before.get(node)?.[reason] ?? 0);
      if (d > 0) grown.push(`${node}: ${reason} +${d}`);
    }
  return grown.length ? `; maplb counted ${grown.join(", ")}` : "; maplb counted no drop";
}

/** Forgets the path MTUs a client has learnt, so a path MTU case starts from the interface's MTU. */
export function flushRouteCache(state: LabState, client: string): void {
  const ns = findClient(state, client).netns;
  spawnSync("ip", ["netns", "exec", ns, "ip", "route", "flush", "cache"], { timeout: 5000 });
}
