// netfilter-real: TCP connect latency (p50/p90/p99) through a router namespace, for kube-proxy's
// rules in iptables-legacy, in iptables-nft and in nftables mode, for maplb's TC program, for maplb's
// socket-level hooks (and their floor: netfilter-socket-lb.ts), and for a baseline router with no
// service at all — measured interleaved, with the same client, server and kernel, to the service
// that sits last in KUBE-SERVICES (kube-proxy's worst case). Each proxy's figure that matters is
// what it ADDS to the baseline's connect in the same cell: the baseline alone (two veth hops each
// way, the TCP handshake) is most of a connect on this machine.
// Then short connections (connect, request, response, close) one after another through each path:
// connections per second, and the machine's softirq + system CPU time per connection.
// The routers are dual-stack: the paths that have IPv6 rules (and the baseline) are measured over
// IPv6 too, in the same interleaved rounds, against an IPv6 model of the same shape; their rows
// carry `family: "IPv6"` and their added latency is over the IPv6 baseline.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { inNetnsCommand, type AttachRequest } from "../../src/cli/commands/attach.js";
import { Compiler } from "../../src/compile/compiler.js";
import { kernelUnavailableReason, openKernel } from "../../src/datapath/kernel.js";
import { labScript } from "../../src/lab/processes.js";
import { buildIptablesRules } from "../../src/kubeproxy/iptables-rules.js";
import {
  DEFAULT_NODE_CONFIG,
  type IpFamily,
  type NodeConfig,
  type ServiceModel,
} from "../../src/model/types.js";
import {
  kubeProxyLoadUnavailable,
  loadIptables,
  loadNftablesInParts,
  payloadWithJumps,
} from "../kube-proxy-load.js";
import { buildNftRules, renderNft } from "../../src/kubeproxy/nft.js";
import { RouterLab, type RouterPath } from "../router-lab.js";
import { POD_PREFIX6, syntheticModel } from "../synthetic.js";
import { hostPort } from "../../src/util/ip.js";
import { buildTool } from "../tools/build.js";
import {
  EMPTY_HOOK_ROW,
  SOCKET_LB_MISS_ROW,
  SOCKET_LB_ROW,
  socketLbCgroup,
  socketLbHookRuns,
  socketLbLoad,
  socketLbSetup,
  socketLbTarget,
  socketLbTargets,
  socketLbTeardown,
  runClient,
} from "./netfilter-socket-lb.js";
import {
  ipv4Rows,
  median,
  percentile,
  seriesName,
  summarize,
  type Mode,
  type Result,
  type Suite,
  type Target,
} from "../types.js";

const ENDPOINTS = 3; // the reference measurement's shape: 10,000 services with 3 endpoints each
const ROUNDS: Record<Mode, number> = { quick: 400, full: 2000 };
/** Rounds of the socket-LB hooks' statistics run (after the timed ones). */
const HOOK_ROUNDS = 100;
/** Short connections: blocks per path (interleaved across paths) and connections per block. */
const CPS_BLOCKS: Record<Mode, number> = { quick: 30, full: 50 };
const CPS_PER_BLOCK: Record<Mode, number> = { quick: 40, full: 100 };
const BASELINE = "baseline-no-service";
const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  clusterCIDR: "198.18.128.0/17",
  clusterCIDR6: POD_PREFIX6,
  nfacct: false, // the nfacct counters only touch filter rules off this path
};
const IPV4_ONLY: readonly IpFamily[] = ["IPv4"];
const DUAL_STACK: readonly IpFamily[] = ["IPv4", "IPv6"];

/** What one cell needs in one family, built once and shared by every path. */
interface CellSetup {
  family: IpFamily;
  model: ServiceModel;
  /** kube-proxy's restore payload with the built-in jumps (the same text for legacy and nft). */
  payload: string;
  /** kube-proxy's nftables-mode ruleset. */
  nft: string;
}

interface PathSpec {
  impl: string;
  /** Loads the cell's rules, of every family it is measured over here, into the router (load
   * timing is the control-plane suite's job). */
  load(lab: RouterLab, ns: string, cells: CellSetup[], path: RouterPath): void;
  /** Where the client connects: the worst-case service's frontend, or (baseline) its first backend. */
  target(c: CellSetup): { ip: string; port: number };
  /** Full grid only: the largest S this path runs at. */
  fullMaxServices?: number;
  /** Runs only with the kernel datapath (root, BPF object built). */
  needsKernel?: boolean;
  /** The families it is measured over: IPv6 too where it has IPv6 rules. */
  families: readonly IpFamily[];
  /** The largest S it is measured at over IPv6 (the IPv6 rows are 10 to 10k services). */
  maxServices6?: number;
}

/** One series of connects: a path, over one family. */
interface Probe {
  spec: PathSpec;
  path: RouterPath;
  family: IpFamily;
}

const worst = (c: CellSetup) => c.model.ports.at(-1)!;
const serviceTarget = (c: CellSetup) => ({ ip: worst(c).clusterIP!, port: worst(c).port });

/** kube-proxy's iptables mode: IPv4 rules by iptables-restore, the IPv6 proxier's by ip6tables-restore. */
function iptablesPath(impl: string, backend: "legacy" | "nft"): PathSpec {
  return {
    impl,
    load: (lab, ns, cells) => {
      for (const c of cells) loadIptables(lab.topo, ns, backend, c.payload, c.family);
    },
    target: serviceTarget,
    // A restore of 100k services' chains would take many minutes; their growth shows by 30k.
    fullMaxServices: 30000,
    families: DUAL_STACK,
    maxServices6: 10000,
  };
}

const PIN_ROOT = `/sys/fs/bpf/maplb-bench-nf-${process.pid}`;

/**
 * maplb: per cell, fresh maps pinned under a new directory, filled from the compiled model (both
 * families' services, as on a dual-stack node: one compile, lb4 and lb6 maps), then the TC program
 * attached on the router's two interfaces (requests are DNATed on the way in, replies reverse-NATed
 * on the way back), replacing the previous cell's program.
 */
function loadMaplb(_lab: RouterLab, ns: string, cells: CellSetup[], path: RouterPath): void {
  const ports = cells.flatMap((c) => c.model.ports);
  const services = cells[0]!.model.ports.length;
  const pinDir = join(PIN_ROOT, `s${services}`);
  mkdirSync(pinDir, { recursive: true });
  const entries = services * (ENDPOINTS + 1) + 16;
  const dp = openKernel({
    pinDir,
    mapMax: {
      // Backend and rev-NAT ids are one space across the families: both maps of each are indexed by it.
      lb4_services: entries,
      lb4_backends: 2 * entries,
      lb4_reverse_nat: 2 * services + 16,
      lb6_services: entries,
      lb6_backends: 2 * entries,
      lb6_reverse_nat: 2 * services + 16,
    },
  });
  try {
    dp.configure({
      nodeIPs: [],
      clusterCIDR: NODE.clusterCIDR,
      clusterCIDR6: NODE.clusterCIDR6,
      hashSeed: 1,
    });
    dp.apply(new Compiler(NODE).update(ports, []));
  } finally {
    dp.close();
  }
  const req: AttachRequest = { iface: [path.routerIn, path.routerOut], mode: "tc", netns: ns, pinDir };
  const [cmd, args] = inNetnsCommand(ns, labScript("attach-node"), [JSON.stringify(req)]);
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`attaching maplb in ${ns}: ${r.stderr.trim()}`);
}

const PATHS: PathSpec[] = [
  { impl: BASELINE, load: () => {}, target: (c) => worst(c).endpoints[0]!, families: DUAL_STACK },
  iptablesPath("kube-proxy-iptables-legacy", "legacy"),
  iptablesPath("kube-proxy-iptables-nft", "nft"),
  {
    impl: "kube-proxy-nftables",
    // In parts: the same ruleset, loaded in a fraction of one transaction's time (see there). Even
    // so the load grows with the square of the services (the kernel names each anonymous map by
    // scanning the table's sets): 33 s at 10k, 486 s at 30k here; 100k would take about an hour.
    load: (lab, ns, [c]) => loadNftablesInParts(lab.topo, ns, c!.nft),
    target: serviceTarget,
    fullMaxServices: 30000,
    families: IPV4_ONLY,
  },
  { impl: "maplb", load: loadMaplb, target: serviceTarget, needsKernel: true, families: DUAL_STACK },
  {
    impl: SOCKET_LB_ROW,
    load: (_lab, _ns, [c]) => socketLbLoad(PIN_ROOT, c!.model, NODE, ENDPOINTS), // the two rows below too
    target: (c) => socketLbTarget(c.model),
    needsKernel: true,
    families: IPV4_ONLY,
  },
  {
    impl: SOCKET_LB_MISS_ROW,
    load: () => {},
    target: (c) => worst(c).endpoints[0]!,
    needsKernel: true,
    families: IPV4_ONLY,
  },
  {
    impl: EMPTY_HOOK_ROW,
    load: () => {},
    target: (c) => worst(c).endpoints[0]!,
    needsKernel: true,
    families: IPV4_ONLY,
  },
];

/** The client tool's target: DEV=a.b.c.d:PORT, or DEV=[IPv6]:PORT. */
const targetArg = (dev: string, t: { ip: string; port: number }) => `${dev}=${hostPort(t.ip, t.port)}`;

/** Parses `connect-latency cps` output: per target, "DEV ok failed elapsed_ns softirq_ns sys_ns". */
function parseCps(out: string) {
  return out
    .trim()
    .split("\n")
    .map((line) => {
      const [ok, failed, ns, softirqNs, sysNs] = line.trim().split(/\s+/).slice(1).map(Number);
      return { ok: ok!, failed: failed!, ns: ns!, softirqNs: softirqNs!, sysNs: sysNs! };
    });
}

/** Parses the tool's output: one line per target, "DEV ok failed t1 t2 …" (ns). */
function parseTimes(out: string): { ok: number; failed: number; us: number[] }[] {
  return out
    .trim()
    .split("\n")
    .map((line) => {
      const [, ok, failed, ...times] = line.trim().split(/\s+/);
      return { ok: Number(ok), failed: Number(failed), us: times.map((t) => Number(t) / 1000) };
    });
}

type Row = (
  probe: Probe,
  metric: string,
  value: number,
  unit: string,
  samples: number,
  params?: object,
) => Result;

/**
 * Short connections through each path, on one core: the client and the server bound to the last
 * CPU, where their packets' softirq work runs too. CPS_BLOCKS rounds in which every path in turn
 * gets a block of CPS_PER_BLOCK, so that the machine's other load falls on all of them alike. CPU
 * time is that CPU's softirq and system time during a path's blocks (/proc/stat, in ticks: many
 * short blocks sample it without bias).
 */
async function shortConnections(
  l: RouterLab,
  probes: Probe[],
  targets: string[],
  mode: Mode,
  row: Row,
): Promise<Result[]> {
  const cpu = availableParallelism() - 1;
  await l.restartServers(cpu);
  const args = ["cps", String(cpu), String(CPS_BLOCKS[mode]), String(CPS_PER_BLOCK[mode]), "1000"];
  const sum = parseCps(runClient(l.client, tool, [...args, ...targets]));
  return probes.flatMap((probe, k) => {
    const s = sum[k]!;
    if (s.ok === 0) throw new Error(`${name(probe)}: no short connection succeeded (${s.failed} failed)`);
    const params = {
      failed: s.failed,
      softirq_us_per_conn: +(s.softirqNs / 1000 / s.ok).toFixed(2),
      sys_us_per_conn: +(s.sysNs / 1000 / s.ok).toFixed(2),
      cpu: `cpu${cpu} (/proc/stat)`,
    };
    return [
      {
        ...row(probe, "conn_per_s", s.ok / (s.ns / 1e9), "conn/s", s.ok, params),
        traffic: "short-connections",
      },
      {
        ...row(probe, "cpu_us_per_conn", (s.softirqNs + s.sysNs) / 1000 / s.ok, "us", s.ok, params),
        traffic: "short-connections",
      },
    ];
  });
}

/** A probe's name in errors: `maplb`, `baseline-no-service (IPv6)`. */
const name = (p: Probe) => seriesName({ impl: p.spec.impl, family: p.family });

/** One family's model of the cell, with the rules the probes of that family load. */
function cellSetup(family: IpFamily, services: number, probes: Probe[]): CellSetup {
  const model = syntheticModel({ services, endpointsPerService: ENDPOINTS, algorithm: "random", family });
  const loads = (pred: (impl: string) => boolean) =>
    probes.some((p) => p.family === family && pred(p.spec.impl));
  return {
    family,
    model,
    payload: loads((impl) => impl.startsWith("kube-proxy-iptables"))
      ? payloadWithJumps(buildIptablesRules(model, NODE, family), NODE)
      : "",
    nft: loads((impl) => impl === "kube-proxy-nftables") ? renderNft(buildNftRules(model, NODE)) : "",
  };
}

let lab: RouterLab | null = null;
let tool = "";
/** The paths of this run: maplb's only with the kernel datapath. */
let active: PathSpec[] = [];

export const netfilterReal: Suite = {
  name: "netfilter-real",
  title: "netfilter-real: TCP connect latency through a router namespace (worst-case service, interleaved)",

  async skipReason() {
    return kubeProxyLoadUnavailable();
  },

  cells(mode) {
    const sizes = mode === "full" ? [10, 1000, 10000, 30000, 100000] : [10, 1000, 10000];
    return sizes.map((s) => ({
      label: `S=${s} E=${ENDPOINTS}`,
      services: s,
      endpointsPerService: ENDPOINTS,
      // Mostly kube-proxy's rules loading: nft's parts take ~33 s at 10k and ~8 min at 30k.
      estimateSeconds: s > 30000 ? 60 : 6 + (s / 1000) ** 2 / 2,
    }));
  },

  async setup(ctx) {
    tool = buildTool("connect-latency");
    const kernel = ctx.datapath === "kernel" && kernelUnavailableReason() === null;
    active = PATHS.filter((p) => kernel || !p.needsKernel);
    lab = new RouterLab(active.map((p) => p.impl));
    if (active.some((p) => p.impl === SOCKET_LB_ROW)) socketLbSetup();
  },

  async run(cell, ctx) {
    const l = lab!;
    const probes = active
      .flatMap((spec, k) => spec.families.map((family) => ({ spec, path: l.paths[k]!, family })))
      .filter(({ spec }) => ctx.mode === "quick" || cell.services <= (spec.fullMaxServices ?? Infinity))
      .filter(({ spec, family }) => family === "IPv4" || cell.services <= (spec.maxServices6 ?? Infinity));
    const setups = new Map<IpFamily, CellSetup>();
    for (const family of new Set(probes.map((p) => p.family)))
      setups.set(family, cellSetup(family, cell.services, probes));
    const eps = [...setups.values()].flatMap((c) => worst(c).endpoints);
    await l.serve(
      tool,
      eps.map((e) => e.ip),
      eps.map((e) => e.port),
    );
    for (const [k, spec] of active.entries()) {
      const families = probes.filter((p) => p.spec === spec).map((p) => setups.get(p.family)!);
      if (families.length > 0) spec.load(l, l.paths[k]!.ns, families, l.paths[k]!);
    }
    ctx.tick(0.5);
    const targets = probes.map(({ spec, path, family }) => {
      const cgroup = socketLbCgroup(spec.impl); // the socket-LB rows' sockets are made in their cgroup
      return targetArg(path.clientDev, spec.target(setups.get(family)!)) + (cgroup ? `@${cgroup}` : "");
    });
    runClient(l.client, tool, ["connect", "20", "1000", ...targets]); // warm-up: caches, neighbours
    const rounds = ROUNDS[ctx.mode];
    const out = parseTimes(runClient(l.client, tool, ["connect", String(rounds), "1000", ...targets]));
    const row: Row = (probe, metric, value, unit, samples, params = {}) => ({
      suite: "netfilter-real",
      impl: probe.spec.impl,
      ...(probe.family === "IPv6" ? { family: probe.family } : {}),
      services: cell.services,
      endpointsPerService: ENDPOINTS,
      traffic: "worst-case",
      metric,
      value,
      unit,
      samples,
      params: { algorithm: "random", ...params },
    });
    const results: Result[] = [];
    const p50s = new Map<Probe, number>();
    probes.forEach((probe, k) => {
      const r = out[k]!;
      if (r.ok === 0) throw new Error(`${name(probe)}: no connection succeeded (${r.failed} failed)`);
      p50s.set(probe, median(r.us));
      // The p50 carries its samples' spread, so `bench compare` can judge a change against noise.
      results.push({
        ...row(probe, "connect_p50_us", 0, "us", 0, { failed: r.failed }),
        ...summarize(r.us),
      });
      for (const [metric, value] of [
        ["connect_p90_us", percentile(r.us, 90)],
        ["connect_p99_us", percentile(r.us, 99)],
      ] as const)
        results.push(row(probe, metric, value, "us", r.ok, { failed: r.failed }));
    });
    // What each proxy adds to a connect: its p50 less the p50 of the baseline of its family, this cell.
    for (const [probe, p50] of p50s) {
      const base = [...p50s].find(([b]) => b.spec.impl === BASELINE && b.family === probe.family)?.[1];
      if (probe.spec.impl !== BASELINE && base !== undefined)
        results.push(row(probe, "connect_added_p50_us", p50 - base, "us", 1, { baseline_p50_us: base }));
    }
    const hookTargets = probes.map((probe, k) => ({ impl: probe.spec.impl, target: targets[k]! }));
    for (const h of socketLbHookRuns(hookTargets, (t) =>
      runClient(l.client, tool, ["connect", String(HOOK_ROUNDS), "1000", ...t]),
    )) {
      const probe = probes.find((p) => p.spec.impl === h.impl)!; // the socket-LB rows are IPv4 only
      results.push(
        row(probe, "hook_ns_per_connect", h.nsPerRun, "ns", h.runs, { stats: "run_time_ns / run_cnt" }),
      );
    }
    ctx.tick(0.8);
    results.push(...(await shortConnections(l, probes, targets, ctx.mode, row)));
    return results;
  },

  async teardown() {
    lab?.cleanup(); // deleting the namespaces removes the veths and with them maplb's TC filters
    socketLbTeardown();
    lab = null;
    rmSync(PIN_ROOT, { recursive: true, force: true });
  },

  targets(all) {
    const results = ipv4Rows(all); // the targets were set for IPv4
    const value = (impl: string, s: number, metric: string) =>
      results.find((r) => r.impl === impl && r.services === s && r.metric === metric)?.value;
    const added = (impl: string, s: number) => value(impl, s, "connect_added_p50_us");
    const out: Target[] = [];
    const sizes = [...new Set(results.map((r) => r.services))].sort((a, b) => a - b);
    const maplb = sizes.flatMap((s) => {
      const a = added("maplb", s);
      return a === undefined ? [] : [{ s, a, base: value(BASELINE, s, "connect_p50_us")! }];
    });
    if (maplb.length > 0) {
      const worst = maplb.reduce((w, x) => (x.a > w.a ? x : w));
      out.push({
        suite: "netfilter-real",
        target: "maplb adds ≤ 1 µs to a connect (p50 over the no-service baseline) at every service count",
        measured: `worst +${worst.a.toFixed(1)} µs at ${worst.s} services (baseline ${worst.base.toFixed(1)} µs)`,
        met: worst.a <= 1,
        value: worst.a,
        line: { metric: "connect_added_p50_us", y: 1 },
      });
    }
    const legacy = added("kube-proxy-iptables-legacy", 10000);
    const maplb10k = added("maplb", 10000);
    if (legacy !== undefined && maplb10k !== undefined) {
      // A proxy within the noise of the baseline adds ~0: count it as adding 0.1 µs, the
      // resolution of these figures, so that the ratio stays finite and honest.
      const ratio = legacy / Math.max(maplb10k, 0.1);
      out.push({
        suite: "netfilter-real",
        target: "added connect latency at 10k services: iptables-legacy / maplb ≥ 20",
        measured: `${ratio.toFixed(1)}× (+${legacy.toFixed(1)} vs +${maplb10k.toFixed(1)} µs)`,
        met: ratio >= 20,
      });
    }
    out.push(...socketLbTargets(results));
    return out;
  },
};
