// `maplb trace --socket`: one connect() (or an unconnected UDP socket's sendmsg()) through the
// socket-LB hooks, explained: which hook, the frontend and scope, the choice, the backend the socket
// is given (or the errno connect() fails with, or why it is left alone), and what getpeername()
// (and a UDP reply's recvmsg()) then shows. Runs the hooks' own C code on the emulated datapath. An
// IPv4 destination is an AF_INET socket's (connect4), an IPv6 one an AF_INET6 socket's (connect6),
// and ::ffff:a.b.c.d an AF_INET6 socket's that the IPv4 tables decide (datapath/sock.h).
import { compile } from "../compile/compiler.js";
import { diff } from "../compile/diff.js";
import { Algorithm, frontendKeyString, SvcFlag } from "../compile/tables.js";
import type { NodeConfig, ServiceModel } from "../model/types.js";
import type { EmulatedDatapath } from "./emulated.js";
import { canonicalIp, hostPort, ipv4MappedOf } from "../util/ip.js";
import { DEFAULT_HASH_SEED, nodeSettings } from "./options.js";
import {
  socketConnect,
  socketFamily,
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
export const TRACE_CLIENT6 = "::";

/**
 * What the IPv4 or IPv6 tables see of a socket's request: its destination, and the source its
 * flow hash uses (the bound source, else the client). An AF_INET6 socket to ::ffff:a.b.c.d is seen
 * through the IPv4 tables, its source only if mapped too, its client folded (0.0.0.0 for a trace).
 */
function tablesView(source: string | null, address: string): { src: string; dst: string } {
  const mapped = ipv4MappedOf(address);
  if (mapped) return { src: (source && ipv4MappedOf(source)) ?? TRACE_CLIENT, dst: mapped };
  if (socketFamily(address) === "IPv4") return { src: source ?? TRACE_CLIENT, dst: address };
  return { src: canonicalIp(source ?? TRACE_CLIENT6), dst: canonicalIp(address) };
}

export interface SocketTrace {
  datapath: "emulated";
  hook: SocketHook;
  /** The socket's family; "IPv4-mapped": an AF_INET6 socket that names an IPv4 frontend. */
  family: "IPv4" | "IPv6" | "IPv4-mapped";
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
  const six = socketFamily(req.address) === "IPv6";
  const view = tablesView(req.source, req.address);
  const tuple = { ...view, sport: socketHashPort(cookie), dport: req.port, proto } as const;
  const hit = frontendFor(tables, req.node, tuple, true);
  const master = hit?.frontend.master;
  const result = socketConnect(dp, {
    cookie,
    source: req.source,
    client: six ? TRACE_CLIENT6 : TRACE_CLIENT,
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
    hook: `${req.protocol === "tcp" ? "connect" : "sendmsg"}${six ? 6 : 4}`,
    family: !six ? "IPv4" : view.dst.includes(":") ? "IPv6" : "IPv4-mapped",
    cookie: String(cookie),
    source: req.source,
    destination: hostPort(req.address, req.port),
    service: hit?.service ?? null,
    frontend: hit ? frontendKeyString(hit.frontend.key) : null,
    slotCount: master?.count ?? null,
    algorithm: master ? (master.algorithm === Algorithm.maglev ? "maglev" : "random") : null,
    affinity: !!master && (master.flags & SvcFlag.AFFINITY) !== 0,
    choice: result.kind === "backend" ? choiceOf(master, tuple, seed) : null,
    result,
    why: whyOf(result, hit !== null, req.source),
    peer: peer ? hostPort(peer.address, peer.port) : null,
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
  const connect = t.hook.startsWith("connect");
  const call = connect ? "connect()" : "sendmsg() (unconnected UDP; connect() of a UDP socket alike)";
  const lines = [
    `datapath: ${t.datapath} (the cgroup hooks' own code, datapath/sock.h)`,
    `hook:     cgroup/${t.hook}: ${call} to ${t.destination}`,
    `socket:   cookie ${t.cookie}, ${t.source ? `bound to ${t.source}` : "unbound (affinity and hash use the netns cookie)"}`,
  ];
  if (t.family === "IPv4-mapped")
    lines.push("family:   AF_INET6 socket to an IPv4-mapped address: the IPv4 tables decide (as Cilium)");
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
      ? `result:   ${t.destination} ⇒ ${hostPort(r.address, r.port)} (backend #${r.backendId})`
      : r.kind === "refused"
        ? `result:   ${connect ? "connect()" : "sendmsg()"} fails with ${r.errno}`
        : "result:   unchanged",
    `why:      ${t.why}`,
  );
  if (t.peer) lines.push(`getpeername: ${t.peer}${connect ? "" : " (and recvmsg() shows replies from it)"}`);
  return lines.join("\n") + "\n";
}
