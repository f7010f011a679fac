// Test helper: `maplb agent` as a child process. It starts the agent and waits for the log line that
// names its status address, stops it with SIGTERM (the exit code is the test's to check), and reads
// a kernel datapath's pinned maps from outside the agent, as the next agent would find them.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { after, before } from "node:test";
import { DatapathSink } from "../../src/agent/datapath-sink.js";
import type { MapContents } from "../../src/agent/map-contents.js";
import { openKernel } from "../../src/datapath/kernel.js";
import { eventually } from "./agent-harness.js";
import { type MapsView, viewOf } from "./agent-maps.js";
import { ips, slice, svc } from "./agent-objects.js";
import { FakeApiServer } from "./fake-apiserver.js";

const BIN = new URL("../../../bin/maplb.js", import.meta.url).pathname;

export interface RunningAgent {
  child: ChildProcess;
  /** Its JSON log records (stderr), as they arrive; a line that is not JSON is kept as `{ text }`. */
  logs: Record<string, unknown>[];
  /** host:port of /metrics and /healthz. */
  status: string;
}

/** Agents started and not yet exited, for killAgents(). */
const live = new Set<ChildProcess>();

/** SIGKILLs every agent still running: a failed test must not leave one (it would hold the test open). */
export function killAgents(): void {
  for (const child of live) child.kill("SIGKILL");
}

export interface StartOptions {
  /** The CLI to run: this checkout's, unless a test laid out another copy (the image's). */
  bin?: string;
  /** A command that runs node (`setpriv … --`, say), or none. */
  prefix?: string[];
}

/** Starts `maplb agent ARGS` and waits for its "running" log line, which names the status address. */
export async function startAgent(args: string[], opts: StartOptions = {}): Promise<RunningAgent> {
  const [cmd, ...pre] = [...(opts.prefix ?? []), process.execPath];
  const child = spawn(cmd!, [...pre, opts.bin ?? BIN, "agent", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  live.add(child);
  child.on("exit", () => live.delete(child));
  const logs: Record<string, unknown>[] = [];
  const running = new Promise<string>((resolve, reject) => {
    createInterface(child.stderr!).on("line", (line) => {
      try {
        const r = JSON.parse(line) as Record<string, unknown>;
        logs.push(r);
        if (r.msg === "maplb agent running") resolve(String(r.status));
      } catch {
        logs.push({ text: line });
      }
    });
    child.on("exit", (code) => reject(new Error(`agent exited (${code}): ${JSON.stringify(logs)}`)));
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const status = await running.finally(() => clearTimeout(timer));
  return { child, logs, status };
}

/** GET one of the agent's status paths (/healthz, /metrics). */
export const getStatus = (agent: RunningAgent, path: string): Promise<Response> =>
  fetch(`http://${agent.status}${path}`);

/** Waits until /healthz answers 200: the agent has listed both resources and synced. */
export function healthy(agent: RunningAgent, timeoutMs = 10_000): Promise<void> {
  return eventually(
    async () => {
      const res = await getStatus(agent, "/healthz");
      if (res.status !== 200) throw new Error(`/healthz ${res.status}: ${await res.text()}`);
    },
    timeoutMs,
    "a healthy agent",
  );
}

/** SIGTERM, and the exit code (killed after 5 s if it does not stop). */
export async function terminate(agent: RunningAgent): Promise<number | null> {
  const timer = setTimeout(() => agent.child.kill("SIGKILL"), 5000);
  agent.child.kill("SIGTERM");
  const [code] = (await once(agent.child, "exit")) as [number | null];
  clearTimeout(timer);
  return code;
}

/** The maps pinned in `pinDir` and what they mean, read while the handle is open (rows are read lazily). */
export function readPinned(pinDir: string): MapContents & { view: MapsView } {
  const dp = openKernel({ pinDir });
  try {
    const contents = new DatapathSink(dp).read();
    return { ...contents, view: viewOf(contents) };
  } finally {
    dp.close();
  }
}

/**
 * A fake API server holding one Service (web, three endpoints) for the enclosing describe: started
 * before its tests, stopped after them, when any agent still running is killed too.
 */
export function webApiServer(): FakeApiServer {
  const server = new FakeApiServer();
  before(async () => {
    await server.start();
    server.apply(svc("web", "10.96.0.10"));
    server.apply(slice("web-1", "web", ips(3)));
  });
  after(async () => {
    killAgents();
    await server.stop();
  });
  return server;
}
