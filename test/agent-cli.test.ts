// `maplb agent` as a process: it serves /healthz and /metrics, stops on SIGTERM with exit code 0, and
// (kernel datapath, as root) leaves its pinned maps behind for the next agent, which keeps their ids.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PROXY_LABEL_SELECTOR } from "../src/agent/cluster-watch.js";
import { kernelUnavailableReason } from "../src/datapath/kernel.js";
import { expectedView } from "./helpers/agent-maps.js";
import { eventually } from "./helpers/agent-harness.js";
import { ips, slice } from "./helpers/agent-objects.js";
import {
  getStatus as get,
  healthy,
  readPinned as read,
  startAgent,
  terminate,
  webApiServer,
} from "./helpers/agent-process.js";
import { nodeConfig } from "./helpers/model-factory.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const node = nodeConfig();

describe("maplb agent (process)", () => {
  const server = webApiServer();
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
  before(() => {
    kubeconfig = server.writeKubeconfig(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    "emulated: healthy once synced, metrics after a change, exit 0 on SIGTERM",
    { timeout: 30_000 },
    async () => {
      const agent = await startAgent([...common(), "--datapath", "emulated"]);
      try {
        await healthy(agent);
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
    { timeout: 30_000, skip: kernelSkip(noKernel) },
    async () => {
      const pinDir = `/sys/fs/bpf/maplb-test-cli-${process.pid}`;
      const args = [...common(), "--datapath", "kernel", "--pin-dir", pinDir, "--no-attach"];
      try {
        const first = await startAgent(args);
        await healthy(first);
        assert.equal(await terminate(first), 0);
        const before = read(pinDir);
        const expected = expectedView(server.objectsMatching(PROXY_LABEL_SELECTOR), node);
        assert.deepEqual(before.view, expected, "the pinned maps hold the cluster after SIGTERM");

        server.apply(slice("web-1", "web", ips(5))); // scaled while no agent runs
        const second = await startAgent(args);
        await healthy(second);
        assert.equal(await terminate(second), 0);
        const afterRestart = read(pinDir);
        assert.deepEqual(afterRestart.view, expectedView(server.objectsMatching(PROXY_LABEL_SELECTOR), node));
        const ids = (c: ReturnType<typeof read>) => c.backends.map((b) => `${b.address}=${b.id}`).sort();
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
