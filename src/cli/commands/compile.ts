// `maplb compile`: Services and EndpointSlices in, the datapath's lookup tables out (as a summary or JSON).
import { Command } from "commander";
import { compile } from "../../compile/compiler.js";
import { stringifyReadable, tablesJson, tablesText } from "../../compile/render.js";
import { readModel } from "../../k8s/read.js";
import {
  addInputOptions,
  addNodeOptions,
  type InputOptions,
  type NodeOptions,
  nodeConfigFrom,
} from "../options.js";

interface CompileFlags extends InputOptions, NodeOptions {
  json?: boolean;
}

export function registerCompile(program: Command): void {
  const cmd = program
    .command("compile")
    .description(
      "Compile Services and EndpointSlices into maplb's BPF lookup tables and print them.\n" +
        "Per service port: each frontend (address:port/proto) with its scope, rev-NAT id, algorithm\n" +
        "(Maglev: table size M and offset), backend count and slots; each backend with its id and state\n" +
        "(active, or terminating: draining existing flows, no new ones); then the entries per map.\n" +
        "Endpoints are selected as kube-proxy selects them, so the tables send traffic where it would.",
    )
    .option("--json", "print the tables as JSON (Maglev rows as size, rows per backend and a checksum)");
  addNodeOptions(addInputOptions(cmd));
  cmd
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  maplb compile -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --node-ip 10.128.0.2\n" +
        "  maplb compile -f ../shared/scenarios --service default/nginx-svc --json\n" +
        "  maplb compile -f manifests/ --node-name node-a --node-ip 192.0.2.10   (ETP=Local: local endpoints)",
    )
    .action((flags: CompileFlags) => {
      const model = readModel(flags.file, flags.service ? { services: flags.service } : {});
      const tables = compile(model, nodeConfigFrom(flags));
      process.stdout.write(
        flags.json ? stringifyReadable(tablesJson(tables)) + "\n" : tablesText(tables, model.ports),
      );
    });
}
