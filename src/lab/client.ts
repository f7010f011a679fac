// `lab curl`: requests from a client pod (or an external client) to a Service's frontend, run by the
// probe inside that namespace, summed up per backend.
import { spawn } from "node:child_process";
import type { V1Service, V1ServicePort } from "@kubernetes/client-node";
import { MaplbError } from "../errors.js";
import { clusterIPOfFamily } from "../model/build.js";
import type { IpFamily } from "../model/types.js";
import { ipFamilyOf } from "../util/ip.js";
import { hostOf, hostPort } from "./host-port.js";
import { externalNs, podNs } from "./network.js";
import type { LabPlan } from "./plan.js";
import { inCgroup, labScript } from "./processes.js";
import type { ProbeResult } from "./probe.js";
import { labPrefix, type LabState } from "./state.js";

export const FRONTENDS = ["cluster-ip", "node-port", "load-balancer", "external-ip"] as const;
export type FrontendKind = (typeof FRONTENDS)[number];

/** A client: a pod of the lab (`client-1`, `default/client-1`) or an external client (`ext-1`). */
export interface LabClient {
  name: string;
  netns: string;
  /** Its address: what a backend sees as the source when nothing source-NATs. */
  ip: string;
  /** Its IPv6 address, in a dual-stack lab. */
  ip6?: string;
  external: boolean;
  /** --socket-lb: the pod cgroup its probes run in (none for external clients). */
  cgroup?: string;
}

export function findClient(state: LabState, name: string): LabClient {
  const prefix = labPrefix(state.name);
  const ext = state.plan.externals.find((e) => e.name === name);
  if (ext)
    return {
      name,
      netns: externalNs(prefix, ext),
      ip: ext.ip,
      ...(ext.ip6 ? { ip6: ext.ip6 } : {}),
      external: true,
    };
  const pod = state.plan.pods.find((p) => p.name === name || `${p.namespace}/${p.name}` === name);
  if (pod)
    return {
      name: `${pod.namespace}/${pod.name}`,
      netns: podNs(prefix, pod),
      ip: pod.ip,
      ...(pod.ip6 ? { ip6: pod.ip6 } : {}),
      external: false,
      ...(state.cgroups?.[pod.node] ? { cgroup: state.cgroups[pod.node] } : {}),
    };
  const known = [...state.plan.pods.map((p) => p.name), ...state.plan.externals.map((e) => e.name)];
  throw new MaplbError(
    "E_USAGE",
    `no pod or external client '${name}' in the lab; known: ${known.join(", ")}`,
  );
}

export interface TargetSpec {
  /** `NS/SVC[:PORT]` (port name or number), or `IP:PORT`. */
  target: string;
  frontend?: FrontendKind;
  /** For node-port: the node whose address to use (default the first). */
  node?: string;
  /** For external clients the default frontend is the first that exists of load-balancer, external-ip, node-port. */
  external: boolean;
  /** Which of a dual-stack Service's frontends: IPv4 (the default) or IPv6. */
  family?: IpFamily;
}

export interface Target {
  address: string;
  port: number;
  protocol: "TCP" | "UDP";
  service: string | null;
}

function servicePort(svc: V1Service, want: string | undefined): V1ServicePort {
  const ports = svc.spec?.ports ?? [];
  const p = want === undefined ? ports[0] : ports.find((x) => x.name === want || String(x.port) === want);
  if (!p || (want === undefined && ports.length > 1))
    throw new MaplbError(
      "E_USAGE",
      `say which port of ${svc.metadata?.namespace}/${svc.metadata?.name}: ${ports.map((x) => x.name || x.port).join(", ")}`,
    );
  return p;
}

function frontendAddress(
  plan: LabPlan,
  svc: V1Service,
  p: V1ServicePort,
  spec: TargetSpec,
): { address: string; port: number } {
  const family = spec.family ?? "IPv4";
  const ofFamily = (ips: string[]) => ips.filter((ip) => ipFamilyOf(ip) === family);
  const lb = ofFamily((svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])));
  const ext = ofFamily(svc.spec?.externalIPs ?? []);
  const kind: FrontendKind =
    spec.frontend ??
    (!spec.external
      ? "cluster-ip"
      : lb.length && svc.spec?.type === "LoadBalancer"
        ? "load-balancer"
        : ext.length
          ? "external-ip"
          : "node-port");
  const name = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
  const missing = () =>
    new MaplbError("E_USAGE", `${name} has no ${family === "IPv6" ? "IPv6 " : ""}${kind} frontend`);
  switch (kind) {
    case "cluster-ip": {
      const ip = clusterIPOfFamily(svc, family);
      if (!ip) throw missing();
      return { address: ip, port: p.port };
    }
    case "node-port": {
      if (!p.nodePort) throw missing();
      const node = spec.node ? plan.nodes.find((n) => n.name === spec.node) : plan.nodes[0];
      if (!node)
        throw new MaplbError(
          "E_USAGE",
          `no node '${spec.node}'; nodes: ${plan.nodes.map((n) => n.name).join(", ")}`,
        );
      const address = family === "IPv6" ? node.ip6 : node.ip;
      if (!address) throw missing();
      return { address, port: p.nodePort };
    }
    case "load-balancer":
      if (!lb[0]) throw missing();
      return { address: lb[0], port: p.port };
    case "external-ip":
      if (!ext[0]) throw missing();
      return { address: ext[0], port: p.port };
  }
}

export function resolveTarget(plan: LabPlan, spec: TargetSpec): Target {
  const raw = /^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):(\d+)(?:\/(tcp|udp))?$/i.exec(spec.target);
  if (raw && !ipFamilyOf(hostOf(`${raw[1]!}:${raw[2]!}`)))
    throw new MaplbError("E_USAGE", `'${raw[1]!}' is not an IP address`);
  if (raw)
    return {
      address: hostOf(`${raw[1]!}:${raw[2]!}`),
      port: Number(raw[2]),
      protocol: raw[3]?.toUpperCase() === "UDP" ? "UDP" : "TCP",
      service: null,
    };
  const m = /^([^/\s]+)\/([^:\s]+)(?::(\S+))?$/.exec(spec.target);
  if (!m)
    throw new MaplbError("E_USAGE", `expected NS/SVC[:PORT], IP:PORT or [IPv6]:PORT, got '${spec.target}'`);
  const [, ns, name, port] = m;
  const svc = plan.services.find(
    (s) => (s.metadata?.namespace ?? "default") === ns && s.metadata?.name === name,
  );
  if (!svc)
    throw new MaplbError("E_USAGE", `no Service ${ns}/${name} in the lab (scenario ${plan.scenario})`);
  const p = servicePort(svc, port);
  return {
    ...frontendAddress(plan, svc, p, spec),
    protocol: p.protocol === "UDP" ? "UDP" : "TCP",
    service: `${ns}/${name}`,
  };
}

export interface ProbeOptions {
  count: number;
  /** Per request; for a bulk transfer, the whole transfer. */
  timeoutMs?: number;
  concurrency?: number;
  /** TCP: instead of small HTTP requests, download ("bulk") or upload this many bytes, checked whole. */
  transfer?: { direction: "bulk" | "upload"; bytes: number };
  /** UDP: datagrams of this size (larger than the MTU: fragments), answered by ones as large. */
  size?: number;
}

/** Runs the probe in the client's namespace; the run is bounded by count × timeout. */
export function runProbe(client: LabClient, target: Target, opts: ProbeOptions): Promise<ProbeResult[]> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const args = [
    "netns",
    "exec",
    client.netns,
    process.execPath,
    labScript("probe"),
    target.protocol === "UDP" ? "udp" : (opts.transfer?.direction ?? "http"),
    "--target",
    hostPort(target.address, target.port),
    "-n",
    String(opts.count),
    "--timeout",
    String(timeoutMs),
    "--concurrency",
    String(opts.concurrency ?? 8),
    ...(opts.transfer ? ["--bytes", String(opts.transfer.bytes)] : []),
    ...(opts.size ? ["--size", String(opts.size)] : []),
  ];
  return new Promise((resolve, reject) => {
    const [cmd, cmdArgs] = inCgroup(client.cgroup, "ip", args);
    const child = spawn(cmd, cmdArgs, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const limit = setTimeout(() => child.kill("SIGKILL"), timeoutMs * opts.count + 10_000);
    child.on("close", (code) => {
      clearTimeout(limit);
      if (code !== 0)
        return reject(
          new MaplbError("E_EXEC", `probe in ${client.netns} failed: ${err.trim() || `exit ${code}`}`),
        );
      resolve(JSON.parse(out) as ProbeResult[]);
    });
  });
}

export interface CurlSummary {
  requests: number;
  ok: number;
  failed: number;
  /** Answers per backend pod IP. */
  backends: Record<string, number>;
}

export function summarize(results: readonly ProbeResult[]): CurlSummary & { errors: Record<string, number> } {
  const backends: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const r of results) {
    if (r.ok && r.answer) backends[r.answer.ip] = (backends[r.answer.ip] ?? 0) + 1;
    else errors[r.error ?? "?"] = (errors[r.error ?? "?"] ?? 0) + 1;
  }
  const ok = results.filter((r) => r.ok).length;
  return { requests: results.length, ok, failed: results.length - ok, backends, errors };
}
