// `maplb agent` as a process: it serves /healthz and /metrics, stops on SIGTERM with exit code 0, and
// (kernel datapath, as root) leaves its pinned maps behind for the next agent, which keeps their ids.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { PROXY_LABEL_SELECTOR } from "../src/agent/cluster-watch.js";
import { DatapathSink } from "../src/agent/datapath-sink.js";
import { kernelUnavailableReason, openKernel } from "../src/datapath/kernel.js";
import { expectedView, viewOf } from "./helpers/agent-maps.js";
import { eventually } from "./helpers/agent-harness.js";
import { ips, slice, svc } from "./helpers/agent-objects.js";
import { FakeApiServer } from "./helpers/fake-apiserver.js";
import { nodeConfig } from "./helpers/model-factory.js";

const BIN = new URL("../../bin/maplb.js", import.meta.url).pathname;
const node = nodeConfig();

interface Running {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  /** host:port of /metrics and /healthz. */
  status: string;
}

/** Starts `maplb agent` and waits for its "running" log line, which names the status address. */
async function startAgent(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [BIN, "agent", ...args], { stdio: ["ignore", "ignore", "pipe"] });
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

/** SIGTERM, and the exit code (killed after 5 s if it does not stop). */
async function terminate(r: Running): Promise<number | null> {
  const timer = setTimeout(() => r.child.kill("SIGKILL"), 5000);
  r.child.kill("SIGTERM");
  const [code] = (await once(r.child, "exit")) as [number | null];
  clearTimeout(timer);
  return code;
}

const get = (r: Running, path: string) => fetch(`http://${r.status}${path}`);

describe("maplb agent (process)", () => {
  const server = new FakeApiServer();
  const dir = mkdtempSync(join(tmpdir(), "maplb-agent-cli-"));
  let kubeconfig = "";
  const common = () => [
    "--kubeconfig",
    kubeconfig,
    "--node-name",
    node.nodeName,
    "--node-ip",
    node.nodeIPs[0]!,
    "--metrics-addr",
    "127.0.0.1:0",
    "--min-sync-period",
    "0",
  ];
  before(async () => {
    await server.start();
    kubeconfig = server.writeKubeconfig(dir);
    server.apply(svc("web", "10.96.0.10"));
    server.apply(slice("web-1", "web", ips(3)));
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "emulated: healthy once synced, metrics after a change, exit 0 on SIGTERM",
    { timeout: 30_000 },
    async () => {
      const agent = await startAgent([...common(), "--datapath", "emulated"]);
      try {
        await eventually(async () => assert.equal((await get(agent, "/healthz")).status, 200), 10_000);
        server.apply(slice("web-1", "web", ips(4)));
        await eventually(async () => {
          const text = await (await get(agent, "/metrics")).text();
          const count = /maplb_network_programming_duration_seconds_count (\d+)/.exec(text);
          assert.ok(Number(count?.[1]) >= 1, text.slice(0, 300));
          assert.match(text, /maplb_map_entries\{map="lb4_backends"\} 4/);
          assert.match(text, /maplb_map_capacity\{map="lb4_maglev"\}/);
          assert.match(text, /maplb_process_cpu/);
        });
      } finally {
        assert.equal(await terminate(agent), 0);
      }
      assert.ok(
        agent.logs.some((r) => r.msg === "stopping; the maps and any attached program stay in place"),
      );
    },
  );

  const noKernel = kernelUnavailableReason();
  it(
    "kernel: the maps outlive the agent, and the next agent keeps their ids",
    { timeout: 30_000, skip: noKernel ?? false },
    async () => {
      const pinDir = `/sys/fs/bpf/maplb-test-cli-${process.pid}`;
      const args = [...common(), "--datapath", "kernel", "--pin-dir", pinDir, "--no-attach"];
      /** The pinned maps' contents and view, read while the handle is open (rows are read lazily). */
      const read = () => {
        const dp = openKernel({ pinDir });
        try {
          const contents = new DatapathSink(dp).read();
          return { ...contents, view: viewOf(contents) };
        } finally {
          dp.close();
        }
      };
      try {
        const first = await startAgent(args);
        await eventually(async () => assert.equal((await get(first, "/healthz")).status, 200), 10_000);
        assert.equal(await terminate(first), 0);
        const before = read();
        const expected = expectedView(server.objectsMatching(PROXY_LABEL_SELECTOR), node);
        assert.deepEqual(before.view, expected, "the pinned maps hold the cluster after SIGTERM");

        server.apply(slice("web-1", "web", ips(5))); // scaled while no agent runs
        const second = await startAgent(args);
        await eventually(async () => assert.equal((await get(second, "/healthz")).status, 200), 10_000);
        assert.equal(await terminate(second), 0);
        const afterRestart = read();
        assert.deepEqual(afterRestart.view, expectedView(server.objectsMatching(PROXY_LABEL_SELECTOR), node));
        const ids = (c: typeof before) => c.backends.map((b) => `${b.address}=${b.id}`).sort();
        assert.deepEqual(
          ids(afterRestart).slice(0, before.backends.length),
          ids(before),
          "old backends keep their ids",
        );
        assert.deepEqual(afterRestart.revNat, before.revNat);
      } finally {
        rmSync(pinDir, { recursive: true, force: true });
      }
    },
  );
});
