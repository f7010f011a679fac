// The lab's daemons (pod servers, the DNS server) run inside pod namespaces, detached, so they outlive
// `lab up`. Each is started by pid and stopped by that pid only, after checking it still runs our script.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MaplbError } from "../errors.js";
import type { LabProcess } from "./state.js";

const HERE = dirname(fileURLToPath(import.meta.url));

/** The path of one of the lab's scripts (compiled next to this file). */
export function labScript(name: "pod-server" | "dns-server" | "probe" | "attach-node"): string {
  return join(HERE, `${name}.js`);
}

/** The command line that runs `cmd args` inside `cgroup` (unchanged without one). */
export function inCgroup(cgroup: string | undefined, cmd: string, args: string[]): [string, string[]] {
  if (!cgroup) return [cmd, args];
  return ["sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, cmd, ...args]];
}

/** Starts `node script args` in namespace `ns`, detached, logging to `log`; returns once it wrote `ready`. */
export async function startDaemon(
  ns: string,
  pod: string,
  script: string,
  args: string[],
  files: { log: string; ready: string },
  record: (p: LabProcess) => void,
  cgroup?: string,
): Promise<LabProcess> {
  mkdirSync(dirname(files.log), { recursive: true });
  mkdirSync(dirname(files.ready), { recursive: true });
  rmSync(files.ready, { force: true });
  const out = openSync(files.log, "a");
  // `ip netns exec` (and the cgroup's sh) exec the command in place, so the pid is the daemon's own.
  const [cmd, cmdArgs] = inCgroup(cgroup, "ip", [
    "netns",
    "exec",
    ns,
    process.execPath,
    script,
    ...args,
    "--ready",
    files.ready,
  ]);
  const child = spawn(cmd, cmdArgs, { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  if (child.pid === undefined) throw new MaplbError("E_EXEC", `could not start ${script} in ${ns}`);
  const proc = { pod, pid: child.pid, script };
  record(proc);
  const deadline = Date.now() + 10_000;
  while (!existsSync(files.ready)) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new MaplbError("E_EXEC", `${pod}: ${script} did not start; see ${files.log}`, { pod });
    await new Promise((r) => setTimeout(r, 20));
  }
  return proc;
}

/** True when `pid` is alive and running `script` (not a reused pid). */
function isOurs(p: LabProcess): boolean {
  try {
    return readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0").includes(p.script);
  } catch {
    return false;
  }
}

/** Stops daemons by pid (only those still running our script). Synchronous, so it also runs on exit. */
export function stopDaemons(procs: readonly LabProcess[]): void {
  for (const p of procs) {
    if (!isOurs(p)) continue;
    try {
      process.kill(p.pid, "SIGKILL"); // test servers: nothing to flush
    } catch {
      // it ended between the check and the signal
    }
  }
}
