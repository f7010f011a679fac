// A throwaway network namespace for loading kube-proxy's rules into a real kernel. Each one gets a
// unique name (maplb-t-<pid>-<n>) and is deleted afterwards, also when the test fails.
import { spawnSync } from "node:child_process";

let counter = 0;

export interface Namespace {
  name: string;
  /** Runs a command inside the namespace; throws with its stderr when it fails. Returns stdout. */
  run(cmd: string, args: string[], input?: string): string;
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(`'${cmd} ${args.join(" ")}' failed (${r.status}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Why these tests cannot run here (not root, a tool missing), or null when they can. */
export function kernelTestBlocker(tools: string[]): string | null {
  if (process.getuid?.() !== 0) return "needs root to create network namespaces and load netfilter rules";
  for (const tool of ["ip", ...tools]) {
    const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
    if (found.status !== 0) return `needs ${tool} (not found on PATH)`;
  }
  return null;
}

/** Creates a fresh namespace, runs `body` in it and always deletes the namespace. */
export async function withNamespace<T>(body: (ns: Namespace) => T | Promise<T>): Promise<T> {
  const name = `maplb-t-${process.pid}-${++counter}`;
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore" }); // a leftover of a killed run
  run("ip", ["netns", "add", name]);
  try {
    const ns: Namespace = {
      name,
      run: (cmd, args, input) => run("ip", ["netns", "exec", name, cmd, ...args], input),
    };
    ns.run("ip", ["link", "set", "lo", "up"]);
    return await body(ns);
  } finally {
    spawnSync("ip", ["netns", "del", name], { stdio: "ignore" });
  }
}
