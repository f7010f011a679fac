// `maplb trace --socket`: one connect() (or an unconnected UDP socket's sendmsg()) through the
// socket-LB hooks, explained: which hook, the frontend and scope, the choice, the backend the socket
// is given (or the errno connect() fails with, or why it is left alone), and what getpeername()
// (and a UDP reply's recvmsg()) then shows. Runs the hooks' own C code on the emulated datapath.
import { compile } from "../compile/compiler.js";
import { diff } from "../compile/diff.js";
import { Algorithm, frontendKeyString, SvcFlag } from "../compile/tables.js";
import type { NodeConfig, ServiceModel } from "../model/types.js";
import type { EmulatedDatapath } from "./emulated.js";
import { DEFAULT_HASH_SEED, nodeSettings } from "./options.js";
import {
  socketConnect,
  socketHashPort,
  socketPeer,
  type SocketHook,
  type SocketResult,
} from "./socket-lb.js";
import { choiceOf, frontendFor, type Trace } from "./trace.js";

export interface SocketTraceRequest {
  model: ServiceModel;
  node: NodeConfig;
  /** The socket's bound source address; null: unbound (the usual connect()). */
  source: string | null;
  address: string;
  port: number;
  protocol: "tcp" | "udp";
  cookie?: bigint;
  hashSeed?: number;
}

/** Unbound sockets: the hooks use the network namespace's cookie as the client; a trace has none. */
export const TRACE_CLIENT = "0.0.0.0";

export interface SocketTrace {
  datapath: "emulated";
  hook: SocketHook;
  cookie: string;
  source: string | null;
  destination: string;
  service: string | null;
  frontend: string | null;
  slotCount: number | null;
  algorithm: "maglev" | "random" | null;
  affinity: boolean;
  choice: Trace["choice"];
  result: SocketResult;
  /** Why, in words. */
  why: string;
  /** What getpeername() (and recvmsg() of a reply) returns afterwards; null when not connected. */
  peer: string | null;
}

export function traceSocket(dp: EmulatedDatapath, req: SocketTraceRequest): SocketTrace {
  const seed = req.hashSeed ?? DEFAULT_HASH_SEED;
  const cookie = req.cookie ?? 1n;
  const tables = compile(req.model, req.node);
  dp.configure(nodeSettings(req.node, seed));
  dp.apply(diff({ services: new Map() }, tables));

  const proto = req.protocol === "tcp" ? "TCP" : "UDP";
  const tuple = {
    src: req.source ?? TRACE_CLIENT,
    dst: req.address,
    sport: socketHashPort(cookie),
    dport: req.port,
    proto,
  } as const;
  const hit = frontendFor(tables, req.node, tuple, true);
  const master = hit?.frontend.master;
  const result = socketConnect(dp, {
    cookie,
    source: req.source,
    client: TRACE_CLIENT,
    address: req.address,
    port: req.port,
    protocol: req.protocol,
  });
  const peer =
    result.kind === "backend"
      ? socketPeer(dp, cookie, result.address, result.port)
      : result.kind === "untouched"
        ? { address: req.address, port: req.port }
        : null;
  return {
    datapath: "emulated",
    hook: req.protocol === "tcp" ? "connect4" : "sendmsg4",
    cookie: String(cookie),
    source: req.source,
    destination: `${req.address}:${req.port}`,
    service: hit?.service ?? null,
    frontend: hit ? frontendKeyString(hit.frontend.key) : null,
    slotCount: master?.count ?? null,
    algorithm: master ? (master.algorithm === Algorithm.maglev ? "maglev" : "random") : null,
    affinity: !!master && (master.flags & SvcFlag.AFFINITY) !== 0,
    choice: result.kind === "backend" ? choiceOf(master, tuple, seed) : null,
    result,
    why: whyOf(result, hit !== null, req.source),
    peer: peer ? `${peer.address}:${peer.port}` : null,
  };
}

function whyOf(result: SocketResult, frontend: boolean, source: string | null): string {
  switch (result.kind) {
    case "backend":
      return "the socket is given the backend's address: its packets leave addressed to it, none is NATed";
    case "refused":
      return result.errno === "ECONNREFUSED"
        ? "the service has no endpoints: connect() fails at once, no packet is sent"
        : `the bound source ${source} is outside the service's loadBalancerSourceRanges`;
    case "untouched":
      return !frontend
        ? "not a frontend: connect() proceeds unchanged"
        : "the frontend has source ranges and the socket is not bound yet: the per-packet path checks the real source";
  }
}

export function socketTraceText(t: SocketTrace): string {
  const call =
    t.hook === "connect4" ? "connect()" : "sendmsg() (unconnected UDP; connect() of a UDP socket alike)";
  const lines = [
    `datapath: ${t.datapath} (the cgroup hooks' own code, datapath/sock.h)`,
    `hook:     cgroup/${t.hook}: ${call} to ${t.destination}`,
    `socket:   cookie ${t.cookie}, ${t.source ? `bound to ${t.source}` : "unbound (affinity and hash use the netns cookie)"}`,
  ];
  if (t.frontend) {
    lines.push(`frontend: ${t.frontend} (service ${t.service}), ${t.slotCount} backend slots`);
    if (t.affinity) lines.push("choice:   ClientIP affinity first (a remembered backend wins)");
    if (t.choice?.row !== undefined)
      lines.push(
        `choice:   maglev, M=${t.choice.maglevM}, row hash % M = ${t.choice.row} (cookie as the port)`,
      );
    if (t.choice?.slot !== undefined)
      lines.push(`choice:   random, slot hash % ${t.slotCount} + 1 = ${t.choice.slot} (cookie as the port)`);
  } else lines.push("frontend: none (not a service address)");
  const r = t.result;
  lines.push(
    r.kind === "backend"
      ? `result:   ${t.destination} ⇒ ${r.address}:${r.port} (backend #${r.backendId})`
      : r.kind === "refused"
        ? `result:   ${t.hook === "connect4" ? "connect()" : "sendmsg()"} fails with ${r.errno}`
        : "result:   unchanged",
    `why:      ${t.why}`,
  );
  if (t.peer)
    lines.push(
      `getpeername: ${t.peer}${t.hook === "sendmsg4" ? " (and recvmsg() shows replies from it)" : ""}`,
    );
  return lines.join("\n") + "\n";
}
