// `maplb attach`, `maplb detach`, `maplb status`: the kernel datapath on real interfaces.
// The program is loaded over the maps pinned under --pin-dir, so `maplb apply` (or the agent, or the
// lab) changes a running datapath in place. Each attachment is recorded in a file of its own under
// /run/maplb/attachments, so detach removes only what maplb attached, and status can find it again.
// A network namespace is entered by running this command again under `nsenter --net`: unlike
// `ip netns exec`, it keeps the host's mounts, so the pinned maps under /sys/fs/bpf stay in sight.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { MaplbError } from "../../errors.js";
import { readJsonRecords } from "../../util/json-records.js";
import type { MapsDump } from "../../datapath/dump.js";
import { checkPinned, detachTc, detachXdp, openKernel } from "../../datapath/kernel.js";
import { DEFAULT_PIN_DIR } from "../../datapath/options.js";
import { examplesHelp } from "../options.js";
import { addOutputOptions, type OutputFlags, outputFormat, render } from "../output.js";
import { hostPort } from "../../util/ip.js";
import {
  attachSocketLbHere,
  detachSocketLbHere,
  readSocketLbAttachments,
  socketLbStatus,
  socketLbStatusText,
} from "./socket-lb-attach.js";

export const ATTACH_MODES = ["tc", "xdp"] as const;
export type AttachMode = (typeof ATTACH_MODES)[number];

/** One interface maplb attached to. */
export interface Attachment {
  /** The network namespace (`ip netns` name), or null for the host's. */
  netns: string | null;
  iface: string;
  mode: AttachMode;
  pinDir: string;
  attachedAt: string;
}

/** Set in the child run under `nsenter`, so it does not enter the namespace again. */
const INSIDE_ENV = "MAPLB_INSIDE_NETNS";

/** The command line that runs `node script args` inside an `ip netns` namespace, keeping the host's mounts. */
export function inNetnsCommand(netns: string, script: string, args: string[]): [string, string[]] {
  return ["nsenter", [`--net=/run/netns/${netns}`, "--", process.execPath, script, ...args]];
}

function recordDir(): string {
  return join(process.env.MAPLB_RUN_DIR ?? "/run/maplb", "attachments");
}

const recordFile = (a: Pick<Attachment, "netns" | "iface">) =>
  join(recordDir(), `${a.netns ?? "host"}@${a.iface}.json`);

export function readAttachments(): Attachment[] {
  return readJsonRecords<Attachment>(recordDir());
}

/** Forgets the records of attachments in namespaces about to be deleted (their filters go with them). */
export function forgetAttachments(inNetns: (netns: string) => boolean): void {
  for (const a of readAttachments())
    if (a.netns !== null && inNetns(a.netns)) rmSync(recordFile(a), { force: true });
}

function netnsExists(netns: string | null): boolean {
  return netns === null || existsSync(`/run/netns/${netns}`);
}

/**
 * Runs this same command inside `netns` (when not already there) and returns true; false when the
 * caller is where it should be and must do the work itself.
 */
function reexecIn(netns: string | undefined, args: string[]): boolean {
  if (!netns || process.env[INSIDE_ENV] === netns) return false;
  if (!netnsExists(netns))
    throw new MaplbError("E_USAGE", `no network namespace ${netns} (see ip netns list)`);
  const r = spawnSync(
    "nsenter",
    [`--net=/run/netns/${netns}`, "--", process.execPath, process.argv[1]!, ...args],
    {
      stdio: "inherit",
      env: { ...process.env, [INSIDE_ENV]: netns },
    },
  );
  if (r.status !== 0)
    throw new MaplbError("E_EXEC", `maplb ${args[0]} in namespace ${netns} failed`, { netns });
  return true;
}

/** The flags again, for the run inside the namespace. */
function argsFor(command: string, flags: Record<string, unknown>): string[] {
  const out = [command];
  for (const [k, v] of Object.entries(flags)) {
    const flag = `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (v === true) out.push(flag);
    else if (Array.isArray(v)) for (const x of v) out.push(flag, String(x));
    else if (typeof v === "string") out.push(flag, v);
  }
  return out;
}

export interface AttachRequest {
  iface: string[];
  mode: AttachMode;
  /** The namespace the caller is in (recorded; entering it is the caller's job). */
  netns?: string;
  pinDir: string;
}

/**
 * Attaches in the current network namespace and records each attachment; returns a line per
 * interface. The lab calls this from a small script run under `nsenter`, without the whole CLI.
 */
export function attachHere(req: AttachRequest): string[] {
  // Attaching writes no map, but it holds the lock so it never loads over maps an apply is rewriting.
  const dp = openKernel({ pinDir: req.pinDir, lock: true, mustExist: true });
  const lines: string[] = [];
  try {
    mkdirSync(recordDir(), { recursive: true });
    for (const iface of req.iface) {
      if (req.mode === "xdp") dp.attachXdp(iface);
      else dp.attachTc(iface, "ingress");
      const a: Attachment = {
        netns: req.netns ?? null,
        iface,
        mode: req.mode,
        pinDir: req.pinDir,
        attachedAt: new Date().toISOString(),
      };
      writeFileSync(recordFile(a), JSON.stringify(a) + "\n");
      lines.push(`attached ${req.mode} to ${where(a)} (maps in ${req.pinDir})`);
    }
  } finally {
    dp.close();
  }
  return lines;
}

/** The socket-LB flags of attach and detach. */
interface SocketLbFlags {
  socketLb?: boolean;
  cgroup?: string;
  socketLbHostnsOnly?: boolean;
}

function attach(flags: Omit<AttachRequest, "iface"> & { iface?: string[] } & SocketLbFlags): void {
  const { socketLb, cgroup, socketLbHostnsOnly, ...rest } = flags;
  if (!!socketLb !== (cgroup !== undefined))
    throw new MaplbError(
      "E_USAGE",
      "--socket-lb and --cgroup go together: the cgroup v2 whose sockets are balanced",
    );
  if (socketLbHostnsOnly && !socketLb)
    throw new MaplbError("E_USAGE", "--socket-lb-hostns-only needs --socket-lb");
  if (!socketLb && !rest.iface)
    throw new MaplbError("E_USAGE", "give --iface (per-packet: TC or XDP), or --socket-lb --cgroup PATH");
  checkPinned(flags.pinDir); // here too, so a missing pin dir is a usage error before entering a namespace
  if (socketLb && cgroup !== undefined) {
    const line = attachSocketLbHere({ cgroup, pinDir: flags.pinDir, hostnsOnly: !!socketLbHostnsOnly });
    process.stdout.write(line + "\n");
  }
  if (rest.iface) attachIfaces({ ...rest, iface: rest.iface });
}

function attachIfaces(flags: AttachRequest): void {
  if (reexecIn(flags.netns, argsFor("attach", { ...flags }))) return;
  process.stdout.write(attachHere(flags).join("\n") + "\n");
}

const where = (a: Pick<Attachment, "netns" | "iface">) => (a.netns ? `${a.netns}/${a.iface}` : a.iface);

interface DetachFlags extends SocketLbFlags {
  iface?: string[];
  netns?: string;
}

/** Detaches one recorded attachment in the current namespace; a vanished interface is only forgotten. */
function detachHere(a: Attachment): void {
  const gone = spawnSync("ip", ["link", "show", "dev", a.iface], { stdio: "ignore" }).status !== 0;
  if (!gone) {
    if (a.mode === "xdp") detachXdp(a.iface);
    else detachTc(a.iface, "ingress");
  }
  rmSync(recordFile(a), { force: true });
  process.stdout.write(`detached ${a.mode} from ${where(a)}${gone ? " (the interface is gone)" : ""}\n`);
}

function detach(flags: DetachFlags): void {
  if (flags.cgroup !== undefined && !flags.socketLb)
    throw new MaplbError("E_USAGE", "--cgroup goes with --socket-lb");
  const everything = !flags.socketLb && !flags.iface && flags.netns === undefined;
  if (flags.socketLb || (everything && readSocketLbAttachments().length > 0)) {
    process.stdout.write(detachSocketLbHere(flags.cgroup).join("\n") + "\n");
    if (!everything && !flags.iface && flags.netns === undefined) return;
    if (everything && readAttachments().length === 0) return;
  }
  const chosen = readAttachments().filter(
    (a) =>
      (flags.netns === undefined || a.netns === flags.netns) &&
      (flags.iface === undefined || flags.iface.includes(a.iface)),
  );
  if (chosen.length === 0) {
    process.stdout.write("nothing attached by maplb matches\n");
    return;
  }
  const inside = process.env[INSIDE_ENV] ?? null;
  for (const netns of new Set(chosen.map((a) => a.netns))) {
    const group = chosen.filter((a) => a.netns === netns);
    if (!netnsExists(netns)) {
      for (const a of group) rmSync(recordFile(a), { force: true });
      process.stdout.write(`forgot ${group.length} attachment(s) in ${netns}: the namespace is gone\n`);
      continue;
    }
    if (netns !== null && netns !== inside) {
      reexecIn(netns, argsFor("detach", { netns, iface: group.map((a) => a.iface) }));
      continue;
    }
    // No maps needed (nor created): the pin dir may be gone already.
    for (const a of group) detachHere(a);
  }
}

// ---- status ----

/** Whether the kernel still shows maplb's program on the interface (seen from the host, with -n). */
function stillAttached(a: Attachment): boolean {
  if (!netnsExists(a.netns)) return false;
  const ns = a.netns ? ["-n", a.netns] : [];
  if (a.mode === "xdp") {
    const r = spawnSync("ip", [...ns, "-d", "link", "show", "dev", a.iface], { encoding: "utf8" });
    return r.status === 0 && /prog\/xdp/.test(r.stdout) && /maplb/.test(r.stdout);
  }
  const r = spawnSync("tc", [...ns, "filter", "show", "dev", a.iface, "ingress"], { encoding: "utf8" });
  return r.status === 0 && /bpf/.test(r.stdout) && /maplb/.test(r.stdout);
}

/** How full a map is; array maps are always full, so only their size is shown. */
interface MapFill {
  name: string;
  maxEntries: number;
  entries: number | null;
  keyBytes: number;
  valueBytes: number;
}

const COUNTED_MAPS = new Set([
  "lb4_services",
  "lb4_backends",
  "lb4_reverse_nat",
  "lb4_source_range",
  "node_addrs",
  "ct4",
  "lb4_affinity",
  "lb4_backend_stats",
  "lb4_reverse_sk",
  "lb6_services",
  "lb6_backends",
  "lb6_reverse_nat",
  "lb6_source_range",
  "node_addrs6",
  "ct6",
  "lb6_affinity",
]);

export interface PinDirStatus {
  pinDir: string;
  maps: MapFill[];
  verdicts: Record<string, number>;
  /** Why packets were passed or dropped (every reason but OK), non-zero only. */
  reasons: Record<string, number>;
  backends: { id: number; address: string; packets: number; bytes: number }[];
}

export function pinDirStatus(pinDir: string): PinDirStatus {
  const dp = openKernel({ pinDir, mustExist: true });
  try {
    const maps: MapFill[] = Object.entries(dp.maps.shapes).map(([name, shape]) => {
      let entries: number | null = null;
      if (COUNTED_MAPS.has(name)) {
        entries = 0;
        for (const _ of dp.maps.keys(name as keyof typeof dp.maps.shapes)) entries++;
      }
      return {
        name,
        maxEntries: shape.maxEntries,
        entries,
        keyBytes: shape.keySize,
        valueBytes: shape.valueSize,
      };
    });
    const stats = dp.stats();
    const dump: MapsDump = dp.dump();
    const num = (r: Record<string, bigint>) =>
      Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)]));
    const reasons = Object.fromEntries(
      Object.entries(num(stats.reasons)).filter(([name, n]) => n > 0 && name !== "OK"),
    );
    const backends = [...stats.backends].map(([id, c]) => {
      const b = dump.backends.get(id);
      return {
        id,
        address: b ? hostPort(b.address, b.port) : "(removed)",
        packets: Number(c.packets),
        bytes: Number(c.bytes),
      };
    });
    return {
      pinDir,
      maps,
      verdicts: num(stats.verdicts),
      reasons,
      backends: backends.sort((a, b) => a.id - b.id),
    };
  } finally {
    dp.close();
  }
}

interface StatusReport {
  attachments: (Attachment & { live: true })[];
  socketLb: ReturnType<typeof socketLbStatus>;
  /** Records of attachments the kernel no longer has (detached behind maplb's back): now forgotten. */
  forgotten: Attachment[];
  maps: PinDirStatus[];
  /** Pin dirs of live attachments that were removed: the programs keep their maps until detached. */
  goneMaps: string[];
}

/** The status as text; wide adds each map's key and value sizes. */
function statusText(report: StatusReport, wide: boolean): string {
  const { attachments, forgotten, maps: pins, goneMaps } = report;
  const out: string[] = [];
  out.push(attachments.length === 0 ? "nothing attached by maplb" : "attached:");
  for (const a of attachments)
    out.push(`  ${where(a).padEnd(40)} ${a.mode.padEnd(4)} maps ${a.pinDir}  since ${a.attachedAt}`);
  out.push(...socketLbStatusText(report.socketLb));
  for (const a of forgotten)
    out.push(`forgot ${a.mode} on ${where(a)}: it is no longer in the kernel (detached outside maplb)`);
  for (const dir of goneMaps)
    out.push(`maps under ${dir}: the pin dir is gone (attached programs keep their maps until detached)`);
  for (const p of pins) {
    out.push("", `maps under ${p.pinDir}:`);
    for (const m of p.maps) {
      const fill =
        m.entries === null ? "array" : `${m.entries} (${((100 * m.entries) / m.maxEntries).toFixed(1)}%)`;
      const sizes = wide ? `  key ${m.keyBytes} B, value ${m.valueBytes} B`.padEnd(28) : "";
      out.push(`  ${m.name.padEnd(20)} ${String(m.maxEntries).padStart(8)} max${sizes}  ${fill}`);
    }
    out.push(
      "  verdicts: " +
        Object.entries(p.verdicts)
          .map(([k, v]) => `${k} ${v}`)
          .join(", "),
    );
    out.push(
      "  reasons:  " +
        (Object.keys(p.reasons).length
          ? Object.entries(p.reasons)
              .map(([k, v]) => `${k} ${v}`)
              .join(", ")
          : "none"),
    );
    out.push("  backends (packets, bytes DNATed to each):");
    for (const b of p.backends)
      out.push(`    #${String(b.id).padEnd(5)} ${b.address.padEnd(22)} ${b.packets} pkts ${b.bytes} bytes`);
  }
  return out.join("\n") + "\n";
}

function status(flags: { pinDir?: string } & OutputFlags): void {
  if (flags.pinDir) checkPinned(flags.pinDir);
  const records = readAttachments();
  const forgotten = records.filter((a) => !stillAttached(a));
  for (const a of forgotten) rmSync(recordFile(a), { force: true });
  const attachments = records
    .filter((a) => !forgotten.includes(a))
    .map((a) => ({ ...a, live: true as const }));
  const socketLb = socketLbStatus();
  const dirs = new Set([...attachments, ...socketLb.live].map((a) => a.pinDir));
  if (flags.pinDir) dirs.add(flags.pinDir);
  const sorted = [...dirs].sort();
  const report: StatusReport = {
    attachments,
    socketLb,
    forgotten,
    maps: sorted.filter((d) => existsSync(d)).map(pinDirStatus),
    goneMaps: sorted.filter((d) => !existsSync(d)),
  };
  process.stdout.write(
    render(outputFormat(flags), {
      data: () => report,
      table: (wide) => statusText(report, wide),
    }),
  );
}

const collect = (v: string, prev: string[] = []) => {
  for (const name of v.split(",")) {
    if (!/^[\w.@-]{1,15}$/.test(name)) throw new InvalidArgumentError(`'${name}' is not an interface name`);
    prev.push(name);
  }
  return prev;
};

export function registerAttach(program: Command): void {
  program
    .command("attach")
    .summary("load maplb's BPF program and attach it (TC or XDP) to interfaces")
    .description(
      "Load maplb's BPF program over the maps pinned under --pin-dir (they must exist: `maplb apply`\n" +
        "makes them; attach creates none) and attach it to interfaces.\n" +
        "tc: a clsact qdisc and maplb's filter on ingress (handles both directions: requests are\n" +
        "DNATed, replies reverse-NATed through conntrack). xdp: the kernel's choice of native or generic.\n" +
        "The maps stay pinned: `maplb apply --pin-dir DIR` changes the running datapath in place.\n" +
        "Needs root. Attaching again replaces maplb's own program; nothing else is touched.\n" +
        "--socket-lb --cgroup PATH: socket-level LB instead (or as well): connect4, sendmsg4, recvmsg4\n" +
        "and getpeername4 hooks on a cgroup v2, so its sockets connect straight to a backend and no\n" +
        "packet of theirs is NATed (per-packet NAT on the node still serves everything else).",
    )
    .option("--iface <name>", "interface to attach to (repeatable, or a comma list)", collect)
    .addOption(new Option("--mode <mode>", "attach point").choices(ATTACH_MODES).default("tc"))
    .option("--netns <name>", "the network namespace of the interfaces (an `ip netns` name)")
    .option("--pin-dir <dir>", "where the maps are pinned", DEFAULT_PIN_DIR)
    .option("--socket-lb", "socket-level LB: balance connect()/sendmsg() of the sockets in --cgroup")
    .option("--cgroup <path>", "with --socket-lb: the cgroup v2 directory (never the root)")
    .option("--socket-lb-hostns-only", "with --socket-lb: only sockets of the host network namespace")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  maplb apply -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --node-ip 198.18.0.1\n" +
        "  maplb attach --iface eth0 --mode tc\n" +
        "  maplb attach --socket-lb --cgroup /sys/fs/cgroup/unified/pods\n" +
        "  maplb attach --netns node-a --iface veth1,veth2 --mode xdp --pin-dir /sys/fs/bpf/maplb-a",
    )
    .action((flags: Parameters<typeof attach>[0]) => attach(flags));

  program
    .command("detach")
    .summary("detach what maplb attached")
    .description(
      "Detach what `maplb attach` attached (all of it, or only the given interfaces or namespace,\n" +
        "or with --socket-lb only the socket-LB hooks).\n" +
        "Only maplb's own filter or XDP program is removed; the pinned maps stay (remove the pin\n" +
        "directory to drop them). Attachments whose namespace is gone are forgotten.",
    )
    .option("--iface <name>", "only these interfaces (repeatable, or a comma list)", collect)
    .option("--netns <name>", "only attachments in this network namespace")
    .option("--socket-lb", "the socket-LB hooks (of every recorded cgroup, or of --cgroup)")
    .option("--cgroup <path>", "with --socket-lb: only this cgroup v2 directory")
    .addHelpText(
      "after",
      examplesHelp([
        "sudo maplb detach",
        "sudo maplb detach --netns node-a --iface veth1",
        "sudo maplb detach --socket-lb --cgroup /sys/fs/cgroup/unified/pods",
      ]),
    )
    .action((flags: DetachFlags) => detach(flags));

  const statusCmd = program
    .command("status")
    .summary("what is attached where; map fill, counters, per-backend traffic")
    .description(
      "What maplb has attached, where and how (attachments the kernel no longer has are forgotten);\n" +
        "for each pin directory in use: every map's size and fill, the verdict and drop counters, and\n" +
        "packets and bytes per backend. A --pin-dir that does not exist is an error: status creates nothing.",
    )
    .option("--pin-dir <dir>", "also show the maps under this directory");
  addOutputOptions(statusCmd, "each map's key and value sizes")
    .addHelpText(
      "after",
      "\nExamples:\n  sudo maplb status\n  sudo maplb status --pin-dir /sys/fs/bpf/maplb-demo -o wide\n" +
        "  sudo maplb status -o json",
    )
    .action((flags: { pinDir?: string } & OutputFlags) => status(flags));
}
