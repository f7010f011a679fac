// `maplb apply`, `maplb list`, `maplb trace`: the datapath's maps from the command line.
//   apply  compiles the manifests, diffs against what the maps hold and applies the MapOps in order
//          (kernel: the maps stay pinned, so the next apply updates them in place, hitlessly);
//   list   reads the maps back, frontend by frontend, like `cilium bpf lb list`;
//   trace  runs one packet through a private datapath and through kube-proxy's rules, and explains;
//   datapath-speed  the per-packet cost of either target, as the targets time it.
import { Command, InvalidArgumentError, Option } from "commander";
import { algorithmName, flagNames, scopeName } from "../../compile/render.js";
import { BackendFlag, frontendKeyString, type MapOp } from "../../compile/tables.js";
import { syncOnce } from "../../agent/sync-once.js";
import type { Datapath } from "../../datapath/datapath.js";
import type { NativeDatapath } from "../../datapath/native-datapath.js";
import type { MapsDump } from "../../datapath/dump.js";
import { openEmulated } from "../../datapath/emulated.js";
import { kernelUnavailableReason, openKernel } from "../../datapath/kernel.js";
import { openDatapath, type DatapathChoice } from "../../datapath/open.js";
import { DEFAULT_HASH_SEED, DEFAULT_PIN_DIR, type MapMax } from "../../datapath/options.js";
import { median } from "../../util/stats.js";
import { batchOf, hostBatchTiming, pipelineNsPerPacket, scaleOps } from "../../datapath/speed.js";
import { tracePacket, type Trace } from "../../datapath/trace.js";
import type { KubeProxyVerdict } from "../../kubeproxy/verdict.js";
import { socketTraceText, traceSocket } from "../../datapath/trace-socket.js";
import { MaplbError } from "../../errors.js";
import { log } from "../../log.js";
import { hostPort, isIPv4 } from "../../util/ip.js";
import {
  addInputOptions,
  addNodeOptions,
  addServiceCidrOption,
  examplesHelp,
  modelFrom,
  nodeConfigFrom,
  type InputOptions,
  type NodeOptions,
  type ServiceCidrOptions,
} from "../options.js";
import { addOutputOptions, type OutputFlags, outputFormat, render } from "../output.js";

interface DatapathFlags {
  datapath: DatapathChoice;
  pinDir: string;
  mapMax?: number;
}

function addDatapathOptions(cmd: Command, withMapMax = true): Command {
  cmd
    .addOption(
      new Option("--datapath <kind>", "kernel (BPF, needs root), emulated (host build), or auto")
        .choices(["auto", "kernel", "emulated"])
        .default("auto"),
    )
    .option("--pin-dir <dir>", "where the kernel datapath's maps are pinned", DEFAULT_PIN_DIR);
  if (withMapMax) {
    cmd.option("--map-max <n>", "max entries of the service, backend and rev-NAT maps", (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError(`expected a positive integer, got '${v}'`);
      return n;
    });
  }
  return cmd;
}

// ---- apply -------------------------------------------------------------------------------------------

/** One line per op kind: "3 backend-upsert, 12 slot-upsert, …". */
function opSummary(ops: readonly MapOp[]): string {
  const counts = new Map<string, number>();
  for (const op of ops) counts.set(op.kind, (counts.get(op.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(", ");
}

function describeOp(op: MapOp): string {
  switch (op.kind) {
    case "backend-upsert":
      return `backend ${op.backend.id} = ${hostPort(op.backend.address, op.backend.port)}${op.backend.flags & BackendFlag.TERMINATING ? " (terminating)" : ""}`;
    case "backend-delete":
      return `backend ${op.id} removed`;
    case "master-upsert":
      return `frontend ${frontendKeyString(op.key)}: ${op.master.count} backend${op.master.count === 1 ? "" : "s"}, ${algorithmName(op.master.algorithm)}`;
    case "master-delete":
      return `frontend ${frontendKeyString(op.key)} removed`;
    default:
      return "";
  }
}

function registerApply(program: Command): void {
  const cmd = program
    .command("apply")
    .description(
      "Compile Services and EndpointSlices and apply them to the datapath's maps: the MapOps that take\n" +
        "the maps from what they hold now to the new tables, in hitless order. Established flows keep\n" +
        "their backends (ids are read back from the maps). A failed apply leaves the maps as they were.",
    );
  addDatapathOptions(addNodeOptions(addInputOptions(cmd)));
  cmd.addHelpText(
    "after",
    examplesHelp([
      "maplb apply -f ../shared/scenarios/seed-003-eks-services.yaml --datapath emulated",
      "sudo maplb apply -f manifests/ --node-ip 198.18.0.10 --datapath kernel --pin-dir /sys/fs/bpf/maplb-demo",
    ]),
  );
  cmd.action((flags: InputOptions & NodeOptions & DatapathFlags) => {
    const model = modelFrom(flags);
    const dp = openDatapath({
      kind: flags.datapath,
      pinDir: flags.pinDir,
      mapMax: flags.mapMax,
      lock: true,
    });
    try {
      const ops = syncOnce(dp, model, nodeConfigFrom(flags));
      const out = [`datapath: ${dp.description}`];
      if (ops.length === 0) out.push("no changes: the maps already hold these tables");
      else
        out.push(
          `applied ${ops.length} MapOps: ${opSummary(ops)}`,
          ...ops
            .map(describeOp)
            .filter(Boolean)
            .map((l) => `  ${l}`),
        );
      if (dp.kind === "emulated")
        out.push("(emulated: the maps lived in this process only; use --datapath kernel to keep them)");
      process.stdout.write(out.join("\n") + "\n");
    } finally {
      dp.close();
    }
  });
}

// ---- list --------------------------------------------------------------------------------------------

/** The columns before BACKENDS, and their widths; wide adds the rev-NAT id, Maglev offset and affinity. */
const LIST_COLUMNS: [string, number][] = [
  ["FRONTEND", 28],
  ["SCOPE", 6],
  ["SLOTS", 6],
  ["ALGORITHM", 16],
  ["FLAGS", 12],
];
const LIST_WIDE_COLUMNS: [string, number][] = [
  ["REV-NAT", 8],
  ["MAGLEV@", 8],
  ["AFFINITY", 9],
];

export function listText(d: MapsDump, wide = false): string {
  const columns = wide ? [...LIST_COLUMNS, ...LIST_WIDE_COLUMNS] : LIST_COLUMNS;
  const row = (cells: string[]) => cells.map((c, i) => c.padEnd(columns[i]![1])).join(" ");
  const indent = " ".repeat(columns.reduce((n, [, w]) => n + w + 1, 0));
  const lines = [`${row(columns.map(([name]) => name))} BACKENDS`];
  for (const f of d.frontends) {
    const m = f.master;
    const cells = [
      `${hostPort(f.key.address, f.key.port)}/${f.key.protocol}`,
      scopeName(f.key.scope),
      String(m?.count ?? "-"),
      m ? algorithmName(m.algorithm) + (m.maglevSize ? ` M=${m.maglevSize}` : "") : "(no master)",
      m ? flagNames(m.flags).join(",") || "-" : "-",
    ];
    if (wide)
      cells.push(
        String(m?.revNatId ?? "-"),
        m?.maglevSize ? String(m.maglevOffset) : "-",
        m?.affinityTimeout ? `${m.affinityTimeout}s` : "-",
      );
    const backends = f.slots.map((s) => {
      const b = d.backends.get(s.backendId);
      if (!b) return `#${s.slot} → ${s.backendId} (missing!)`;
      const state =
        (b.flags & BackendFlag.TERMINATING ? "terminating" : "active") +
        (b.flags & BackendFlag.LOCAL ? ", local" : "");
      return `#${s.slot} → ${hostPort(b.address, b.port)} (id ${b.id}, ${state})`;
    });
    lines.push(`${row(cells)} ${backends[0] ?? "(none)"}`, ...backends.slice(1).map((b) => `${indent}${b}`));
  }
  const inSlots = new Set(d.frontends.flatMap((f) => f.slots.map((s) => s.backendId)));
  const draining = [...d.backends.values()].filter((b) => !inSlots.has(b.id));
  if (draining.length > 0) {
    lines.push("", "BACKENDS IN NO SLOT (draining established flows):");
    for (const b of draining)
      lines.push(
        `  ${b.id}: ${hostPort(b.address, b.port)}${b.flags & BackendFlag.TERMINATING ? " (terminating)" : ""}`,
      );
  }
  if (d.nodeAddrs.length > 0) lines.push("", `node addresses (NodePort wildcard): ${d.nodeAddrs.join(" ")}`);
  return lines.join("\n") + "\n";
}

const LIST_EXAMPLES = `
Examples:
  sudo maplb list
  sudo maplb list --pin-dir /sys/fs/bpf/maplb-demo -o wide
  sudo maplb list -o yaml`;

function registerList(program: Command): void {
  const cmd = program
    .command("list")
    .description(
      "Show each frontend with its backends and their state, read back from the kernel's pinned maps.",
    )
    .option("--pin-dir <dir>", "where the kernel datapath's maps are pinned", DEFAULT_PIN_DIR);
  addOutputOptions(cmd, "each frontend's rev-NAT id, Maglev offset and affinity timeout")
    .addHelpText("after", LIST_EXAMPLES)
    .action((flags: { pinDir: string } & OutputFlags) => {
      const dp = openKernel({ pinDir: flags.pinDir, mustExist: true });
      try {
        const d = dp.dump();
        process.stdout.write(
          render(outputFormat(flags), {
            data: () => ({ ...d, backends: [...d.backends.values()] }),
            table: (wide) => listText(d, wide),
          }),
        );
      } finally {
        dp.close();
      }
    });
}

// ---- trace -------------------------------------------------------------------------------------------

function endpoint(flag: string) {
  return (v: string): { ip: string; port: number } => {
    const m = /^([\d.]+):(\d{1,5})$/.exec(v);
    const port = Number(m?.[2]);
    if (!m || !isIPv4(m[1]!) || port > 65535)
      throw new InvalidArgumentError(`${flag} expects IP:PORT, got '${v}'`);
    return { ip: m[1]!, port };
  };
}

/** A private datapath, so a trace never touches the live pinned maps. */
function traceDatapath(kind: DatapathChoice): Datapath {
  if (kind === "emulated") return openEmulated();
  const why = kernelUnavailableReason();
  if (kind === "kernel" || !why) return openKernel({ ephemeral: true });
  log.info({ reason: why }, `trace: emulated datapath, because ${why}`);
  return openEmulated();
}

export function traceText(t: Trace): string {
  const hdr = (p: NonNullable<Trace["after"]>) => `${p.src}:${p.sport} → ${p.dst}:${p.dport} ${p.proto}`;
  const lines = [`datapath: ${t.datapath}`, `packet:   ${hdr(t.before)}`];
  if (t.frontend) {
    lines.push(`frontend: ${t.frontend} (service ${t.service}), ${t.slotCount} backend slots`);
    if (t.choice?.row !== undefined)
      lines.push(`choice:   maglev, M=${t.choice.maglevM}, row hash % M = ${t.choice.row}`);
    if (t.choice?.slot !== undefined)
      lines.push(`choice:   random, slot hash % ${t.slotCount} + 1 = ${t.choice.slot}`);
  } else {
    lines.push("frontend: none (not a service address)");
  }
  lines.push(`verdict:  ${t.verdict}${t.dropReason ? ` (${t.dropReason})` : ""}`);
  if (t.snat)
    lines.push(
      t.snat.to
        ? `snat:     ${t.before.src}:${t.before.sport} → ${t.snat.to}: ${t.snat.why}`
        : `snat:     none: ${t.snat.why}`,
    );
  if (t.after && t.verdict !== "PASS") lines.push(`rewrite:  ${hdr(t.before)}  ⇒  ${hdr(t.after)}`);
  if (t.reply) lines.push(`reply:    ${hdr(t.reply.before)}  ⇒  ${hdr(t.reply.after)} (${t.reply.verdict})`);
  // The masquerade mark's consequence beside what maplb does with the same connection.
  const maplbSnat = t.snat?.to ? "maplb does" : "maplb does not";
  lines.push(
    "",
    ...kubeProxyText(t.iptables, "KUBE-MARK-MASQ", maplbSnat),
    ...kubeProxyText(t.nftables, "mark-for-masquerade", maplbSnat),
  );
  lines.push("", "differences from maplb:");
  if (t.differences.length === 0) lines.push("  none: both kube-proxy modes agree with maplb");
  for (const d of t.differences) {
    lines.push(`  ${d.mode}, ${d.aspect}: ${d.text}`);
    lines.push(
      d.known ? `    design difference '${d.known}': ${d.reason}` : "    not a known design difference",
    );
  }
  for (const note of t.notes) lines.push(`note: ${note}`);
  return lines.join("\n") + "\n";
}

/** One kube-proxy mode's verdict, its random pick, and the rules that matched, hook by hook. */
function kubeProxyText(kp: KubeProxyVerdict, markChain: string, maplbSnat: string): string[] {
  const head = `${kp.mode} (kube-proxy): ${kp.verdict}${kp.backend ? ` ${kp.backend}` : ""}`;
  const pick = kp.pick
    ? ` (random among ${kp.candidates.map((c) => c.backend).join(", ")}; for this trace the flow hash picks: ` +
      `hash % ${kp.pick.branches} = ${kp.pick.index})`
    : "";
  const masquerade = kp.masquerade
    ? `; masquerades (${markChain}): kube-proxy would SNAT to the node address here; ${maplbSnat}`
    : "";
  return [
    `${head}${pick}, ${kp.rulesEvaluated} rules evaluated${masquerade}`,
    // An iptables rule's text names its chain (-A CHAIN); an nft rule's does not.
    ...kp.path.map((s) =>
      s.text.startsWith("-A ")
        ? `  ${s.hook} ${s.table} rule ${s.rule}: ${s.text}`
        : `  ${s.hook} ${s.chain} rule ${s.rule}: ${s.text}`,
    ),
  ];
}

function registerTrace(program: Command): void {
  const cmd = program
    .command("trace")
    .description(
      "Run one packet through the datapath (a private copy of the maps, compiled from the manifests) and\n" +
        "explain it: headers, frontend and service, algorithm and backend, source NAT (or why none), rewrite,\n" +
        "verdict or drop reason, and the backend's reply on its way back; then the same packet's walk\n" +
        "through the rules kube-proxy would write, in iptables mode and in nftables mode (every hook and\n" +
        "table: DNAT, filter REJECT/DROP, firewall, masquerade), and each difference from maplb, named.\n" +
        "The SNAT address is the first --node-ip; --node-name decides which backends are local.",
    )
    .option(
      "--from <ip:port>",
      "the client (with --socket: the socket's bound source, if any)",
      endpoint("--from"),
    )
    .requiredOption("--to <ip:port>", "the destination (a frontend, or not)", endpoint("--to"))
    .addOption(new Option("--proto <proto>", "protocol").choices(["tcp", "udp"]).default("tcp"))
    .option("--socket", "trace a local socket's connect() through the socket-LB hooks instead (emulated)")
    .option(
      "--cookie <n>",
      "with --socket: the socket's cookie, which spreads sockets over backends (default 1)",
      socketCookie,
    );
  addOutputOptions(cmd, "the same lines: a trace has no narrow form");
  addDatapathOptions(addServiceCidrOption(addNodeOptions(addInputOptions(cmd))), false);
  cmd.addHelpText(
    "after",
    examplesHelp([
      "maplb trace -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --from 198.51.100.7:40000 --to 35.200.9.207:80",
      "maplb trace -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --service-cidr 10.56.0.0/20 --from 10.52.0.5:40000 --to 10.56.0.99:80",
      "maplb trace -f manifests/ --from 10.0.0.5:5353 --to 10.96.0.10:53 --proto udp -o json",
      "maplb trace -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --socket --to 35.200.9.207:80",
    ]),
  );
  cmd.action(
    (
      flags: InputOptions &
        NodeOptions &
        ServiceCidrOptions &
        DatapathFlags &
        OutputFlags & {
          from?: { ip: string; port: number };
          to: { ip: string; port: number };
          proto: "tcp" | "udp";
          socket?: boolean;
          cookie?: bigint;
        },
    ) => {
      if (flags.socket) return traceSocketCommand(flags);
      if (!flags.from)
        throw new MaplbError("E_USAGE", "trace needs --from IP:PORT (the client), unless --socket");
      const model = modelFrom(flags);
      const dp = traceDatapath(flags.datapath);
      try {
        const t = tracePacket(dp, {
          model,
          node: nodeConfigFrom(flags),
          src: flags.from.ip,
          sport: flags.from.port,
          dst: flags.to.ip,
          dport: flags.to.port,
          proto: flags.proto === "tcp" ? "TCP" : "UDP",
          serviceCIDRs: flags.serviceCidr ?? [],
        });
        process.stdout.write(render(outputFormat(flags), { data: () => t, table: () => traceText(t) }));
      } finally {
        dp.close();
      }
    },
  );
}

function socketCookie(v: string): bigint {
  if (!/^\d{1,20}$/.test(v) || BigInt(v) >= 1n << 64n)
    throw new InvalidArgumentError(`--cookie expects an unsigned 64-bit number, got '${v.slice(0, 40)}'`);
  return BigInt(v);
}

/** trace --socket: the hooks' code runs on the emulated datapath (the kernel runs it only in a cgroup). */
function traceSocketCommand(
  flags: InputOptions &
    NodeOptions & {
      from?: { ip: string };
      to: { ip: string; port: number };
      proto: "tcp" | "udp";
      cookie?: bigint;
    } & OutputFlags,
): void {
  const dp = openEmulated();
  try {
    const t = traceSocket(dp, {
      model: modelFrom(flags),
      node: nodeConfigFrom(flags),
      source: flags.from?.ip ?? null,
      address: flags.to.ip,
      port: flags.to.port,
      protocol: flags.proto,
      cookie: flags.cookie,
    });
    process.stdout.write(render(outputFormat(flags), { data: () => t, table: () => socketTraceText(t) }));
  } finally {
    dp.close();
  }
}

// ---- speed -------------------------------------------------------------------------------------------

interface SpeedFlags {
  services: number;
  backends: number;
  algorithm: "random" | "maglev";
  maglevM: number;
  repeat: number;
  batch: number;
  target: "emulated" | "kernel" | "both";
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got '${v}'`);
  return n;
};

function registerSpeed(program: Command): void {
  program
    .command("datapath-speed")
    .description(
      "Per-packet cost of the datapath, timed by each target itself: established and new flows on\n" +
        "one frame repeated (kernel: BPF_PROG_TEST_RUN's duration), then (emulated) a large batch and\n" +
        "the FFI's own cost per packet at a batch of 1024. Prints one JSON object per row; each row\n" +
        "names its algorithm and Maglev M. Kernel rows use private, temporary maps.",
    )
    .addHelpText(
      "after",
      examplesHelp([
        "maplb datapath-speed --target emulated --repeat 100000",
        "sudo maplb datapath-speed --services 1000 --algorithm maglev --maglev-m 251 --target kernel",
      ]),
    )
    .option("--services <n>", "frontends", positive, 10)
    .option("--backends <n>", "backends per frontend", positive, 10)
    .addOption(
      new Option("--algorithm <alg>", "backend choice").choices(["random", "maglev"]).default("random"),
    )
    .option("--maglev-m <m>", "Maglev table size per service (a prime)", positive, 251)
    .option("--repeat <n>", "runs of the single-frame measurements", positive, 1_000_000)
    .option("--batch <n>", "frames in the large emulated batch", positive, 1_000_000)
    .addOption(
      new Option("--target <t>", "which datapath").choices(["emulated", "kernel", "both"]).default("both"),
    )
    .action((f: SpeedFlags) => {
      const spec = {
        services: f.services,
        backendsPerService: f.backends,
        algorithm: f.algorithm,
        maglevM: f.maglevM,
      };
      const m = f.algorithm === "maglev" ? f.maglevM : 0;
      const total = f.services * (f.backends + 1);
      const mapMax: MapMax = {
        lb4_services: Math.max(65536, total),
        lb4_backends: Math.max(65536, f.services * f.backends),
        lb4_backend_stats: Math.max(65536, f.services * f.backends),
        lb4_reverse_nat: Math.max(65536, f.services),
        lb4_maglev: Math.max(1, f.services * m),
        ct4: Math.max(262144, 4 * f.batch),
      };
      const row = (o: Record<string, unknown>) =>
        process.stdout.write(
          JSON.stringify({
            ...o,
            services: f.services,
            backendsPerService: f.backends,
            algorithm: f.algorithm,
            maglevM: m || null,
          }) + "\n",
        );
      const targets =
        f.target === "both"
          ? kernelUnavailableReason()
            ? ["emulated"]
            : ["emulated", "kernel"]
          : [f.target];
      /** A fresh datapath for each measurement, so one's flows do not crowd the next one's tables. */
      const withDatapath = (target: string, fn: (dp: NativeDatapath) => void) => {
        const dp = target === "kernel" ? openKernel({ ephemeral: true, mapMax }) : openEmulated({ mapMax });
        try {
          dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: DEFAULT_HASH_SEED });
          dp.apply(scaleOps(spec));
          fn(dp);
        } finally {
          dp.close();
        }
      };
      for (const target of targets) {
        withDatapath(target, (dp) => {
          const established = median([1, 2, 3].map(() => pipelineNsPerPacket(dp, "established", f.repeat)));
          row({
            target,
            measure: "single frame, repeated",
            repeat: f.repeat,
            establishedNsPerPacket: established,
          });
          // The same loop with no pipeline (kernel: an XDP program that only returns XDP_PASS).
          const empty = median([1, 2, 3].map(() => pipelineNsPerPacket(dp, "empty", f.repeat)));
          row({
            target,
            measure: "the harness alone, no pipeline",
            repeat: f.repeat,
            emptyNsPerPacket: empty,
          });
        });
        withDatapath(target, (dp) => {
          row({
            target,
            measure: "new flows, source port moving on",
            repeat: f.repeat,
            newFlowNsPerPacket: pipelineNsPerPacket(dp, "new", f.repeat),
          });
        });
        if (target !== "emulated") continue;
        withDatapath(target, (dp) => {
          const big = hostBatchTiming(dp, batchOf(f.batch, f.services), 3);
          row({
            target,
            measure: `batch of ${f.batch}`,
            newFlows: big.newFlows,
            established: big.established,
          });
        });
        withDatapath(target, (dp) => {
          const small = hostBatchTiming(dp, batchOf(1024, f.services), 201);
          row({ target, measure: "batch of 1024 (FFI cost)", established: small.established });
        });
      }
    });
}

/** Registers apply, list, trace and datapath-speed. */
export function registerDatapath(program: Command): void {
  registerApply(program);
  registerList(program);
  registerTrace(program);
  registerSpeed(program);
}
