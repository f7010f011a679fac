// The lab's state file: what `lab up` built (namespaces, processes, pinned maps, files), so that
// `lab down`, `lab curl` and `lab scale` work from any later process. It is written before each
// thing is created, so even a half-built lab can be taken down.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AttachMode } from "../cli/commands/attach.js";
import type { LabPlan } from "./plan.js";

export const PROXIES = ["maplb", "iptables", "nftables"] as const;
export type LabProxy = (typeof PROXIES)[number];

/** A daemon the lab started in a pod namespace. */
export interface LabProcess {
  pod: string;
  pid: number;
  /** The script it runs, to check a pid still belongs to it before signalling. */
  script: string;
}

export interface LabState {
  version: 1;
  /** The lab's name: namespaces are `mlb-<name>-…`, maps under /sys/fs/bpf/maplb-<name>. */
  name: string;
  proxy: LabProxy;
  /** With --proxy maplb: where the program is attached on the nodes' interfaces. */
  attach: AttachMode;
  /** Whether `up` finished; a lab left incomplete is rebuilt by the next `up`. */
  complete: boolean;
  plan: LabPlan;
  namespaces: string[];
  processes: LabProcess[];
  /** Files and directories to remove on down (resolv.conf folders, pin dirs). */
  paths: string[];
  /** --socket-lb: each node's pod cgroup (socket-lb.ts), by node name. */
  socketLb?: boolean;
  cgroups?: Record<string, string>;
}

/** The prefix of every namespace of the lab `name`. */
export const labPrefix = (name: string): string => `mlb-${name}`;

/** Where a lab keeps its state, DNS records and logs: $MAPLB_LAB_DIR or /run/maplb, then the lab name. */
export function labDir(name: string): string {
  return join(process.env.MAPLB_LAB_DIR ?? "/run/maplb", name);
}

export function readState(name: string): LabState | null {
  const file = join(labDir(name), "state.json");
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")) as LabState;
}

/** Writes atomically (rename), so a reader never sees half a file. */
export function writeState(state: LabState): void {
  const dir = labDir(state.name);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `state.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, join(dir, "state.json"));
}
