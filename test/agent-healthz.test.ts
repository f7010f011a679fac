// `maplb agent`'s safe defaults, as a process against the fake API server:
// - /metrics and /healthz listen on loopback unless --metrics-addr says otherwise (checked in the
//   kernel's socket table, not only in the agent's own log line);
// - /healthz turns unhealthy once the API server has been unreachable for longer than
//   --api-unreachable-window, although the cache (and the periodic sync from it) keeps going, and
//   healthy again within 5 s of the server's return, however long the outage grew the backoff.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually, sleep } from "./helpers/agent-harness.js";
import { getStatus, healthy, startAgent, terminate, webApiServer } from "./helpers/agent-process.js";
import { nodeConfig } from "./helpers/model-factory.js";

const node = nodeConfig();

/** Local addresses (IPv4, dotted) of the TCP sockets `pid` listens on, as /proc/net/tcp{,6} lists them. */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m ? [m[1]!] : [];
      } catch {
        return []; // closed meanwhile
      }
    }),
  );
  const out: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").trim().split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const [addrHex, portHex] = f[1]!.split(":");
      if (f[3] !== "0A" || !inodes.has(f[9]!)) continue; // 0A: LISTEN
      out.push(`${hexAddress(addrHex!)}:${parseInt(portHex!, 16)}`);
    }
  }
  return out;
}

/** /proc/net/tcp's address: IPv4 as one little-endian word; IPv6 as four. */
function hexAddress(hex: string): string {
  if (hex.length === 8)
    return (hex.match(/../g) ?? [])
      .reverse()
      .map((b) => parseInt(b, 16))
      .join(".");
  return hex === "0".repeat(32) ? "::" : `ipv6:${hex}`;
}

describe("maplb agent: safe defaults", () => {
  const server = webApiServer();
  const dir = mkdtempSync(join(tmpdir(), "maplb-agent-healthz-"));
  let kubeconfig = "";
  before(() => {
    kubeconfig = server.writeKubeconfig(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const common = () => [
    ...["--kubeconfig", kubeconfig, "--node-name", node.nodeName, "--node-ip", node.nodeIPs[0]!],
    ...["--datapath", "emulated", "--min-sync-period", "0"],
  ];

  it("without --metrics-addr it listens on 127.0.0.1:10262 only", { timeout: 30_000 }, async () => {
    const agent = await startAgent(common());
    try {
      assert.equal(agent.status, "127.0.0.1:10262");
      assert.deepEqual(listeningAddresses(agent.child.pid!), ["127.0.0.1:10262"]);
      await healthy(agent);
    } finally {
      assert.equal(await terminate(agent), 0);
    }
  });

  it("--metrics-addr chooses another address", { timeout: 30_000 }, async () => {
    const agent = await startAgent([...common(), "--metrics-addr", "0.0.0.0:0"]);
    try {
      const port = Number(agent.status.split(":").pop());
      assert.deepEqual(listeningAddresses(agent.child.pid!), [`0.0.0.0:${port}`]);
    } finally {
      assert.equal(await terminate(agent), 0);
    }
  });

  it(
    "/healthz: unhealthy after --api-unreachable-window without the API server, healthy within 5 s of its return",
    { timeout: 60_000 },
    async () => {
      // A full sync every second from the cache: it must not keep /healthz green through the outage.
      const windowMs = 2000;
      const agent = await startAgent([
        ...common(),
        ...["--metrics-addr", "127.0.0.1:0", "--sync-period", "1s", "--api-unreachable-window", "2s"],
      ]);
      let serverDown = false;
      try {
        await healthy(agent);
        await server.stop();
        serverDown = true;
        const down = performance.now();
        const first = await getStatus(agent, "/healthz");
        assert.equal(first.status, 200, "still healthy inside the window");
        const reason = await eventually(
          async () => {
            const res = await getStatus(agent, "/healthz");
            const text = await res.text();
            assert.equal(res.status, 503, text);
            return text;
          },
          windowMs + 5000,
          "/healthz failing",
        );
        assert.ok(performance.now() - down >= windowMs, "not before the window ran out");
        assert.match(reason, /^API server unreachable for \d+\.\ds: /);
        // Long enough for an uncapped doubling backoff (200 ms, 400 ms, ...) to wait 6.4 s next.
        await sleep(Math.max(0, 8000 - (performance.now() - down)));
        await server.start();
        serverDown = false;
        await healthy(agent, 5000);
        const delays = agent.logs.filter((r) => r.msg === "watch failed; restarting").map((r) => r.retryInMs);
        assert.ok(delays.length >= 4, `${delays.length} reconnects`);
        assert.ok(
          delays.every((ms) => Number(ms) <= 3000),
          `reconnect delays stay under the 3 s cap: ${delays.join(",")}`,
        );
      } finally {
        if (serverDown) await server.start(); // back for the next tests, even on failure
        assert.equal(await terminate(agent), 0);
      }
    },
  );
});
