// `maplb compile`: Services and EndpointSlices in, the datapath's lookup tables out (as a summary, wide,
// JSON or YAML).
import { Command } from "commander";
import { compile } from "../../compile/compiler.js";
import { stringifyReadable, tablesJson, tablesText } from "../../compile/render.js";
import {
  addInputOptions,
  addNodeOptions,
  type InputOptions,
  type NodeOptions,
  modelFrom,
  nodeConfigFrom,
} from "../options.js";
import { addOutputOptions, type OutputFlags, outputFormat, render } from "../output.js";

interface CompileFlags extends InputOptions, NodeOptions, OutputFlags {}

export function registerCompile(program: Command): void {
  const cmd = program
    .command("compile")
    .description(
      "Compile Services and EndpointSlices into maplb's BPF lookup tables and print them (JSON and YAML " +
        "give Maglev rows as size, rows per backend and a checksum)",
    );
  addOutputOptions(cmd, "each frontend's Maglev table and each backend's protocol and Maglev rows");
  addNodeOptions(addInputOptions(cmd));
  cmd
    .addHelpText(
      "after",
      `
Output, one block per service port:
  frontend   address:port/PROTO ([address]:port for IPv6); 0.0.0.0 and :: are the NodePort
             wildcards. A dual-stack Service gives one block per family (its IPv6 half's id ends
             in /IPv6), and each family's entries go to its maps: lb4_* or lb6_*
  scope      EXT, or INT: with externalTrafficPolicy=Local, EXT holds the local endpoints and INT
             (sources inside --cluster-cidr) all of them
  rev-nat    the id replies are reverse-NATed with
  algorithm  maglev M=<table size>@<first row in lb4_maglev (lb6_maglev for IPv6)>, or random
  count      backend slots; 0 means the datapath drops the packet (no backend)
  backends   id and state: active, or terminating (draining existing flows, no new ones)
then the entries per map. Endpoints are selected as kube-proxy selects them, so the tables send
traffic where kube-proxy would.

Examples:
  maplb compile -f ../shared/scenarios/seed-001-gke-loadbalancer.yaml --node-ip 10.128.0.2
  maplb compile -f ../shared/scenarios --service default/nginx-svc -o json
  maplb compile -f ../shared/scenarios/seed-003-eks-services.yaml -o wide
  maplb compile -f manifests/ --node-name node-a --node-ip 192.0.2.10
  maplb compile -f examples/dual-stack-lb.yaml --node-ip 192.0.2.10 --node-ip 2001:db8:ff::10`,
    )
    .action((flags: CompileFlags) => {
      const model = modelFrom(flags);
      const tables = compile(model, nodeConfigFrom(flags));
      process.stdout.write(
        render(outputFormat(flags), {
          data: () => tablesJson(tables),
          table: (wide) => tablesText(tables, model.ports, { wide }),
          json: stringifyReadable,
        }),
      );
    });
}
