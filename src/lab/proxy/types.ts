// What the lab needs of a proxy: put the plan's Services into every node, again after every change,
// and take away what it put outside the namespaces (deleting a namespace removes the rest).
import type { AttachMode } from "../../cli/commands/attach.js";
import type { Topology } from "../../netns/netns.js";
import type { LabPlan } from "../plan.js";

export interface ProxyContext {
  topo: Topology;
  plan: LabPlan;
  /** The lab's name: pinned maps go under a directory of their own. */
  labName: string;
  /** maplb: TC (ingress) or XDP on the nodes' interfaces. */
  attach: AttachMode;
  say: (msg: string) => void;
}

export interface ProxyDriver {
  /** Loads the rules (or maps) for the plan into every node; idempotent, hitless where the proxy is. */
  sync(ctx: ProxyContext): Promise<void>;
  /** Paths outside the namespaces that down must remove (pin directories). */
  paths(ctx: Pick<ProxyContext, "labName" | "plan">): string[];
}
