// Network namespaces for real traffic: the benchmark's router topology, the lab and the kernel tests.
// Everything created is recorded and removed by cleanup(), also on Ctrl-C, SIGTERM and failures.
// Addresses come only from 198.18.0.0/15 (RFC 2544's benchmarking range), which callers must respect.
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { MaplbError } from "../errors.js";
import { log } from "../log.js";

const live = new Set<Topology>();
let hooksInstalled = false;

/** Removes every live topology when the process is interrupted, then exits with the signal's code. */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  for (const [sig, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)
    process.on(sig, () => {
      for (const t of live) t.cleanup();
      process.exit(code);
    });
  process.on("exit", () => {
    for (const t of live) t.cleanup();
  });
}

/** Runs a command; throws MaplbError(E_EXEC) with its stderr when it fails. */
export function sh(cmd: string, args: string[], input?: string): string {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: "utf8",
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new MaplbError("E_EXEC", `${cmd}: ${r.error.message}`, { cmd, args });
  if (r.status !== 0)
    throw new MaplbError("E_EXEC", `'${cmd} ${args.join(" ")}' failed: ${(r.stderr || r.stdout).trim()}`, {
      cmd,
      status: r.status,
    });
  return r.stdout;
}

/** True when this process can create namespaces (root with iproute2). */
export function canCreateNamespaces(): string | null {
  if (process.getuid?.() !== 0) return "needs root to create network namespaces";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "needs iproute2 (the ip command)";
  }
  return null;
}

export interface TopologyOptions {
  /** A fixed prefix instead of `mlb-<tag>-<pid>`: for a topology that outlives this process (the lab). */
  prefix?: string;
}

/** A set of namespaces and veth links with a common name prefix, removed together. */
export class Topology {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private cleaned = false;

  constructor(tag: string, opts: TopologyOptions = {}) {
    this.prefix = opts.prefix ?? `mlb-${tag}-${process.pid}`;
    installExitHooks();
    live.add(this);
  }

  /** The namespaces created (or adopted) so far, in creation order. */
  get names(): readonly string[] {
    return this.namespaces;
  }

  /** Takes over namespaces another process created, so cleanup() removes them too. */
  adopt(namespaces: readonly string[]): void {
    for (const ns of namespaces) if (!this.namespaces.includes(ns)) this.namespaces.push(ns);
  }

  /**
   * Leaves the namespaces in place when this process exits or is interrupted: for a topology that
   * was built completely and is meant to outlive its builder. cleanup() still removes them.
   */
  keep(): void {
    live.delete(this);
  }

  /** Creates namespace `<prefix>-<name>` with loopback up, and returns its full name. */
  addNamespace(name: string): string {
    const ns = `${this.prefix}-${name}`;
    spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" }); // a leftover from a killed run
    sh("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    this.exec(ns, "ip", ["link", "set", "lo", "up"]);
    return ns;
  }

  /** A veth pair between two namespaces, each end with an address (CIDR notation) and up. */
  link(
    a: { ns: string; ifname: string; addr: string },
    b: { ns: string; ifname: string; addr: string },
  ): void {
    sh("ip", [
      "link",
      "add",
      a.ifname,
      "netns",
      a.ns,
      "type",
      "veth",
      "peer",
      "name",
      b.ifname,
      "netns",
      b.ns,
    ]);
    for (const end of [a, b]) {
      this.exec(end.ns, "ip", ["addr", "add", end.addr, "dev", end.ifname]);
      this.exec(end.ns, "ip", ["link", "set", end.ifname, "up"]);
    }
  }

  /** Deletes one namespace now (with its veths) and forgets it. */
  removeNamespace(ns: string): void {
    const i = this.namespaces.indexOf(ns);
    if (i >= 0) this.namespaces.splice(i, 1);
    const r = spawnSync("ip", ["netns", "del", ns], { encoding: "utf8" });
    if (r.status !== 0) log.warn({ ns, stderr: r.stderr.trim() }, "could not delete namespace");
  }

  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return sh("ip", ["netns", "exec", ns, cmd, ...args], input);
  }

  /** Deletes the namespaces (and with them their veths, routes and netfilter state). Idempotent. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    live.delete(this);
    for (const ns of this.namespaces.reverse()) {
      const r = spawnSync("ip", ["netns", "del", ns], { encoding: "utf8" });
      if (r.status !== 0) log.warn({ ns, stderr: r.stderr.trim() }, "could not delete namespace");
    }
  }
}
