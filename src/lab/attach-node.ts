// Attaches maplb on a node of the lab: run by the lab under `nsenter --net` with one JSON argument
// (an AttachRequest). The same code as `maplb attach`, without loading the whole CLI for it.
import { attachHere, type AttachRequest } from "../cli/commands/attach.js";

try {
  attachHere(JSON.parse(process.argv[2] ?? "{}") as AttachRequest);
} catch (err) {
  process.stderr.write(`attach-node: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
