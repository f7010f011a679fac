// The lab's client: real HTTP and UDP requests from inside a client namespace, every one bounded in
// time. Started by the lab as `node probe.js MODE --target IP:PORT …` in the client pod's namespace;
// prints JSON on stdout.
//   http  N requests, each on a new TCP connection (a new flow, so the load balancer chooses again)
//   udp   N datagrams, each from a new socket (a new flow), to a UDP echo
//   hold  one keep-alive connection, a request every --interval ms for --duration ms; a JSON line per
//         request. A broken connection is replaced by a new one, and `conn` counts them.
import { createSocket } from "node:dgram";
import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { parseArgs } from "node:util";
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
}

interface Target {
  host: string;
  port: number;
  timeoutMs: number;
}

function httpOnce(t: Target, agent: Agent | false, onSocket?: (s: Socket) => void): Promise<ProbeResult> {
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
      path: "/json",
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
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        try {
          finish({ ok: true, answer: JSON.parse(body) as PodAnswer, remote: req.socket?.remoteAddress });
        } catch {
          finish({ ok: false, error: "EBADANSWER" });
        }
      });
    });
    req.end();
  });
}

function udpOnce(t: Target, seq: number): Promise<ProbeResult> {
  const start = performance.now();
  const sock = createSocket("udp4");
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
      try {
        finish({ ok: true, answer: JSON.parse(msg.toString()) as PodAnswer, remote: rinfo.address });
      } catch {
        finish({ ok: false, error: "EBADANSWER" });
      }
    });
    sock.send(`probe ${seq}`, t.port, t.host);
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
    const r = await httpOnce(t, agent, (s) => {
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
    },
  });
  const [host, port] = (values.target ?? "").split(":");
  const t: Target = { host: host ?? "", port: Number(port), timeoutMs: Number(values.timeout) };
  const n = Math.min(Number(values.count), 100_000);
  const concurrency = Math.max(1, Number(values.concurrency));
  switch (positionals[0]) {
    case "http":
      process.stdout.write(JSON.stringify(await pool(n, concurrency, () => httpOnce(t, false))) + "\n");
      return;
    case "udp":
      process.stdout.write(JSON.stringify(await pool(n, concurrency, (i) => udpOnce(t, i))) + "\n");
      return;
    case "hold":
      return hold(t, Number(values.interval), Math.min(Number(values.duration), 600_000));
    default:
      throw new Error(`unknown mode '${positionals[0]}' (http, udp or hold)`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`probe: ${String(err)}\n`);
  process.exit(1);
});
