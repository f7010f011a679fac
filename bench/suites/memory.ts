// memory: what the state of S services × E endpoints costs. maplb: bytes of BPF map memory, as the
// kernel accounts it (bpftool's bytes_memlock of each pinned map, the maps sized to the state);
// kube-proxy: the number of iptables rules, and of nftables-mode rules, for the same state. Per
// backend: the backend table, and apart from it the per-backend packet counters, which are per-CPU
// (so they grow with the CPUs).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Compiler } from "../../src/compile/compiler.js";
import { kernelUnavailableReason, openKernel, type KernelDatapath } from "../../src/datapath/kernel.js";
import { possibleCpus } from "../../src/datapath/map-budget.js";
import { buildIptablesRules } from "../../src/kubeproxy/iptables-rules.js";
import { buildNftRules } from "../../src/kubeproxy/nft.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../../src/model/types.js";
import { syntheticModel } from "../synthetic.js";
import { maglevSizeFor } from "./datapath-emulated.js";
import type { Mode, Result, Suite, Target } from "../types.js";

const NODE: NodeConfig = { ...DEFAULT_NODE_CONFIG, clusterCIDR: "198.18.128.0/17", nfacct: false };
const ENDPOINTS = 10;
/** Maps whose size follows the services (per service) and the backends (per backend). */
const PER_SERVICE = ["lb4_services", "lb4_reverse_nat", "lb4_maglev"] as const;
const PER_BACKEND = ["lb4_backends"] as const;
const PER_BACKEND_COUNTERS = ["lb4_backend_stats"] as const;

function memlock(dp: KernelDatapath, map: string): number {
  const info = JSON.parse(
    execFileSync("bpftool", ["-j", "map", "show", "pinned", join(dp.pinDir, map)], { encoding: "utf8" }),
  );
  return Number(info.bytes_memlock);
}

export const memorySuite: Suite = {
  name: "memory",
  title: "memory: BPF map bytes per service and per backend (kernel accounting) vs iptables rules",

  async skipReason() {
    const k = kernelUnavailableReason();
    if (k) return `reads the kernel's own map accounting: ${k}`;
    return existsSync("/usr/sbin/bpftool") ? null : "needs bpftool (Debian package bpftool)";
  },

  cells(mode: Mode) {
    const sizes = mode === "full" ? [1000, 10000, 50000] : [1000, 10000];
    return sizes.map((s) => ({
      label: `S=${s} E=${ENDPOINTS}`,
      services: s,
      endpointsPerService: ENDPOINTS,
      estimateSeconds: 1 + s / 2000,
    }));
  },

  async run(cell) {
    const M = maglevSizeFor(ENDPOINTS);
    const model = syntheticModel({
      services: cell.services,
      endpointsPerService: ENDPOINTS,
      algorithm: "maglev",
      maglevTableSize: M,
    });
    const backends = cell.services * ENDPOINTS;
    // Hash maps are preallocated to max_entries: size each map to the state, so bytes per entry are real.
    const dp = openKernel({
      ephemeral: true,
      mapMax: {
        lb4_services: cell.services * (ENDPOINTS + 1),
        lb4_backends: backends,
        lb4_backend_stats: backends,
        lb4_reverse_nat: cell.services,
        lb4_maglev: cell.services * M,
      },
    });
    try {
      dp.apply(new Compiler(NODE, undefined, { maglevRows: cell.services * M }).update(model.ports, []));
      const sum = (maps: readonly string[]) => maps.reduce((a, m) => a + memlock(dp, m), 0);
      const perService = sum(PER_SERVICE) / cell.services;
      const perBackend = sum(PER_BACKEND) / backends;
      const rules = buildIptablesRules(model, NODE);
      const nft = buildNftRules(model, NODE);
      const base = {
        suite: "memory",
        services: cell.services,
        endpointsPerService: ENDPOINTS,
        traffic: "state",
        samples: 1,
      };
      const params = { algorithm: "maglev", M };
      const out: Result[] = [
        {
          ...base,
          impl: "maplb",
          metric: "map_bytes_per_service",
          value: perService,
          unit: "bytes",
          params: { ...params, maps: PER_SERVICE.join("+") },
        },
        {
          ...base,
          impl: "maplb",
          metric: "map_bytes_per_backend",
          value: perBackend,
          unit: "bytes",
          params: { maps: PER_BACKEND.join("+") },
        },
        {
          ...base,
          impl: "maplb",
          metric: "map_bytes_per_backend_counters",
          value: sum(PER_BACKEND_COUNTERS) / backends,
          unit: "bytes",
          params: { maps: PER_BACKEND_COUNTERS.join("+"), cpus: possibleCpus() },
        },
        {
          ...base,
          impl: "maplb",
          metric: "map_bytes_total",
          value: sum([...PER_SERVICE, ...PER_BACKEND, ...PER_BACKEND_COUNTERS]),
          unit: "bytes",
          params,
        },
        {
          ...base,
          impl: "kube-proxy-iptables-legacy",
          metric: "iptables_rules",
          value: rules.nat.rules.length + rules.filter.rules.length,
          unit: "rules",
          params: { nat: rules.nat.rules.length, chains: rules.nat.chains.length },
        },
        {
          // nftables mode: fewer rules (a verdict map finds the service), as many chains.
          ...base,
          impl: "kube-proxy-nftables",
          metric: "nft_rules",
          value: nft.rules.length,
          unit: "rules",
          params: { chains: nft.chains.length, map_elements: nft.elements.length },
        },
      ];
      return out;
    } finally {
      dp.close();
    }
  },

  targets(results) {
    const perBackend = results.filter((r) => r.metric === "map_bytes_per_backend").map((r) => r.value);
    if (perBackend.length === 0) return [];
    const worst = Math.max(...perBackend);
    const target: Target = {
      suite: "memory",
      target: "map bytes per backend ≤ 48 (lb4_backends, every cell)",
      measured: `worst cell ${worst.toFixed(1)} bytes`,
      met: worst <= 48,
    };
    return [target];
  },
};
