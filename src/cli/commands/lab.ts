// `maplb lab …`: a namespace lab on this machine where real TCP and UDP traffic runs through maplb
// (or kube-proxy's own rules) for a seed scenario: up, down, curl, scale, exec, show.
import { spawnSync } from "node:child_process";
import { Command, InvalidArgumentError, Option } from "commander";
import { MaplbError } from "../../errors.js";
import { ATTACH_MODES, type AttachMode } from "./attach.js";
import { CLUSTER_CIDR, CLUSTER_CIDR6, SERVICE_CIDR, SERVICE_CIDR6 } from "../../lab/addresses.js";
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
import { BULK_MAX_BYTES } from "../../lab/bulk.js";
import { hostPort } from "../../lab/host-port.js";
import { CSUM_COUNTERS, labChecksumErrors } from "../../lab/counters.js";
import { DEFAULT_LAB, labDown, labScale, labTune, labUp, requireLab } from "../../lab/lab.js";
import { RAW_KINDS, sendRaw, type RawKind } from "../../lab/packets.js";
import { CHECKSUM_MODES, GSO_MODES, parsePodMtu, type ChecksumMode, type GsoMode } from "../../lab/links.js";
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
  const lines = [
    `${r.client} → ${hostPort(t.address, t.port)}/${t.protocol}${t.service ? ` (${t.service})` : ""}`,
  ];
  const podOf = new Map(r.pods.flatMap((p) => [[p.ip, p] as const, ...(p.ip6 ? [[p.ip6, p] as const] : [])]));
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
        "To see traffic as a node does, up takes --checksum, --gso and --pod-mtu",
        "(tune changes the offloads of a running lab); curl takes --bulk, --upload",
        "and --size; send carries IGMP, ICMP and IP options to a pod; counters reads",
        "the checksum errors each namespace counted (nstat).",
        "",
        "With --dual-stack every address gets an IPv6 twin in 2001:db8::/32",
        `(198.A.B.C is 2001:db8:A:B::C in hex; pods ${CLUSTER_CIDR6}, services`,
        `${SERVICE_CIDR6}) and every Service is dual-stack; curl --ip-family 6`,
        "sends over IPv6.",
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
      "Build the lab and print what it built. Idempotent: up again with the same scenario, proxy and\n" +
        "link settings does nothing; with others it takes the running lab down first. A failure or Ctrl-C removes\n" +
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
    .addOption(
      new Option(
        "--checksum <mode>",
        "checksum offload on every veth: default (the kernel's: nothing is verified), off (software " +
          "checksums, every receiver verifies), partial (pods send CHECKSUM_PARTIAL, nodes complete it as a NIC would)",
      )
        .choices(CHECKSUM_MODES)
        .default("default"),
    )
    .addOption(
      new Option("--gso <mode>", "generic/TCP segmentation offload on every veth")
        .choices(GSO_MODES)
        .default("default"),
    )
    .addOption(
      new Option(
        "--pod-mtu <mtu[@node]>",
        "a smaller MTU on one node's pod veths (default: the last node); the pods still advertise a " +
          "1500-byte path's MSS, so only path MTU discovery through the Service finds the narrow hop",
      ).argParser((v: string) => {
        try {
          return parsePodMtu(v);
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      }),
    )
    .option(
      "--dual-stack",
      "IPv6 beside IPv4: every node, pod and client gets an address in 2001:db8::/32, every Service " +
        "IPv6 cluster, external and ingress IPs and source ranges, and IPv6 EndpointSlices",
    )
    .option(
      "--socket-lb",
      "with --proxy maplb: pods' sockets balanced at connect() (cgroup hooks), as Cilium does; " +
        "external clients still meet per-packet NAT on the nodes",
    )
    .addOption(labOption())
    .addHelpText(
      "after",
      `\nScenarios: ${scenarioNames().join(", ") || "(none found)"}\n` +
        "\nExamples:\n" +
        "  maplb lab up --scenario seed-003\n" +
        "  maplb lab up --scenario seed-001 --proxy iptables\n" +
        "  maplb lab up --scenario seed-001 --proxy nftables --dual-stack\n" +
        "  maplb lab up --scenario my-services.yaml --proxy nftables --lab b\n" +
        "  maplb lab up --scenario seed-001 --checksum off --gso on --pod-mtu 1400   # as a node sees traffic",
    )
    .action(
      async (flags: {
        scenario: string;
        proxy: LabProxy;
        attach: AttachMode;
        checksum: ChecksumMode;
        gso: GsoMode;
        podMtu?: { mtu: number; node: string | null };
        lab: string;
        socketLb?: boolean;
        dualStack?: boolean;
      }) => {
        needRoot();
        await labUp({
          name: flags.lab,
          scenario: flags.scenario,
          proxy: flags.proxy,
          attach: flags.attach,
          links: { checksum: flags.checksum, gso: flags.gso, podMtu: flags.podMtu ?? null },
          ...(flags.socketLb ? { socketLb: true } : {}),
          ...(flags.dualStack ? { dualStack: true } : {}),
          say,
        });
      },
    );

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
    .addOption(
      new Option("--ip-family <family>", "4 or 6: which family's frontend (6 needs lab up --dual-stack)")
        .choices(["4", "6"])
        .default("4"),
    )
    .option(
      "--timeout <ms>",
      "per request (per transfer with --bulk/--upload)",
      count("--timeout", 600_000),
      2000,
    )
    .option(
      "--bulk <bytes>",
      "TCP: download this many bytes of the lab's bulk stream per request, checked byte for byte",
      count("--bulk", BULK_MAX_BYTES),
    )
    .option(
      "--upload <bytes>",
      "TCP: upload this many bytes per request; the pod's SHA-256 must match",
      count("--upload", BULK_MAX_BYTES),
    )
    .option(
      "--size <bytes>",
      "UDP: datagrams of this size (over the MTU: fragments), answered by ones as large",
      count("--size", 65507),
    )
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
        "  maplb lab curl default/udp-echo -n 10\n" +
        "  maplb lab curl default/go-app --from ext-1 --ip-family 6 -n 60\n" +
        "  maplb lab curl default/go-app --from ext-1 --frontend node-port --bulk 100000000 --timeout 60000\n" +
        "  maplb lab curl default/udp-echo --size 4000 -n 10",
    )
    .action(
      async (
        target: string,
        flags: {
          count: number;
          from: string;
          frontend?: FrontendKind;
          node?: string;
          ipFamily: "4" | "6";
          timeout: number;
          bulk?: number;
          upload?: number;
          size?: number;
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
          family: flags.ipFamily === "6" ? "IPv6" : "IPv4",
        });
        if (flags.bulk !== undefined && flags.upload !== undefined)
          throw new MaplbError("E_USAGE", "--bulk and --upload: one direction per run");
        const transfer =
          flags.bulk !== undefined
            ? { direction: "bulk" as const, bytes: flags.bulk }
            : flags.upload !== undefined
              ? { direction: "upload" as const, bytes: flags.upload }
              : undefined;
        const results = await runProbe(client, t, {
          count: flags.count,
          timeoutMs: flags.timeout,
          transfer,
          size: flags.size,
        });
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
    .command("tune")
    .summary("change the offloads on every veth of a running lab")
    .description(
      "Set checksum and segmentation offload on every veth end of the running lab, as lab up's\n" +
        "--checksum and --gso do, and print what the kernel took (the pod MTU stays as built).",
    )
    .addOption(
      new Option("--checksum <mode>", "default, off or partial (see lab up --help)").choices(CHECKSUM_MODES),
    )
    .addOption(new Option("--gso <mode>", "segmentation offload").choices(GSO_MODES))
    .addOption(labOption())
    .addHelpText(
      "after",
      examplesHelp([
        "sudo maplb lab tune --checksum partial",
        "sudo maplb lab tune --checksum default --gso off",
      ]),
    )
    .action((flags: { checksum?: ChecksumMode; gso?: GsoMode; lab: string }) => {
      needRoot();
      labTune({ name: flags.lab, checksum: flags.checksum, gso: flags.gso, say });
    });

  lab
    .command("send")
    .summary("packets a node must pass untouched, from a client to a pod, counted where they arrive")
    .description(
      "Send packets to a pod that no Service carries: igmp (a report with the Router Alert option),\n" +
        "icmp-echo (ping -R: Record Route), tcp-options and udp-options (Record Route, to the pod's port).\n" +
        "The pod counts what arrives from the client's address with its option (an nftables rule in\n" +
        "its namespace); echo, TCP and UDP are answered too. Fails unless every packet arrived.",
    )
    .argument("<kind>", RAW_KINDS.join(", "))
    .argument("<pod>", "the receiving pod (far-1, default/udp-echo-2, …)")
    .option("--from <client>", "a pod or an external client", "client-1")
    .option("-n, --count <n>", "packets (connections, for TCP)", count("--count", 100), 3)
    .option(
      "--port <port>",
      "tcp-options/udp-options: the pod's port (default: its first)",
      count("--port", 65535),
    )
    .addOption(labOption())
    .addHelpText(
      "after",
      examplesHelp([
        "sudo maplb lab send igmp go-app-3 --from ext-1",
        "sudo maplb lab send tcp-options default/go-app-3 -n 5",
        "sudo maplb lab send udp-options udp-echo-2 --from client-2",
      ]),
    )
    .action(
      async (
        kind: string,
        pod: string,
        flags: { from: string; count: number; port?: number; lab: string },
      ) => {
        needRoot();
        if (!(RAW_KINDS as readonly string[]).includes(kind))
          throw new MaplbError(
            "E_USAGE",
            `unknown kind '${kind.slice(0, 40)}'; kinds: ${RAW_KINDS.join(", ")}`,
          );
        const state = requireLab(flags.lab);
        const receiver = findClient(state, pod);
        const podPlan = state.plan.pods.find((p) => `${p.namespace}/${p.name}` === receiver.name);
        const port = flags.port ?? (kind === "udp-options" ? podPlan?.udpPorts[0] : podPlan?.tcpPorts[0]);
        const r = await sendRaw(findClient(state, flags.from), receiver, kind as RawKind, {
          count: flags.count,
          port,
        });
        say(
          `${kind} ${flags.from} → ${receiver.name}: ${r.sent} sent, ${r.arrived} arrived` +
            (r.answered === null ? "" : `, ${r.answered} answered`),
        );
        if (r.arrived < r.sent || (r.answered !== null && r.answered < r.sent))
          throw new MaplbError("E_EXEC", `${kind}: not every packet arrived and was answered`);
      },
    );

  lab
    .command("counters")
    .summary("checksum errors each namespace's kernel counted (nstat)")
    .description(
      "Print TcpInCsumErrors, UdpInCsumErrors and IpExtInCsumErrors for every namespace of the lab\n" +
        "(non-zero ones only, unless --all). Receivers verify checksums with lab up --checksum off or partial.",
    )
    .option("--all", "every namespace, zeros too")
    .addOption(labOption())
    .addHelpText("after", examplesHelp(["sudo maplb lab counters", "sudo maplb lab counters --all --lab b"]))
    .action((flags: { all?: boolean; lab: string }) => {
      needRoot();
      let shown = 0;
      for (const [ns, errors] of labChecksumErrors(requireLab(flags.lab))) {
        if (!flags.all && !Object.values(errors).some((n) => n > 0)) continue;
        shown++;
        say(`${ns.padEnd(44)} ${CSUM_COUNTERS.map((c) => `${c} ${errors[c]}`).join("  ")}`);
      }
      if (shown === 0) say("no checksum errors counted in any namespace of the lab");
    });

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
