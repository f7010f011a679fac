// A lab backend pod: an HTTP server on each TCP port and a UDP echo on each UDP port, run inside the
// pod's network namespace. Like the nginxdemos/hello page it answers with the pod's name and address
// and the client address it saw, so a test can tell which backend answered and whether the client's
// source IP survived. Started by the lab as `node pod-server.js --pod NS/NAME --ip IP --tcp P,… --udp P,…`.
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";

/** What every answer carries, over HTTP (JSON or text) and UDP (JSON). */
export interface PodAnswer {
  pod: string;
  ip: string;
  port: number;
  /** `address:port` of the peer as this pod saw it. */
  client: string;
}

function answerHttp(pod: string, ip: string, port: number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const answer: PodAnswer = {
      pod,
      ip,
      port,
      client: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
    };
    if (req.url?.startsWith("/json") || req.headers.accept?.includes("application/json")) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(answer) + "\n");
      return;
    }
    res.setHeader("content-type", "text/plain");
    res.end(
      `Server name: ${pod}\nServer address: ${ip}:${port}\nClient address: ${answer.client}\n` +
        `URI: ${req.url}\nDate: ${new Date().toUTCString()}\n`,
    );
  };
}

function listenUdpEcho(pod: string, ip: string, port: number): Promise<void> {
  const sock = createSocket("udp4");
  sock.on("message", (msg, rinfo) => {
    const answer: PodAnswer & { echo: string } = {
      pod,
      ip,
      port,
      client: `${rinfo.address}:${rinfo.port}`,
      echo: msg.toString("utf8", 0, Math.min(msg.length, 512)),
    };
    sock.send(JSON.stringify(answer), rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => sock.bind(port, "0.0.0.0", resolve));
}

function listenHttp(pod: string, ip: string, port: number): Promise<void> {
  const server = createServer(answerHttp(pod, ip, port));
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(port, "0.0.0.0", resolve));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pod: { type: "string" },
      ip: { type: "string" },
      tcp: { type: "string", default: "" },
      udp: { type: "string", default: "" },
      ready: { type: "string" },
    },
  });
  const ports = (list: string) => list.split(",").filter(Boolean).map(Number);
  const pod = values.pod ?? "pod";
  const ip = values.ip ?? "";
  await Promise.all([
    ...ports(values.tcp).map((p) => listenHttp(pod, ip, p)),
    ...ports(values.udp).map((p) => listenUdpEcho(pod, ip, p)),
  ]);
  if (values.ready) writeFileSync(values.ready, `${process.pid}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`pod-server: ${String(err)}\n`);
  process.exit(1);
});
