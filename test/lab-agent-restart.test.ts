// `maplb agent` restarted over a lab node's pinned maps, with real traffic. A keep-alive TCP
// connection runs through the node while the agent adopts the maps the lab wrote, stops on SIGTERM,
// misses a change, and starts again. The connection must stay up, on its first backend, throughout:
// its conntrack entry names a backend id, so this holds only if every agent keeps the ids it found.
// The API server is the test's fake one, serving the lab's own Services and EndpointSlices.
// Runs as root on a kernel with BPF; otherwise skips with the reason.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { PROXY_LABEL_SELECTOR } from "../src/agent/cluster-watch.js";
import { openDatapath } from "../src/datapath/open.js";
import { tracePacket } from "../src/datapath/trace.js";
import { labDown, labUp } from "../src/lab/lab.js";
import { labSlices, nodeConfig } from "../src/lab/objects.js";
import { svcKey } from "../src/lab/plan.js";
import { nodePinDir } from "../src/lab/proxy/maplb.js";
import type { LabState } from "../src/lab/state.js";
import type { NodeConfig } from "../src/model/types.js";
import { eventually } from "./helpers/agent-harness.js";
import { expectedView, modelOf } from "./helpers/agent-maps.js";
import { healthy, killAgents, readPinned, startAgent, terminate } from "./helpers/agent-process.js";
import { FakeApiServer } from "./helpers/fake-apiserver.js";
import { Hold, backendIps, byBackend, downOnExit, labBlocker, probe } from "./helpers/lab-run.js";
import { writeLabScenario } from "./helpers/lab-scenario.js";

const labName = `ar${process.pid.toString(36)}`;
const WEB = "default/web";

/** `name=id` for every backend and rev-NAT entry, sorted: what a restart must not renumber. */
const ids = (c: ReturnType<typeof readPinned>) => ({
  backends: c.backends.map((b) => `${b.address}:${b.port}=${b.id}`).sort(),
  revNat: c.revNat.map((r) => `${r.address}:${r.port}=${r.id}`).sort(),
});

const isWebSlice = (o: object) => (o as V1EndpointSlice).metadata?.name === "web-lab";

/** web's slice grown by the backends of the lab's other TCP Services (they answer on the same port). */
function grownWebSlice(state: LabState): V1EndpointSlice {
  const slices = labSlices(state.plan);
  const web = slices.find(isWebSlice)!;
  const others = ["local", "sticky", "fenced", "scaled"].flatMap(
    (name) => slices.find((s) => s.metadata?.name === `${name}-lab`)!.endpoints,
  );
  return { ...web, endpoints: [...web.endpoints, ...others] };
}

/** Where a new flow `client` (ip:port) → web's cluster IP goes, as maplb compiles these objects. */
function newFlowTo(state: LabState, objects: object[], node: NodeConfig, client: string): string | null {
  const [src, sport] = client.split(":") as [string, string];
  const dst = state.plan.services.find((s) => svcKey(s) === WEB)!.spec!.clusterIP!;
  const dp = openDatapath({ kind: "emulated" });
  try {
    const tuple = { src, sport: Number(sport), dst, dport: 80, proto: "TCP" as const };
    return tracePacket(dp, { model: modelOf(objects), node, ...tuple }).after?.dst ?? null;
  } finally {
    dp.close();
  }
}

describe(
  "namespace lab: maplb agent restarted over pinned maps",
  { skip: labBlocker("maplb") ?? false },
  () => {
    const server = new FakeApiServer();
    const dir = mkdtempSync(join(tmpdir(), "maplb-lab-agent-"));
    let state: LabState;
    let kubeconfig = "";

    before(async () => {
      downOnExit(labName);
      state = await labUp({ name: labName, scenario: writeLabScenario(), proxy: "maplb", attach: "tc" });
      await server.start();
      kubeconfig = server.writeKubeconfig(dir);
      for (const o of [...state.plan.services, ...labSlices(state.plan)]) server.apply(o);
    });
    after(async () => {
      await server.stop();
      labDown({ name: labName });
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      "a keep-alive connection stays up on its backend while the agent adopts, stops, misses a change and restarts; ids are kept",
      { timeout: 120_000 },
      async () => {
        // The agent runs for the node client-1's traffic enters by, on that node's pinned maps. The
        // lab attached the program there already, so the agent only programs maps (--no-attach).
        const client = state.plan.pods.find((p) => p.name === "client-1")!;
        const node = state.plan.nodes.find((n) => n.name === client.node)!;
        const cfg = nodeConfig(node);
        const pinDir = nodePinDir(labName, node);
        const args = [
          ...["--kubeconfig", kubeconfig, "--node-name", node.name, "--node-ip", node.ip],
          ...["--cluster-cidr", cfg.clusterCIDR!, "--datapath", "kernel", "--pin-dir", pinDir, "--no-attach"],
          ...["--metrics-addr", "127.0.0.1:0", "--min-sync-period", "0"],
        ];
        const expected = () => expectedView(server.objectsMatching(PROXY_LABEL_SELECTOR), cfg);
        const written = readPinned(pinDir);
        assert.deepEqual(written.view, expected(), "the lab's maps hold what the API server serves");

        // A keep-alive connection to web whose tuple the missed change below would send elsewhere as a
        // new flow (Maglev keeps most rows with their backend, so some connections have to be passed over).
        const grown = grownWebSlice(state);
        const grownObjects = [
          ...server.objectsMatching(PROXY_LABEL_SELECTOR).filter((o) => !isWebSlice(o)),
          grown,
        ];
        let hold: Hold | undefined;
        try {
          let movedTo: string | null = null;
          for (let attempt = 0; attempt < 10 && !movedTo; attempt++) {
            await hold?.stop();
            hold = new Hold(state, { target: WEB }, 100, 100_000);
            assert.ok(await hold.until((r) => r.length >= 3, 5000), "the keep-alive connection answers");
            const { ip, client: tuple } = hold.results[0]!.answer!;
            const to = newFlowTo(state, grownObjects, cfg, tuple);
            if (to !== ip) movedTo = to;
          }
          assert.ok(hold && movedTo, "a connection the change would move, in 10 tries");
          const backend = hold.results[0]!.answer!.ip;

          // 1. The first agent adopts the lab's maps: nothing to write, since it compiles the same objects.
          const first = await startAgent(args);
          await healthy(first);
          const adopted = first.logs.find((r) => String(r.msg).startsWith("adopted the maps"));
          assert.equal(adopted?.ops, 0, `the lab's maps needed no change: ${JSON.stringify(adopted)}`);
          assert.equal(await terminate(first), 0);
          assert.deepEqual(ids(readPinned(pinDir)), ids(written), "the first agent kept the lab's ids");

          // 2. No agent runs: the program and maps stay, so traffic flows. Meanwhile web grows, and a new
          // flow with the held connection's tuple would now go elsewhere: only its conntrack entry, naming
          // a backend id the next agent must keep, holds it on its backend (a missing id rebalances it).
          const stoppedAt = hold.results.length;
          server.apply(grown);
          assert.ok(
            await hold.until((r) => r.length >= stoppedAt + 5, 5000),
            "requests are answered while no agent runs",
          );

          // 3. The second agent adopts the maps, writes the missed change, and keeps every other id.
          const second = await startAgent(args);
          await healthy(second);
          await eventually(() => assert.deepEqual(readPinned(pinDir).view, expected()), 10_000, "the change");
          const restartedAt = hold.results.length;
          assert.ok(
            await hold.until((r) => r.length >= restartedAt + 10, 5000),
            "requests after the restart",
          );
          assert.equal(await terminate(second), 0);
          const now = ids(readPinned(pinDir));
          const kept = (e: string) => ids(written).backends.includes(e);
          assert.deepEqual(now.backends.filter(kept), ids(written).backends, "every backend keeps its id");
          assert.deepEqual(now.revNat, ids(written).revNat, "every frontend keeps its rev-NAT id");

          const broken = hold.results.filter((r) => !r.ok || r.conn !== 1 || r.answer?.ip !== backend);
          assert.deepEqual(
            broken,
            [],
            `every request on connection 1, answered by ${backend} (a new flow would go to ${movedTo})`,
          );

          // New connections from client-1's node use the new maps: the added pods answer too.
          const fresh = [...byBackend(await probe(state, { target: WEB }, 60)).keys()];
          assert.ok(
            fresh.every((ip) => grown.endpoints.some((e) => e.addresses.includes(ip))) &&
              fresh.some((ip) => !backendIps(state, WEB).includes(ip)),
            `new connections reach web's new backends: ${fresh.join(", ")}`,
          );
        } finally {
          killAgents();
          await hold?.stop();
        }
      },
    );
  },
);
