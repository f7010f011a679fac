// The agent's HTTP endpoint: /metrics (Prometheus text) and /healthz (200 while synced recently and the
// API server answers). It listens where --metrics-addr says: loopback by default, so a node does not
// publish its load balancer's state to the network unless asked to.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MaplbError } from "../errors.js";
import type { Health } from "./syncer.js";
import type { AgentMetrics } from "./metrics.js";

export interface StatusServer {
  /** host:port it listens on (the real port when 0 was asked for). */
  address: string;
  close(): Promise<void>;
}

/** `HOST:PORT` → its parts; the port may be 0 (any free port). */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || port > 65535)
    throw new MaplbError(
      "E_USAGE",
      `--metrics-addr expects HOST:PORT (e.g. 127.0.0.1:10262), got '${value}'`,
    );
  return { host: m[1].replace(/^\[(.*)\]$/, "$1"), port };
}

export async function serveStatus(
  addr: string,
  metrics: AgentMetrics,
  health: () => Health,
): Promise<StatusServer> {
  const { host, port } = parseHostPort(addr);
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://agent").pathname;
    if (req.method !== "GET") {
      res.writeHead(405).end();
    } else if (path === "/healthz") {
      const h = health();
      res.writeHead(h.healthy ? 200 : 503, { "content-type": "text/plain" }).end(`${h.reason}\n`);
    } else if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("maplb agent: /metrics, /healthz\n");
    }
  });
  server.listen(port, host);
  try {
    await Promise.race([once(server, "listening"), once(server, "error").then(([e]) => Promise.reject(e))]);
  } catch (err) {
    throw new MaplbError("E_USAGE", `cannot listen on ${addr}: ${(err as Error).message}`, { addr });
  }
  const a = server.address() as AddressInfo;
  return {
    address: `${a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
