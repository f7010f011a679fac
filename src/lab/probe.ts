// The lab's client: real HTTP and UDP requests from inside a client namespace, every one bounded in
// time. Started by the lab as `node probe.js MODE --target IP:PORT …` in the client pod's namespace;
// prints JSON on stdout.
//   http  N requests, each on a new TCP connection (a new flow, so the load balancer chooses again)
//   udp   N datagrams, each from a new socket (a new flow), to a UDP echo
//   hold  one keep-alive connection, a request every --interval ms for --duration ms; a JSON line per
//         request. A broken connection is replaced by a new one, and `conn` counts them.
//   bulk  N downloads of --bytes of the bulk stream (GET /bulk/<bytes>), each checked byte for byte
//   upload N uploads of --bytes of the bulk stream (POST /upload), checked by the pod's SHA-256
//   udp --size S  datagrams of S bytes (larger than the MTU: fragments), answered by one as large
// --timeout bounds each request (a whole transfer, for bulk and upload).
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { Agent, request, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { parseArgs } from "node:util";
import {
  BULK_ANSWER_HEADER,
  BULK_MAX_BYTES,
  BulkChecker,
  bulkChunks,
  bulkDigest,
  BulkStream,
} from "./bulk.js";
import { isIPv6 } from "../util/ip.js";
import { hostOf } from "./host-port.js";
import type { PodAnswer } from "./pod-server.js";

/** One request's outcome. `remote` is the address the answer came from (the frontend, for a load balancer). */
export interface ProbeResult {
  ok: boolean;
  ms: number;
  answer?: PodAnswer;
  remote?: string;
  error?: string;
  /** hold mode: which connection (1, 2, …) carried the request. */
  conn?: number;
  /** bulk, upload and sized udp: the payload bytes that arrived whole and unchanged. */
  bytes?: number;
}

/** The largest UDP payload IPv4 carries (IPv6, without jumbograms, 20 bytes more). */
const MAX_DATAGRAM = 65507;

interface Target {
  host: string;
  port: number;
  timeoutMs: number;
}

/** What one HTTP exchange sends, and how its response is read into a result. */
interface Exchange {
  method: "GET" | "POST";
  path: string;
  body?: () => Iterable<Buffer>;
  read: (res: IncomingMessage, finish: (r: Omit<ProbeResult, "ms">) => void) => void;
}

function httpOnce(
  t: Target,
  agent: Agent | false,
  ex: Exchange = JSON_EXCHANGE,
  onSocket?: (s: Socket) => void,
): Promise<ProbeResult> {
  const start = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Omit<ProbeResult, "ms">) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...r, ms: Math.round((performance.now() - start) * 10) / 10 });
    };
    const req = request({
      host: t.host,
      port: t.port,
      path: ex.path,
      method: ex.method,
      agent,
      headers: { accept: "application/json" },
    });
    const timer = setTimeout(() => {
      finish({ ok: false, error: "ETIMEDOUT" });
      req.destroy();
    }, t.timeoutMs);
    req.on("socket", (s) => onSocket?.(s));
    req.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message }));
    req.on("response", (res) => {
      res.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message }));
      ex.read(res, (r) => finish({ ...r, remote: req.socket?.remoteAddress }));
    });
    if (!ex.body) return void req.end();
    const chunks = ex.body()[Symbol.iterator]();
    const pump = (): void => {
      for (let c = chunks.next(); !c.done; c = chunks.next())
        if (!req.write(c.value)) return void req.once("drain", pump);
      req.end();
    };
    pump();
  });
}

/** GET /json: the pod's answer. */
const JSON_EXCHANGE: Exchange = {
  method: "GET",
  path: "/json",
  read: (res, finish) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => (body += c));
    res.on("end", () => {
      try {
        finish({ ok: true, answer: JSON.parse(body) as PodAnswer });
      } catch {
        finish({ ok: false, error: "EBADANSWER" });
      }
    });
  },
};

/** GET /bulk/<bytes>: every byte checked against the stream as it arrives. */
function bulkExchange(bytes: number): Exchange {
  return {
    method: "GET",
    path: `/bulk/${bytes}`,
    read: (res, finish) => {
      const check = new BulkChecker();
      const header = res.headers[BULK_ANSWER_HEADER];
      const answer = typeof header === "string" ? (JSON.parse(header) as PodAnswer) : undefined;
      res.on("data", (c: Buffer) => check.update(c));
      res.on("end", () => {
        if (check.firstMismatch !== null)
          finish({
            ok: false,
            answer,
            bytes: check.received,
            error: `ECORRUPT at byte ${check.firstMismatch}`,
          });
        else if (check.received !== bytes)
          finish({
            ok: false,
            answer,
            bytes: check.received,
            error: `ESHORT: ${check.received} of ${bytes} bytes`,
          });
        else finish({ ok: true, answer, bytes });
      });
    },
  };
}

/** POST /upload: the pod's SHA-256 of what it received against the stream's. */
function uploadExchange(bytes: number, digest: string): Exchange {
  return {
    method: "POST",
    path: "/upload",
    body: () => bulkChunks(bytes),
    read: (res, finish) =>
      JSON_EXCHANGE.read(res, (r) => {
        if (!r.ok || !r.answer) return finish(r);
        const whole = r.answer.size === bytes && r.answer.sha256 === digest;
        finish(
          whole
            ? { ...r, bytes }
            : { ...r, ok: false, error: `ECORRUPT: the pod got ${r.answer.size} bytes, another SHA-256` },
        );
      }),
  };
}

/** Datagram `seq`: "probe <seq>", and for a size, the bulk stream up to it. */
function datagram(seq: number, size: number): Buffer {
  const head = Buffer.from(`probe ${seq}`);
  if (size <= head.length) return head;
  return Buffer.concat([head, new BulkStream().next(size - head.length)]);
}

function udpOnce(t: Target, seq: number, size = 0): Promise<ProbeResult> {
  const start = performance.now();
  const sock = createSocket(isIPv6(t.host) ? "udp6" : "udp4");
  const payload = datagram(seq, size);
  const digest = createHash("sha256").update(payload).digest("hex");
  return new Promise((resolve) => {
    const finish = (r: Omit<ProbeResult, "ms">) => {
      clearTimeout(timer);
      sock.close();
      resolve({ ...r, ms: Math.round((performance.now() - start) * 10) / 10 });
    };
    const timer = setTimeout(() => finish({ ok: false, error: "ETIMEDOUT" }), t.timeoutMs);
    sock.on("error", (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message }));
    // Unconnected on purpose: a reply from any address is received, and its source is reported.
    sock.on("message", (msg, rinfo) => {
      let answer: PodAnswer;
      try {
        answer = JSON.parse(msg.toString()) as PodAnswer;
      } catch {
        return finish({ ok: false, error: "EBADANSWER" });
      }
      const r = { answer, remote: rinfo.address, bytes: msg.length };
      // Whole both ways: the pod got this very datagram, and its answer is as large.
      if (size === 0 || (answer.sha256 === digest && msg.length >= payload.length))
        finish({ ok: true, ...r });
      else
        finish({
          ok: false,
          ...r,
          error: `ECORRUPT: sent ${payload.length}, the pod got ${answer.size}, ${msg.length} came back`,
        });
    });
    sock.send(payload, t.port, t.host);
  });
}

/** Runs `n` jobs, at most `concurrency` at a time; results in job order. */
async function pool<T>(n: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) out[i] = await job(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

async function hold(t: Target, intervalMs: number, durationMs: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const seen = new WeakSet<Socket>(); // Node gives connections no id: count the sockets instead
  let conn = 0;
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    const r = await httpOnce(t, agent, JSON_EXCHANGE, (s) => {
      if (!seen.has(s)) conn++;
      seen.add(s);
    });
    process.stdout.write(JSON.stringify({ ...r, conn }) + "\n");
    if (!r.ok) agent.destroy(); // drop the broken connection; the next request opens a new one
    await new Promise((res) => setTimeout(res, intervalMs));
  }
  agent.destroy();
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      target: { type: "string" },
      count: { type: "string", short: "n", default: "1" },
      concurrency: { type: "string", default: "8" },
      timeout: { type: "string", default: "2000" },
      interval: { type: "string", default: "100" },
      duration: { type: "string", default: "5000" },
      bytes: { type: "string", default: String(1 << 20) },
      size: { type: "string", default: "0" },
    },
  });
  const bytes = Math.min(Number(values.bytes), BULK_MAX_BYTES);
  const size = Math.min(Number(values.size), MAX_DATAGRAM);
  const target = values.target ?? "";
  const port = Number(target.slice(target.lastIndexOf(":") + 1));
  const t: Target = { host: hostOf(target), port, timeoutMs: Number(values.timeout) };
  const n = Math.min(Number(values.count), 100_000);
  const concurrency = Math.max(1, Number(values.concurrency));
  switch (positionals[0]) {
    case "http":
      process.stdout.write(JSON.stringify(await pool(n, concurrency, () => httpOnce(t, false))) + "\n");
      return;
    case "udp":
      process.stdout.write(JSON.stringify(await pool(n, concurrency, (i) => udpOnce(t, i, size))) + "\n");
      return;
    case "bulk":
      process.stdout.write(
        JSON.stringify(await pool(n, concurrency, () => httpOnce(t, false, bulkExchange(bytes)))) + "\n",
      );
      return;
    case "upload": {
      const ex = uploadExchange(bytes, bulkDigest(bytes));
      process.stdout.write(JSON.stringify(await pool(n, concurrency, () => httpOnce(t, false, ex))) + "\n");
      return;
    }
    case "hold":
      return hold(t, Number(values.interval), Math.min(Number(values.duration), 600_000));
    default:
      throw new Error(`unknown mode '${positionals[0]}' (http, udp, hold, bulk or upload)`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`probe: ${String(err)}\n`);
  process.exit(1);
});
