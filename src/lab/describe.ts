// What `lab up` prints: the nodes, the pods and where they run, each Service's frontends and
// backends, the external clients, and how the scenario's addresses were mapped into the lab.
import type { V1Service } from "@kubernetes/client-node";
import { hostPort } from "./host-port.js";
import { describeLinks } from "./links.js";
import { nodeNs, podNs, externalNs } from "./network.js";
import { backendsOf, svcKey } from "./plan.js";
import { labPrefix, type LabState } from "./state.js";

function frontends(svc: V1Service, nodeIps: string[]): string[] {
  const spec = svc.spec!;
  const lbIps = (svc.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
  const clusterIPs = spec.clusterIPs && spec.clusterIPs.length > 1 ? spec.clusterIPs : [spec.clusterIP];
  return (spec.ports ?? []).map((p) => {
    const proto = p.protocol ?? "TCP";
    const parts = [`${clusterIPs.map((ip) => hostPort(ip ?? "", p.port)).join(" ")}/${proto}`];
    if (p.nodePort) parts.push(`NodePort ${nodeIps.map((ip) => hostPort(ip, p.nodePort!)).join(" ")}`);
    if (spec.type === "LoadBalancer" && lbIps.length)
      parts.push(`LB ${lbIps.map((ip) => hostPort(ip, p.port)).join(" ")}`);
    if (spec.externalIPs?.length)
      parts.push(`externalIP ${spec.externalIPs.map((ip) => hostPort(ip, p.port)).join(" ")}`);
    return `${p.name ? `${p.name}: ` : ""}${parts.join(", ")} → ${p.targetPort ?? p.port}`;
  });
}

function policies(svc: V1Service): string {
  const spec = svc.spec!;
  const out: string[] = [];
  if (spec.externalTrafficPolicy === "Local") out.push("externalTrafficPolicy=Local");
  if (spec.internalTrafficPolicy === "Local") out.push("internalTrafficPolicy=Local");
  if (spec.sessionAffinity === "ClientIP") out.push("sessionAffinity=ClientIP");
  if (spec.loadBalancerSourceRanges?.length)
    out.push(`sourceRanges ${spec.loadBalancerSourceRanges.join(",")}`);
  return out.length ? `  [${out.join(", ")}]` : "";
}

export function describePlan(state: LabState): string {
  const { plan } = state;
  const prefix = labPrefix(state.name);
  const nodeIps = plan.nodes.flatMap((n) => (n.ip6 ? [n.ip, n.ip6] : [n.ip]));
  const lines: string[] = [
    `lab '${state.name}': ${plan.scenario}, proxy ${state.proxy}${plan.dualStack ? ", dual-stack (IPv4 and IPv6)" : ""}`,
    `veths: ${describeLinks(plan.links)}`,
    "",
    "nodes:",
  ];
  for (const n of plan.nodes)
    lines.push(
      `  ${n.name.padEnd(16)} ${n.ip.padEnd(15)} pods ${n.podSubnet.padEnd(16)} netns ${nodeNs(prefix, n)}`,
      ...(n.ip6 ? [`  ${"".padEnd(16)} ${n.ip6} pods ${n.podSubnet6}`] : []),
    );
  lines.push("", "pods:");
  for (const p of plan.pods) {
    const ports = [...p.tcpPorts.map((x) => `${x}/TCP`), ...p.udpPorts.map((x) => `${x}/UDP`)].join(" ");
    lines.push(
      `  ${`${p.namespace}/${p.name}`.padEnd(40)} ${p.ip.padEnd(15)} ${p.node.padEnd(14)} ${p.role.padEnd(7)} ${ports}`,
      ...(p.ip6 ? [`  ${"".padEnd(40)} ${p.ip6}`] : []),
    );
  }
  lines.push("", "services:");
  for (const s of plan.services) {
    const pods = backendsOf(plan, svcKey(s)).map((p) => p.name);
    lines.push(`  ${svcKey(s)} (${s.spec?.type ?? "ClusterIP"})${policies(s)}`);
    for (const f of frontends(s, nodeIps)) lines.push(`    ${f}`);
    lines.push(`    backends: ${pods.join(" ") || "(none)"}`);
  }
  lines.push("", "external clients (behind node " + plan.nodes[0]!.name + "):");
  for (const e of plan.externals)
    lines.push(
      `  ${e.name.padEnd(8)} ${e.ip.padEnd(15)} netns ${externalNs(prefix, e)}${e.ip6 ? `  ${e.ip6}` : ""}`,
    );
  const mapped = Object.entries(plan.addressMap).filter(([k]) => !k.startsWith("lab:"));
  if (mapped.length) {
    lines.push("", "scenario addresses, re-addressed into 198.18.0.0/15:");
    for (const [from, to] of mapped) lines.push(`  ${from.padEnd(16)} → ${to}`);
  }
  const client = plan.pods.find((p) => p.role === "client");
  if (client)
    lines.push(
      "",
      `try: maplb lab curl ${svcKey(plan.services[0]!)} -n 20   ·   ip netns exec ${podNs(prefix, client)} curl http://<svc>`,
    );
  return lines.join("\n");
}
