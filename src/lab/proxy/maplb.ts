// --proxy maplb: each node gets its own kernel datapath (maps pinned under the lab's directory, so the
// nodes' Local backend sets differ as on a real cluster), attached (TC ingress, or XDP) to every
// interface traffic enters the node by. Each sync reads the maps back, compiles against them (ids
// stay stable, so established flows keep their backends) and applies the diff in hitless order.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { inNetnsCommand, type AttachRequest } from "../../cli/commands/attach.js";
import { syncOnce } from "../../agent/sync-once.js";
import { DEFAULT_BPF_OBJECT } from "../../datapath/binding.js";
import { openKernel } from "../../datapath/kernel.js";
import { MaplbError } from "../../errors.js";
import { labFamilies, labModel, nodeConfig } from "../objects.js";
import { externalNs, nodeIfnames, nodeNs, podNs } from "../network.js";
import type { LabNode, LabPlan } from "../plan.js";
import { labScript } from "../processes.js";
import type { ProxyContext, ProxyDriver } from "./types.js";

export const labPinRoot = (labName: string): string => `/sys/fs/bpf/maplb-${labName}`;
export const nodePinDir = (labName: string, node: Pick<LabNode, "name">): string =>
  join(labPinRoot(labName), node.name);

function syncNode(labName: string, plan: LabPlan, node: LabNode): number {
  // One datapath serves both families: a dual-stack node's config has both of its addresses.
  const cfg = nodeConfig(node, labFamilies(plan));
  const model = labModel(plan);
  const pinDir = nodePinDir(labName, node);
  mkdirSync(pinDir, { recursive: true });
  const dp = openKernel({ pinDir, lock: true });
  try {
    return syncOnce(dp, model, cfg).length;
  } finally {
    dp.close();
  }
}

/** Attaches (as `maplb attach` does) inside the node's namespace, on each interface; again replaces. */
function attachNode(ctx: ProxyContext, node: LabNode): string[] {
  const req: AttachRequest = {
    iface: nodeIfnames(ctx.plan, node),
    mode: ctx.attach,
    netns: nodeNs(ctx.topo.prefix, node),
    pinDir: nodePinDir(ctx.labName, node),
  };
  const [cmd, args] = inNetnsCommand(req.netns!, labScript("attach-node"), [JSON.stringify(req)]);
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0)
    throw new MaplbError("E_EXEC", `attaching maplb on node ${node.name} failed: ${r.stderr.trim()}`);
  return req.iface;
}

/** native/build/xdp_pass.bpf.o: XDP_PASS, for the far ends of a node's veths in XDP mode. */
const XDP_PASS_OBJECT = join(dirname(DEFAULT_BPF_OBJECT), "xdp_pass.bpf.o");

/**
 * XDP mode answers a connection to a service without endpoints with XDP_TX. veth hands such a frame
 * to its peer's NAPI, which runs only while the peer has an XDP program, so without one the ICMP
 * unreachable is lost. The pods and external clients behind the node get an XDP_PASS program on
 * their end (the nodes' own link has maplb on both ends). A physical NIC needs nothing like this.
 */
function passOnPeers(ctx: ProxyContext, node: LabNode): void {
  const peers = [
    ...ctx.plan.pods.filter((p) => p.node === node.name).map((p) => podNs(ctx.topo.prefix, p)),
    ...(node.index === 0 ? ctx.plan.externals.map((e) => externalNs(ctx.topo.prefix, e)) : []),
  ];
  for (const ns of peers)
    ctx.topo.exec(ns, "ip", [
      "-force",
      "link",
      "set",
      "dev",
      "eth0",
      "xdpdrv",
      "obj",
      XDP_PASS_OBJECT,
      "sec",
      "xdp",
    ]);
}

export const maplbProxy: ProxyDriver = {
  sync(ctx: ProxyContext): Promise<void> {
    for (const node of ctx.plan.nodes) {
      const ops = syncNode(ctx.labName, ctx.plan, node);
      const ifaces = attachNode(ctx, node);
      if (ctx.attach === "xdp") passOnPeers(ctx, node);
      ctx.say(`node ${node.name}: maplb maps updated (${ops} ops), ${ctx.attach} on ${ifaces.join(" ")}`);
    }
    return Promise.resolve();
  },
  paths: ({ labName }) => [labPinRoot(labName)],
};
