// netfilter-real: TCP connect latency (p50/p90/p99) through a router namespace, for kube-proxy's
// rules in iptables-legacy, in iptables-nft and in nftables mode, for maplb's TC program, and for a
// baseline router with no service at all — measured interleaved, with the same client, server and
// kernel, to the service that sits last in KUBE-SERVICES (kube-proxy's worst case).
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { inNetnsCommand, type AttachRequest } from "../../src/cli/commands/attach.js";
import { Compiler } from "../../src/compile/compiler.js";
import { kernelUnavailableReason, openKernel } from "../../src/datapath/kernel.js";
import { labScript } from "../../src/lab/processes.js";
import { buildIptablesRules } from "../../src/kubeproxy/iptables-rules.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig, type ServiceModel } from "../../src/model/types.js";
import {
  kubeProxyLoadUnavailable,
  loadIptables,
  loadNftables,
  payloadWithJumps,
} from "../kube-proxy-load.js";
import { buildNftRules, renderNft } from "../../src/kubeproxy/nft.js";
import { RouterLab, type RouterPath } from "../router-lab.js";
import { syntheticModel } from "../synthetic.js";
import { buildTool } from "../tools/build.js";
import {
  SOCKET_LB_ROW,
  socketLbLoad,
  socketLbSetup,
  socketLbTarget,
  socketLbTargets,
  socketLbTeardown,
  runClient,
} from "./netfilter-socket-lb.js";
import { median, percentile, type Mode, type Result, type Suite, type Target } from "../types.js";

const ENDPOINTS = 3; // the reference measurement's shape: 10,000 services with 3 endpoints each
const ROUNDS: Record<Mode, number> = { quick: 400, full: 2000 };
const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  clusterCIDR: "198.18.128.0/17",
  nfacct: false, // the nfacct counters only touch filter rules off this path
};

/** What one cell needs, built once and shared by every path. */
interface CellSetup {
  model: ServiceModel;
  /** kube-proxy's restore payload with the built-in jumps (the same text for legacy and nft). */
  payload: string;
  /** kube-proxy's nftables-mode ruleset. */
  nft: string;
}

interface PathSpec {
  impl: string;
  /** Loads the cell's rules into the router (load timing is the control-plane suite's job). */
  load(lab: RouterLab, ns: string, c: CellSetup, path: RouterPath): void;
  /** Where the client connects: the worst-case service's frontend, or (baseline) its first backend. */
  target(c: CellSetup): { ip: string; port: number };
  /** Quick grid only: the largest S this path runs at. */
  quickMaxServices?: number;
  /** Runs only with the kernel datapath (root, BPF object built). */
  needsKernel?: boolean;
}

const worst = (c: CellSetup) => c.model.ports.at(-1)!;
const serviceTarget = (c: CellSetup) => ({ ip: worst(c).clusterIP!, port: worst(c).port });

function iptablesPath(impl: string, backend: "legacy" | "nft"): PathSpec {
  return {
    impl,
    load: (lab, ns, c) => loadIptables(lab.topo, ns, backend, c.payload),
    target: serviceTarget,
  };
}

const PIN_ROOT = `/sys/fs/bpf/maplb-bench-nf-${process.pid}`;

/**
 * maplb: per cell, fresh maps pinned under a new directory, filled from the compiled model, then the
 * TC program attached on the router's two interfaces (requests are DNATed on the way in, replies
 * reverse-NATed on the way back), replacing the previous cell's program.
 */
function loadMaplb(_lab: RouterLab, ns: string, c: CellSetup, path: RouterPath): void {
  const pinDir = join(PIN_ROOT, `s${c.model.ports.length}`);
  mkdirSync(pinDir, { recursive: true });
  const entries = c.model.ports.length * (ENDPOINTS + 1) + 16;
  const dp = openKernel({
    pinDir,
    mapMax: { lb4_services: entries, lb4_backends: entries, lb4_reverse_nat: c.model.ports.length + 16 },
  });
  try {
    dp.configure({ nodeIPs: [], clusterCIDR: NODE.clusterCIDR, hashSeed: 1 });
    dp.apply(new Compiler(NODE).update(c.model.ports, []));
  } finally {
    dp.close();
  }
  const req: AttachRequest = { iface: [path.routerIn, path.routerOut], mode: "tc", netns: ns, pinDir };
  const [cmd, args] = inNetnsCommand(ns, labScript("attach-node"), [JSON.stringify(req)]);
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`attaching maplb in ${ns}: ${r.stderr.trim()}`);
}

const PATHS: PathSpec[] = [
  { impl: "baseline-no-service", load: () => {}, target: (c) => worst(c).endpoints[0]! },
  iptablesPath("kube-proxy-iptables-legacy", "legacy"),
  iptablesPath("kube-proxy-iptables-nft", "nft"),
  {
    impl: "kube-proxy-nftables",
    load: (lab, ns, c) => loadNftables(lab.topo, ns, c.nft),
    target: serviceTarget,
    // nft -f of 10k services takes over a minute on this kernel (its load time grows faster than
    // linearly; the control-plane suite measures it), so the quick grid stops at 1k.
    quickMaxServices: 1000,
  },
  { impl: "maplb", load: loadMaplb, target: serviceTarget, needsKernel: true },
  {
    impl: SOCKET_LB_ROW,
    load: (_lab, _ns, c) => socketLbLoad(PIN_ROOT, c.model, NODE, ENDPOINTS),
    target: (c) => socketLbTarget(c.model),
    needsKernel: true,
  },
];

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
    const sizes = mode === "full" ? [10, 1000, 10000, 30000] : [10, 1000, 10000];
    return sizes.map((s) => ({
      label: `S=${s} E=${ENDPOINTS}`,
      services: s,
      endpointsPerService: ENDPOINTS,
      estimateSeconds: 2 + s / 2500,
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
    const model = syntheticModel({
      services: cell.services,
      endpointsPerService: ENDPOINTS,
      algorithm: "random",
    });
    const paths = active
      .map((p, k) => ({ spec: p, path: l.paths[k]! }))
      .filter(({ spec }) => ctx.mode === "full" || cell.services <= (spec.quickMaxServices ?? Infinity));
    const c: CellSetup = {
      model,
      payload: payloadWithJumps(buildIptablesRules(model, NODE), NODE),
      nft: paths.some((p) => p.spec.impl === "kube-proxy-nftables")
        ? renderNft(buildNftRules(model, NODE))
        : "",
    };
    const eps = worst(c).endpoints;
    await l.serve(
      tool,
      eps.map((e) => e.ip),
      eps.map((e) => e.port),
    );
    for (const { spec, path } of paths) spec.load(l, path.ns, c, path);
    ctx.tick(0.5);
    const targets = paths.map(({ spec, path }) => {
      const t = spec.target(c);
      return `${path.clientDev}=${t.ip}:${t.port}`;
    });
    runClient(l.topo, l.client, tool, ["connect", "20", "1000", ...targets]); // warm-up: caches, neighbours
    const rounds = ROUNDS[ctx.mode];
    const out = parseTimes(
      runClient(l.topo, l.client, tool, ["connect", String(rounds), "1000", ...targets]),
    );
    const results: Result[] = [];
    paths.forEach(({ spec: p }, k) => {
      const r = out[k]!;
      if (r.ok === 0) throw new Error(`${p.impl}: no connection succeeded (${r.failed} failed)`);
      for (const [metric, value] of [
        ["connect_p50_us", median(r.us)],
        ["connect_p90_us", percentile(r.us, 90)],
        ["connect_p99_us", percentile(r.us, 99)],
      ] as const)
        results.push({
          suite: "netfilter-real",
          impl: p.impl,
          services: cell.services,
          endpointsPerService: ENDPOINTS,
          traffic: "worst-case",
          metric,
          value,
          unit: "us",
          samples: r.ok,
          params: { failed: r.failed, algorithm: "random" },
        });
    });
    return results;
  },

  async teardown() {
    lab?.cleanup(); // deleting the namespaces removes the veths and with them maplb's TC filters
    socketLbTeardown();
    lab = null;
    rmSync(PIN_ROOT, { recursive: true, force: true });
  },

  targets(results) {
    const p50 = (impl: string, s: number) =>
      results.find((r) => r.impl === impl && r.services === s && r.metric === "connect_p50_us")?.value;
    const out: Target[] = [];
    const legacy = p50("kube-proxy-iptables-legacy", 10000);
    const maplb = p50("maplb", 10000);
    const maplb10 = p50("maplb", 10);
    if (legacy !== undefined && maplb !== undefined)
      out.push({
        suite: "netfilter-real",
        target: "iptables-legacy p50 / maplb p50 ≥ 8 at 10k services",
        measured: `${(legacy / maplb).toFixed(1)}×`,
        met: legacy / maplb >= 8,
      });
    if (maplb !== undefined && maplb10 !== undefined)
      out.push({
        suite: "netfilter-real",
        target: "maplb p50 at 10k within 1.2× of its p50 at 10 services",
        measured: `${(maplb / maplb10).toFixed(2)}×`,
        met: maplb / maplb10 <= 1.2,
      });
    out.push(...socketLbTargets(results));
    return out;
  },
};
