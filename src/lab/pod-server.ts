// A lab backend pod: an HTTP server on each TCP port and a UDP echo on each UDP port, run inside the
// pod's network namespace. Like the nginxdemos/hello page it answers with the pod's name and address
// and the client address it saw, so a test can tell which backend answered and whether the client's
// source IP survived. Started by the lab as `node pod-server.js --pod NS/NAME --ip IP --tcp P,… --udp P,…`,
// and in a dual-stack lab with `--ip6 IP6`: then every port listens on IPv6 too (a socket of its own, so
// an IPv4 client is still seen as 198.18.x.y, not ::ffff:198.18.x.y), answering with the pod's IPv6 address.
// For traffic as a node sees it, HTTP also serves GET /bulk/<bytes> (the lab's bulk stream, bulk.ts) and
// takes POST /upload (answering with the bytes and SHA-256 it received); the UDP echo says the size and
// SHA-256 of the datagram it got and pads its answer to that size, so a datagram larger than the MTU
// is answered by one as large (fragments both ways).
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { BULK_ANSWER_HEADER, BULK_MAX_BYTES, bulkChunks } from "./bulk.js";
import { hostPort } from "./host-port.js";

/** What every answer carries, over HTTP (JSON or text) and UDP (JSON). */
export interface PodAnswer {
  pod: string;
  ip: string;
  port: number;
  /** `address:port` of the peer as this pod saw it (`[address]:port` for IPv6: hostPort). */
  client: string;
  /** UDP, and POST /upload: the size and SHA-256 (hex) of what arrived. */
  size?: number;
  sha256?: string;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** GET /bulk/<bytes>: the bulk stream, written as the socket drains. */
function sendBulk(res: ServerResponse, answer: PodAnswer, bytes: number): void {
  res.setHeader("content-type", "application/octet-stream");
  res.setHeader(BULK_ANSWER_HEADER, JSON.stringify(answer)); // who sent it, as a JSON answer says
  res.setHeader("content-length", String(bytes));
  const chunks = bulkChunks(bytes);
  const pump = (): void => {
    for (let c = chunks.next(); !c.done; c = chunks.next())
      if (!res.write(c.value)) return void res.once("drain", pump);
    res.end();
  };
  pump();
}

function answerHttp(pod: string, ip: string, port: number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const answer: PodAnswer = {
      pod,
      ip,
      port,
      client: hostPort(req.socket.remoteAddress ?? "", req.socket.remotePort ?? 0),
    };
    const bulk = /^\/bulk\/(\d{1,10})$/.exec(req.url ?? "");
    if (bulk && Number(bulk[1]) <= BULK_MAX_BYTES) return sendBulk(res, answer, Number(bulk[1]));
    if (req.method === "POST" && req.url === "/upload") {
      const h = createHash("sha256");
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        h.update(c);
      });
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ ...answer, size, sha256: h.digest("hex") }) + "\n");
      });
      return;
    }
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

/** Where one family's sockets listen: every address of the pod (IPv6 alone, no IPv4-mapped ones). */
interface Family {
  ip: string;
  any: "0.0.0.0" | "::";
}

function listenUdpEcho(pod: string, { ip, any }: Family, port: number): Promise<void> {
  const sock = createSocket(any === "::" ? { type: "udp6", ipv6Only: true } : { type: "udp4" });
  sock.on("message", (msg, rinfo) => {
    const answer: PodAnswer & { echo: string } = {
      pod,
      ip,
      port,
      client: hostPort(rinfo.address, rinfo.port),
      size: msg.length,
      sha256: sha256(msg),
      echo: msg.toString("utf8", 0, Math.min(msg.length, 64)),
    };
    // Padded with spaces (still valid JSON) to the request's size: a large request, a large answer.
    const json = Buffer.from(JSON.stringify(answer));
    const pad = Buffer.alloc(Math.max(0, msg.length - json.length), " ");
    sock.send(Buffer.concat([json, pad]), rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => sock.bind({ port, address: any }, resolve));
}

function listenHttp(pod: string, { ip, any }: Family, port: number): Promise<void> {
  const server = createServer(answerHttp(pod, ip, port));
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen({ port, host: any, ipv6Only: any === "::" }, resolve));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pod: { type: "string" },
      ip: { type: "string" },
      ip6: { type: "string" },
      tcp: { type: "string", default: "" },
      udp: { type: "string", default: "" },
      ready: { type: "string" },
    },
  });
  const ports = (list: string) => list.split(",").filter(Boolean).map(Number);
  const pod = values.pod ?? "pod";
  const families: Family[] = [
    { ip: values.ip ?? "", any: "0.0.0.0" },
    ...(values.ip6 ? [{ ip: values.ip6, any: "::" as const }] : []),
  ];
  await Promise.all(
    families.flatMap((f) => [
      ...ports(values.tcp).map((p) => listenHttp(pod, f, p)),
      ...ports(values.udp).map((p) => listenUdpEcho(pod, f, p)),
    ]),
  );
  if (values.ready) writeFileSync(values.ready, `${process.pid}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`pod-server: ${String(err)}\n`);
  process.exit(1);
});
