// Packets a node carries but does not balance, sent from a client to a pod: an IGMP report with the
// Router Alert option, ICMP echo with Record Route (ping -R), and TCP and UDP with Record Route. A node
// datapath must pass them untouched. The receiving pod counts what arrives with an nftables rule in its
// own namespace (source address, protocol and option must all still be there); echo, TCP and UDP are
// also answered, and the answers counted. Every command is bounded in time.
import { spawn, spawnSync } from "node:child_process";
import { MaplbError } from "../errors.js";
import { internetChecksum } from "../datapath/packet.js";
import { sh } from "../netns/netns.js";
import type { LabClient } from "./client.js";

export const RAW_KINDS = ["igmp", "icmp-echo", "tcp-options", "udp-options"] as const;
export type RawKind = (typeof RAW_KINDS)[number];

/** Router Alert (RFC 2113): type 148, length 4, value 0. What IGMP reports carry. */
const ROUTER_ALERT = "x94040000";
/** Record Route (RFC 791) with room for two addresses: each router on the way writes itself in. */
const RECORD_ROUTE = "x070b040000000000000000";
const IGMP_GROUP = [239, 255, 0, 1];
const WATCH_TABLE = "maplb_lab_watch";
const STEP_TIMEOUT_MS = 5000;

export interface RawResult {
  kind: RawKind;
  sent: number;
  /** Packets of this kind from the client's address, with their option, seen by the receiver. */
  arrived: number;
  /** Answers the client got (echo replies, HTTP answers, UDP echoes); null for IGMP, which has none. */
  answered: number | null;
}

/** An IGMPv2 membership report (RFC 2236) for 239.255.0.1. */
function igmpReport(): Buffer {
  const b = Buffer.from([0x16, 0, 0, 0, ...IGMP_GROUP]);
  b.writeUInt16BE(internetChecksum(b), 2);
  return b;
}

function matchOf(kind: RawKind, port: number): string {
  switch (kind) {
    case "igmp":
      return "ip protocol igmp ip option ra exists";
    case "icmp-echo":
      return "icmp type echo-request ip option rr exists";
    case "tcp-options":
      return `tcp dport ${port} ip option rr exists`;
    case "udp-options":
      return `udp dport ${port} ip option rr exists`;
  }
}

/** Runs a command in a namespace, killed after STEP_TIMEOUT_MS: its exit status and output. */
function inNs(
  ns: string,
  cmd: string,
  args: string[],
  input?: string | Buffer,
): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      stdio: ["pipe", "pipe", "ignore"],
      timeout: STEP_TIMEOUT_MS,
    });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.on("error", () => resolve({ status: null, stdout }));
    child.on("close", (status) => resolve({ status, stdout }));
    child.stdin.end(input);
  });
}

/** The counter of an nftables rule in the receiver's namespace, for packets of `kind` from `src`. */
function watch(receiver: LabClient, kind: RawKind, src: string, port: number): () => number {
  sh(
    "ip",
    ["netns", "exec", receiver.netns, "nft", "-f", "-"],
    `table ip ${WATCH_TABLE}
delete table ip ${WATCH_TABLE}
table ip ${WATCH_TABLE} {
  chain input {
    type filter hook input priority -500; policy accept;
    ip saddr ${src} ${matchOf(kind, port)} counter
  }
}
`,
  );
  return () => {
    const out = sh("ip", ["netns", "exec", receiver.netns, "nft", "list", "table", "ip", WATCH_TABLE]);
    sh("ip", ["netns", "exec", receiver.netns, "nft", "delete", "table", "ip", WATCH_TABLE]);
    return Number(/counter packets (\d+)/.exec(out)?.[1] ?? 0);
  };
}

/** Sends one of `kind` from the client; true when it was answered (IGMP: sent). */
async function sendOne(client: LabClient, kind: RawKind, dst: string, port: number): Promise<boolean> {
  switch (kind) {
    case "igmp": {
      const raw = `IP4-SENDTO:${dst}:2,ip-options=${ROUTER_ALERT}`;
      return (await inNs(client.netns, "socat", ["-u", "-", raw], igmpReport())).status === 0;
    }
    case "icmp-echo":
      return (await inNs(client.netns, "ping", ["-c", "1", "-W", "2", "-R", dst])).status === 0;
    case "tcp-options": {
      const r = await inNs(
        client.netns,
        "socat",
        ["-T", "2", "-", `TCP4:${dst}:${port},ip-options=${RECORD_ROUTE},connect-timeout=2`],
        "GET /json HTTP/1.0\r\n\r\n",
      );
      return r.status === 0 && r.stdout.includes(`"ip":"${dst}"`);
    }
    case "udp-options": {
      const r = await inNs(
        client.netns,
        "socat",
        ["-t", "1", "-T", "1", "-", `UDP4:${dst}:${port},ip-options=${RECORD_ROUTE}`],
        "probe",
      );
      return r.status === 0 && r.stdout.includes(`"ip":"${dst}"`);
    }
  }
}

/**
 * Sends `count` packets (connections, for TCP) of `kind` from `client` to the pod `receiver` and
 * counts what arrived there and what was answered. `port` is the pod's TCP or UDP port where one is needed.
 */
export async function sendRaw(
  client: LabClient,
  receiver: LabClient,
  kind: RawKind,
  opts: { count: number; port?: number },
): Promise<RawResult> {
  const needsPort = kind === "tcp-options" || kind === "udp-options";
  if (needsPort && !opts.port)
    throw new MaplbError("E_USAGE", `${kind} needs a port the pod ${receiver.name} listens on`);
  const port = opts.port ?? 0;
  // A missing tool would look like lost packets: say so instead.
  for (const tool of [kind === "icmp-echo" ? "ping" : "socat", "nft"])
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
      throw new MaplbError(
        "E_EXEC",
        `lab send ${kind} needs ${tool}, not found on PATH (scripts/setup.mjs installs it)`,
      );
  const read = watch(receiver, kind, client.ip, port);
  const count = Math.min(opts.count, 100);
  const answers = await Promise.all(
    Array.from({ length: count }, () => sendOne(client, kind, receiver.ip, port)),
  );
  // IGMP has no answer to wait for: a moment for the reports to cross the node.
  if (kind === "igmp") await new Promise((r) => setTimeout(r, 200));
  const answered = answers.filter(Boolean).length;
  return { kind, sent: count, arrived: read(), answered: kind === "igmp" ? null : answered };
}
