// Bringing a datapath's maps to a model in one go: read the maps back (so ids, and with them the
// established flows, are kept), compile against them, and apply the difference in hitless order.
// `maplb apply` and the lab do this; the agent does the same incrementally, change by change.
import { Compiler } from "../compile/compiler.js";
import type { MapOp } from "../compile/tables.js";
import type { Datapath } from "../datapath/datapath.js";
import { nodeSettings } from "../datapath/options.js";
import type { NodeConfig, ServiceModel } from "../model/types.js";
import { DatapathSink } from "./datapath-sink.js";
import { tablesFromMaps } from "./map-contents.js";

/** Configures `dp` for `node`, writes what differs from `model`, and returns the MapOps applied. */
export function syncOnce(dp: Datapath, model: ServiceModel, node: NodeConfig): MapOp[] {
  dp.configure(nodeSettings(node));
  const prev = tablesFromMaps(new DatapathSink(dp).read(), model.ports, node);
  // As the agent's full sync does: a Compiler adopting what the maps hold, then one update whose
  // ops are the diff (compile() followed by diff() would diff every port twice).
  const wanted = new Set(model.ports.map((p) => p.id));
  const gone = [...prev.services.keys()].filter((id) => !wanted.has(id));
  const ops = new Compiler(node, prev).update(model.ports, gone);
  dp.apply(ops);
  return ops;
}
