// `maplb attach --socket-lb --cgroup PATH` and its detach and status: the socket-LB hooks on a
// cgroup v2 (src/datapath/socket-lb.ts). Each attachment is recorded under
// /run/maplb/socket-lb, as interface attachments are under /run/maplb/attachments.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openKernel } from "../../datapath/kernel.js";
import { readJsonRecords } from "../../util/json-records.js";
import { attachSocketLb, detachSocketLb, socketLbHooks, type SocketHook } from "../../datapath/socket-lb.js";

export interface SocketLbAttachment {
  cgroup: string;
  pinDir: string;
  /** Only sockets of the host's network namespace are translated (--socket-lb-hostns-only). */
  hostnsOnly: boolean;
  attachedAt: string;
}

function recordDir(): string {
  return join(process.env.MAPLB_RUN_DIR ?? "/run/maplb", "socket-lb");
}

const recordFile = (cgroup: string) =>
  join(recordDir(), `${createHash("sha256").update(cgroup).digest("hex").slice(0, 16)}.json`);

export function readSocketLbAttachments(): SocketLbAttachment[] {
  return readJsonRecords<SocketLbAttachment>(recordDir());
}

/** Loads the program over the pinned maps and attaches the hooks; returns the line to print. */
export function attachSocketLbHere(req: { cgroup: string; pinDir: string; hostnsOnly: boolean }): string {
  const dp = openKernel({ pinDir: req.pinDir, lock: true, mustExist: true });
  try {
    const cgroup = attachSocketLb(dp, req.cgroup, req.hostnsOnly);
    const a: SocketLbAttachment = { ...req, cgroup, attachedAt: new Date().toISOString() };
    mkdirSync(recordDir(), { recursive: true });
    writeFileSync(recordFile(cgroup), JSON.stringify(a) + "\n");
    const scope = req.hostnsOnly ? ", host network namespace only" : "";
    return `attached socket LB (connect, sendmsg, recvmsg, getpeername; IPv4 and IPv6) to cgroup ${JSON.stringify(cgroup)} (maps in ${req.pinDir}${scope})`;
  } finally {
    dp.close();
  }
}

/** Detaches from the given cgroup, or from every recorded one; returns the lines to print. */
export function detachSocketLbHere(cgroup?: string): string[] {
  const targets = cgroup ? [cgroup] : readSocketLbAttachments().map((a) => a.cgroup);
  if (targets.length === 0) return ["no socket LB attached by maplb"];
  return targets.map((dir) => {
    const gone = !existsSync(dir);
    const n = gone ? 0 : detachSocketLb(dir);
    rmSync(recordFile(dir), { force: true });
    const what = gone ? "the cgroup is gone" : `${n} program(s)`;
    return `detached socket LB from cgroup ${JSON.stringify(dir)} (${what})`;
  });
}

/** Recorded attachments with the hooks the kernel still shows; those with none are forgotten. */
export function socketLbStatus(): {
  live: (SocketLbAttachment & { hooks: SocketHook[] })[];
  forgotten: string[];
} {
  const live: (SocketLbAttachment & { hooks: SocketHook[] })[] = [];
  const forgotten: string[] = [];
  for (const a of readSocketLbAttachments()) {
    const hooks = existsSync(a.cgroup) ? socketLbHooks(a.cgroup) : [];
    if (hooks.length > 0) live.push({ ...a, hooks });
    else {
      forgotten.push(a.cgroup);
      rmSync(recordFile(a.cgroup), { force: true });
    }
  }
  return { live, forgotten };
}

export function socketLbStatusText(s: ReturnType<typeof socketLbStatus>): string[] {
  const out = s.live.length ? ["socket LB:"] : [];
  for (const a of s.live)
    out.push(
      `  cgroup ${JSON.stringify(a.cgroup)}  hooks ${a.hooks.join(",")}  maps ${a.pinDir}${a.hostnsOnly ? "  hostns-only" : ""}  since ${a.attachedAt}`,
    );
  for (const c of s.forgotten)
    out.push(`forgot socket LB on cgroup ${JSON.stringify(c)}: no maplb program is attached there any more`);
  return out;
}
