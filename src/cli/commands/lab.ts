// `maplb lab …`: a namespace lab on this machine where real TCP and UDP traffic runs through maplb
// (or kube-proxy's own rules) for a seed scenario: up, down, curl, scale, exec, show.
import { spawnSync } from "node:child_process";
import { Command, InvalidArgumentError, Option } from "commander";
import { MaplbError } from "../../errors.js";
import { ATTACH_MODES, type AttachMode } from "./attach.js";
import { CLUSTER_CIDR, SERVICE_CIDR } from "../../lab/addresses.js";
import {
  FRONTENDS,
  findClient,
  resolveTarget,
  runProbe,
  summarize,
  type CurlSummary,
  type FrontendKind,
  type Target,
} from "../../lab/client.js";
import { describePlan } from "../../lab/describe.js";
import { DEFAULT_LAB, labDown, labScale, labUp, requireLab } from "../../lab/lab.js";
import type { LabPod } from "../../lab/plan.js";
import { DEFAULT_SCENARIO, scenarioNames } from "../../lab/scenario.js";
import { PROXIES, type LabProxy } from "../../lab/state.js";
import { canCreateNamespaces } from "../../netns/netns.js";
import { examplesHelp } from "../options.js";
import { addOutputOptions, type OutputFlags, outputFormat, render } from "../output.js";

const say = (msg: string): void => void process.stdout.write(msg + "\n");

function needRoot(): void {
  const why = canCreateNamespaces();
  if (why) throw new MaplbError("E_PRIVILEGE", `the lab ${why}`);
}

const count = (flag: string, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new InvalidArgumentError(`${flag} expects 0..${max}, got '${v}'`);
  return n;
};

const labOption = () =>
  new Option("--lab <name>", "which lab (several can be up side by side; names are short words)")
    .default(DEFAULT_LAB)
    .argParser((v: string) => {
      if (!/^[a-z0-9]{1,12}$/.test(v)) throw new InvalidArgumentError("a lab name is 1-12 of a-z, 0-9");
      return v;
    });

export interface CurlReport {
  client: string;
  target: Target;
  summary: CurlSummary;
  errors: Record<string, number>;
  pods: readonly LabPod[];
}

/** `lab curl`'s table: answers per backend pod; wide adds the pod's node and its share of the answers. */
export function curlText(r: CurlReport, wide: boolean): string {
  const t = r.target;
  const lines = [`${r.client} → ${t.address}:${t.port}/${t.protocol}${t.service ? ` (${t.service})` : ""}`];
  const podOf = new Map(r.pods.map((p) => [p.ip, p]));
  for (const [ip, n] of Object.entries(r.summary.backends).sort()) {
    const pod = podOf.get(ip);
    const cells = [ip.padEnd(15), (pod ? `${pod.namespace}/${pod.name}` : "?").padEnd(40), String(n)];
    if (wide) cells.push(`${(pod?.node ?? "?").padEnd(10)}`, `${((100 * n) / r.summary.ok).toFixed(1)}%`);
    lines.push(`  ${cells.join(" ")}`);
  }
  const { ok, requests, failed } = r.summary;
  lines.push(`${ok}/${requests} ok${failed ? `, failed: ${JSON.stringify(r.errors)}` : ""}`);
  return lines.join("\n") + "\n";
}

export function registerLab(program: Command): void {
  const lab = program
    .command("lab")
    .summary("a namespace lab: a seed scenario with real TCP/UDP traffic through maplb or kube-proxy's rules")
    .description(
      [
        "A namespace lab: a seed scenario rebuilt from network namespaces on this",
        "machine, with real TCP and UDP traffic through maplb's BPF datapath or",
        "kube-proxy's iptables/nftables rules.",
        "",
        "It builds client pods, one or two nodes (the namespaces that carry the",
        "proxy, so Local traffic policies mean something), backend pods running an",
        "HTTP server that answers with its pod name and IP, a UDP echo",
        "(default/udp-echo) and cluster DNS (kube-system/kube-dns), so",
        "`curl http://nginx-svc` works inside a pod. Two external clients (ext-1,",
        "ext-2) sit behind the first node, the cluster's edge.",
        "",
        `Every address is in 198.18.0.0/15 (pods ${CLUSTER_CIDR}, services`,
        `${SERVICE_CIDR}); the scenario's own addresses are mapped there, and the`,
        "lab writes the EndpointSlices itself from the pods it starts.",
        "",
        "Needs root. Outside its namespaces it writes only /etc/netns/<ns>/,",
        "/run/maplb/<lab> and, with --proxy maplb, /sys/fs/bpf/maplb-<lab>.",
      ].join("\n"),
    )
    .addHelpText(
      "after",
      examplesHelp([
        "sudo maplb lab up --scenario seed-003",
        "sudo maplb lab curl default/nginx-svc -n 100",
        "sudo maplb lab down",
      ]),
    );

  lab
    .command("up")
    .summary("build the lab (idempotent)")
    .description(
      "Build the lab and print what it built. Idempotent: up again with the same scenario and proxy\n" +
        "does nothing; with others it takes the running lab down first. A failure or Ctrl-C removes\n" +
        "everything built so far.",
    )
    .option(
      "--scenario <name>",
      `a file name in ../shared/scenarios without .yaml, a prefix such as seed-003, or a path`,
      DEFAULT_SCENARIO,
    )
    .addOption(
      new Option("--proxy <proxy>", "what carries the Services on the nodes")
        .choices(PROXIES)
        .default("maplb"),
    )
    .addOption(
      new Option("--attach <mode>", "with --proxy maplb: the attach point on the nodes' interfaces")
        .choices(ATTACH_MODES)
        .default("tc"),
    )
    .addOption(labOption())
    .addHelpText(
      "after",
      `\nScenarios: ${scenarioNames().join(", ") || "(none found)"}\n` +
        "\nExamples:\n" +
        "  maplb lab up --scenario seed-003\n" +
        "  maplb lab up --scenario seed-001 --proxy iptables\n" +
        "  maplb lab up --scenario my-services.yaml --proxy nftables --lab b",
    )
    .action(async (flags: { scenario: string; proxy: LabProxy; attach: AttachMode; lab: string }) => {
      needRoot();
      await labUp({
        name: flags.lab,
        scenario: flags.scenario,
        proxy: flags.proxy,
        attach: flags.attach,
        say,
      });
    });

  lab
    .command("down")
    .summary("remove everything the lab built")
    .description("Remove the lab: its namespaces, servers, pinned maps and files. Works from any shell.")
    .addOption(labOption())
    .addHelpText("after", examplesHelp(["sudo maplb lab down", "sudo maplb lab down --lab b"]))
    .action((flags: { lab: string }) => {
      needRoot();
      if (!labDown({ name: flags.lab, say })) say(`no lab '${flags.lab}' is up`);
    });

  const curl = lab
    .command("curl")
    .summary("requests to a Service from a pod or external client, counted per backend")
    .description(
      "Send requests to a Service from inside the lab, each on a new connection (a new flow), and " +
        "count the answers per backend. TCP ports get HTTP requests; UDP ports get datagrams to the " +
        "UDP echo. The default frontend is the ClusterIP from a pod, and the LoadBalancer IP (else an " +
        "externalIP, else the first node's NodePort) from an external client.",
    )
    .argument(
      "<target>",
      "NS/SVC[:PORT] (a port name or number; needed when the Service has several), or IP:PORT[/udp]",
    )
    .option("-n, --count <n>", "number of requests", count("--count", 100_000), 1)
    .option(
      "--from <client>",
      "a pod (client-1, default/client-2, …) or an external client (ext-1, ext-2)",
      "client-1",
    )
    .addOption(new Option("--frontend <kind>", "which frontend of the Service to use").choices(FRONTENDS))
    .option("--node <name>", "with --frontend node-port: the node whose address to use (default: the first)")
    .option("--timeout <ms>", "per request", count("--timeout", 60_000), 2000)
    .addOption(labOption());
  addOutputOptions(curl, "each backend's node and share of the answers")
    .addHelpText(
      "after",
      "\n-o json and -o yaml print { requests, ok, failed, backends: { <pod ip>: count } }.\n" +
        "\nExamples:\n" +
        "  maplb lab curl default/nginx-svc -n 100\n" +
        "  maplb lab curl default/go-app --from ext-1 -n 60 -o json\n" +
        "  maplb lab curl default/nginx-svc -n 100 -o wide\n" +
        "  maplb lab curl ingress-nginx/ingress-nginx-controller:http --frontend node-port --node node-2\n" +
        "  maplb lab curl default/udp-echo -n 10",
    )
    .action(
      async (
        target: string,
        flags: {
          count: number;
          from: string;
          frontend?: FrontendKind;
          node?: string;
          timeout: number;
          lab: string;
        } & OutputFlags,
      ) => {
        needRoot();
        const state = requireLab(flags.lab);
        const client = findClient(state, flags.from);
        const t = resolveTarget(state.plan, {
          target,
          frontend: flags.frontend,
          node: flags.node,
          external: client.external,
        });
        const results = await runProbe(client, t, { count: flags.count, timeoutMs: flags.timeout });
        const { errors, ...summary } = summarize(results);
        process.stdout.write(
          render(outputFormat(flags), {
            data: () => summary,
            table: (wide) =>
              curlText({ client: client.name, target: t, summary, errors, pods: state.plan.pods }, wide),
            json: (data) => JSON.stringify(data),
          }),
        );
        if (summary.failed > 0)
          throw new MaplbError("E_EXEC", `${summary.failed} of ${summary.requests} requests failed`, {
            errors,
          });
      },
    );

  lab
    .command("scale")
    .summary("scale a Service's backend pods")
    .description(
      "Scale a Service's backend pods, as a Deployment would: new pods start (and answer) before the\n" +
        "proxy sends them traffic; removed pods leave the proxy first, then are deleted.",
    )
    .argument("<service>", "NS/SVC")
    .argument("<replicas>", "the number of backend pods", count("replicas", 64))
    .addOption(labOption())
    .addHelpText(
      "after",
      examplesHelp([
        "sudo maplb lab scale default/nginx-svc 2",
        "sudo maplb lab scale default/go-app 5 --lab b",
      ]),
    )
    .action(async (service: string, replicas: number, flags: { lab: string }) => {
      needRoot();
      const change = await labScale({ name: flags.lab, service, replicas, say });
      say(`${service}: ${change.added.length} added, ${change.removed.length} removed`);
    });

  lab
    .command("exec")
    .summary("run a command in a lab pod or external client")
    .description("Run a command inside a lab pod or external client, e.g. curl, getent hosts, ip route.")
    .argument("<client>", "a pod (client-1, default/nginx-svc-1, …) or an external client (ext-1)")
    .argument("<command...>", "the command and its arguments (put -- before options)")
    .addOption(labOption())
    .addHelpText(
      "after",
      "\nExamples:\n  maplb lab exec client-1 -- curl -s http://nginx-svc\n  maplb lab exec client-2 -- getent hosts nginx.nginx",
    )
    .action((name: string, command: string[], flags: { lab: string }) => {
      needRoot();
      const client = findClient(requireLab(flags.lab), name);
      const r = spawnSync("ip", ["netns", "exec", client.netns, ...command], { stdio: "inherit" });
      process.exit(r.status ?? 1); // the command's own exit status, as `ip netns exec` gives it
    });

  lab
    .command("show")
    .summary("print the lab's nodes, pods and Services")
    .description("Print what the lab is made of: nodes, pods, Services with frontends and backends.")
    .addOption(labOption())
    .addHelpText("after", examplesHelp(["sudo maplb lab show", "sudo maplb lab show --lab b"]))
    .action((flags: { lab: string }) => say(describePlan(requireLab(flags.lab))));
}
