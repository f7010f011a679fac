// The iptables walker against the kernel: kube-proxy's rules (and its built-in jumps) loaded with
// iptables-legacy into a namespace that routes like a node, one UDP datagram sent in from a second
// namespace, and the rules whose packet counters moved are exactly the rules the walk says matched.
// Single-endpoint services, so no random pick is involved. Addresses in 198.18.0.0/15 only.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { buildIptablesRules, builtinJumpRules } from "../src/kubeproxy/iptables-rules.js";
import { renderIptables, restoreRuleLine } from "../src/kubeproxy/iptables-render.js";
import type { KubeProxyPacket, VerdictClass } from "../src/kubeproxy/verdict.js";
import { iptablesWalker } from "../src/kubeproxy/walk-iptables.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../src/model/types.js";
import { skipOrFail } from "./helpers/require-kernel.js";
import { endpoint, servicePort } from "./helpers/kubeproxy.js";
import { kernelTestBlocker, withNamespace, type Namespace } from "./netns-kubeproxy.js";

const NODE_IP = "198.18.0.2";
const CLIENT_LINK_IP = "198.18.0.1";
// No KUBE-FIREWALL (localhost NodePorts): its unconditional OUTPUT jump would count the ICMP error
// a REJECT sends, which is not this packet's walk. No nfacct: the test needs no nfacct tool.
const NODE: NodeConfig = {
  ...DEFAULT_NODE_CONFIG,
  nodeName: "node-a",
  nodeIPs: [NODE_IP],
  clusterCIDR: "198.18.64.0/18",
  localhostNodePorts: false,
  nfacct: false,
};
const remote = (ip: string) => endpoint(ip, { nodeName: "node-b", port: 5353 });
const udp = (o: Partial<ServicePortArg>) => servicePort({ protocol: "UDP", ...o });
type ServicePortArg = Parameters<typeof servicePort>[0] & object;

const MODEL = {
  ports: [
    udp({
      name: "a",
      type: "NodePort",
      clusterIP: "198.19.0.41",
      nodePort: 30041,
      endpoints: [remote("198.18.64.1")],
    }),
    udp({ name: "none", type: "NodePort", clusterIP: "198.19.0.42", nodePort: 30042, endpoints: [] }),
    udp({
      name: "fw",
      type: "LoadBalancer",
      clusterIP: "198.19.0.43",
      loadBalancerIPs: ["198.19.1.43"],
      loadBalancerSourceRanges: ["198.18.200.0/24"],
      endpoints: [remote("198.18.64.3")],
    }),
    udp({
      name: "local",
      type: "NodePort",
      clusterIP: "198.19.0.44",
      nodePort: 30044,
      externalTrafficPolicy: "Local",
      endpoints: [remote("198.18.64.4")],
    }),
  ],
};

const PACKETS: [string, VerdictClass, Omit<KubeProxyPacket, "sport" | "proto">][] = [
  ["a pod to a ClusterIP", "DNAT", { src: "198.18.65.3", dst: "198.19.0.41", dport: 80 }],
  [
    "an outside client to a ClusterIP (masqueraded)",
    "DNAT",
    { src: "198.18.200.7", dst: "198.19.0.41", dport: 80 },
  ],
  ["an outside client to a NodePort", "DNAT", { src: "198.18.200.7", dst: NODE_IP, dport: 30041 }],
  [
    "a ClusterIP without endpoints (REJECT in FORWARD)",
    "REJECT",
    { src: "198.18.65.3", dst: "198.19.0.42", dport: 80 },
  ],
  [
    "a NodePort without endpoints (REJECT in INPUT)",
    "REJECT",
    { src: "198.18.200.7", dst: NODE_IP, dport: 30042 },
  ],
  [
    "a LoadBalancer IP from an allowed source",
    "DNAT",
    { src: "198.18.200.7", dst: "198.19.1.43", dport: 80 },
  ],
  [
    "a LoadBalancer IP from a denied source (KUBE-PROXY-FIREWALL)",
    "DROP",
    { src: "198.18.201.9", dst: "198.19.1.43", dport: 80 },
  ],
  [
    "externalTrafficPolicy=Local without a local endpoint (DROP)",
    "DROP",
    { src: "198.18.200.7", dst: NODE_IP, dport: 30044 },
  ],
  ["not a service", "PASS", { src: "198.18.65.3", dst: "198.19.0.99", dport: 80 }],
];

/** `table chain-rule-text` of every rule whose packet counter is not zero. */
function countedRules(ns: Namespace): Set<string> {
  const hit = new Set<string>();
  let table = "";
  for (const line of ns.run("iptables-legacy-save", ["-c"]).split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const m = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
    if (m && m[1] !== "0") hit.add(`${table} ${m[2]}`);
  }
  return hit;
}

/** One UDP datagram from `src` (an address of the client namespace), sent with node's dgram. */
function send(client: string, src: string, sport: number, dst: string, dport: number): void {
  const script =
    `const s=require("node:dgram").createSocket("udp4");` +
    `s.bind(${sport},${JSON.stringify(src)},()=>s.send("x",${dport},${JSON.stringify(dst)},()=>s.close()));`;
  const r = spawnSync("ip", ["netns", "exec", client, process.execPath, "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

describe("the iptables walk agrees with the kernel's rule counters", () => {
  const blocker = kernelTestBlocker(["iptables-legacy-restore", "iptables-legacy-save"]);
  it("for every kind of packet: the rules the walk matched are the rules the kernel counted", async (t) => {
    if (blocker) return skipOrFail(t, blocker);
    const rules = buildIptablesRules(MODEL, NODE);
    const walk = iptablesWalker(rules, NODE);
    const jumps = builtinJumpRules(NODE);
    const jumpPayload = (["filter", "nat"] as const)
      .map((tb) =>
        [`*${tb}`, ...jumps.filter((j) => j.table === tb).map(restoreRuleLine), "COMMIT"].join("\n"),
      )
      .join("\n");
    await withNamespace(async (node) => {
      await withNamespace((client) => {
        node.run("ip", ["link", "add", "n0", "type", "veth", "peer", "name", "c0", "netns", client.name]);
        node.run("ip", ["addr", "add", `${NODE_IP}/24`, "dev", "n0"]);
        node.run("ip", ["link", "set", "n0", "up"]);
        // Where DNATed packets go: a veth pair (no dummy module needed); POSTROUTING runs before ARP.
        node.run("ip", ["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        for (const dev of ["d0", "d1"]) node.run("ip", ["link", "set", dev, "up"]);
        node.run("ip", ["route", "add", "198.18.64.0/18", "dev", "d0"]);
        node.run("ip", ["route", "add", "default", "via", CLIENT_LINK_IP]);
        for (const k of [
          "net.ipv4.ip_forward=1",
          "net.ipv4.conf.all.rp_filter=0",
          "net.ipv4.conf.n0.rp_filter=0",
        ])
          node.run("sysctl", ["-qw", k]);
        client.run("ip", ["addr", "add", `${CLIENT_LINK_IP}/24`, "dev", "c0"]);
        client.run("ip", ["link", "set", "c0", "up"]);
        client.run("ip", ["route", "add", "default", "via", NODE_IP]);
        for (const src of new Set(PACKETS.map(([, , p]) => p.src)))
          client.run("ip", ["addr", "add", `${src}/32`, "dev", "c0"]);
        node.run("iptables-legacy-restore", ["--noflush"], renderIptables(rules, "restore"));
        node.run("iptables-legacy-restore", ["--noflush"], jumpPayload + "\n");

        PACKETS.forEach(([what, verdict, p], i) => {
          for (const table of ["filter", "nat"]) node.run("iptables-legacy", ["-t", table, "-Z"]);
          const sport = 40000 + i; // a new connection each time
          send(client.name, p.src, sport, p.dst, p.dport);
          // The datagram crosses the node in softirq context; wait (bounded) until PREROUTING counted it.
          let counted = countedRules(node);
          for (let tries = 0; tries < 50 && counted.size === 0; tries++) {
            spawnSync("sleep", ["0.02"]);
            counted = countedRules(node);
          }
          const v = walk({ ...p, sport, proto: "UDP" }, 0);
          const walked = new Set(v.path.map((s) => `${s.table} ${s.text}`));
          assert.equal(v.verdict, verdict, what);
          assert.ok(counted.size > 0, `${what}: the kernel counted the datagram`);
          assert.deepEqual([...counted].sort(), [...walked].sort(), `${what}: walk says ${v.verdict}`);
        });
      });
    });
  });
});
