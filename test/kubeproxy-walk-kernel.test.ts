// The walkers against the kernel: kube-proxy's rules loaded into a namespace that routes like a node,
// one UDP datagram per kind of packet sent in from a second namespace. iptables (legacy, with the
// built-in jumps): the rules whose packet counters moved are exactly the rules the walk matched.
// nftables: `nft monitor trace` reports the same matched rules, chain by chain, as the walk.
// Single-endpoint services, so no random pick is involved. Addresses in 198.18.0.0/15 only; the IPv6
// proxier's rules are checked the same way with every address moved into 2001:db8::/96 (v6()), in
// the test's own namespaces.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { buildIptablesRules, builtinJumpRules } from "../src/kubeproxy/iptables-rules.js";
import { renderIptables, restoreRuleLine } from "../src/kubeproxy/iptables-render.js";
import type { KubeProxyPacket, VerdictClass } from "../src/kubeproxy/verdict.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import { iptablesWalker } from "../src/kubeproxy/walk-iptables.js";
import { nftWalker } from "../src/kubeproxy/walk-nft.js";
import {
  DEFAULT_NODE_CONFIG,
  type IpFamily,
  type NodeConfig,
  type ServiceModel,
} from "../src/model/types.js";
import { skipOrFail } from "./helpers/require-kernel.js";
import { endpoint, ipv6Twin, servicePort, v6 } from "./helpers/kubeproxy.js";
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

/** What differs between the two families' runs: the addresses, tools, socket and sysctls. */
interface Family {
  family: IpFamily;
  model: ServiceModel;
  node: NodeConfig;
  packets: typeof PACKETS;
  /** An IPv4 address or CIDR of this file, in this family. */
  a: (ip: string) => string;
  /** The host bits of the /24 link and of one address. */
  link: number;
  host: number;
  ip: string[];
  cmd: "iptables" | "ip6tables";
  socket: "udp4" | "udp6";
}

const IPV4: Family = {
  family: "IPv4",
  model: MODEL,
  node: NODE,
  packets: PACKETS,
  a: (ip) => ip,
  link: 24,
  host: 32,
  ip: ["ip"],
  cmd: "iptables",
  socket: "udp4",
};

const IPV6: Family = {
  family: "IPv6",
  model: { ports: MODEL.ports.map(ipv6Twin) },
  node: { ...NODE, nodeIPs: [v6(NODE_IP)], clusterCIDR6: v6(NODE.clusterCIDR!) },
  packets: PACKETS.map(([what, verdict, p]) => [what, verdict, { ...p, src: v6(p.src), dst: v6(p.dst) }]),
  a: v6,
  link: 120,
  host: 128,
  ip: ["ip", "-6"],
  cmd: "ip6tables",
  socket: "udp6",
};

/**
 * IPv6 speaks ICMPv6 on its own (neighbour discovery, MLD, router solicitations), which iptables
 * counters would see. These rules, loaded on top, let it pass untracked and uncounted by kube-proxy's
 * rules; countedRules leaves them out (kube-proxy never matches ipv6-icmp).
 */
const ICMPV6_ASIDE = [
  "*raw",
  "-A PREROUTING -p ipv6-icmp -j NOTRACK",
  "-A OUTPUT -p ipv6-icmp -j NOTRACK",
  "COMMIT",
  "*filter",
  ...["INPUT", "FORWARD", "OUTPUT"].map((c) => `-I ${c} -p ipv6-icmp -j ACCEPT`),
  "COMMIT",
  "",
].join("\n");

/** `table chain-rule-text` of every kube-proxy rule whose packet counter is not zero. */
function countedRules(ns: Namespace, f: Family): Set<string> {
  const hit = new Set<string>();
  let table = "";
  for (const line of ns.run(`${f.cmd}-legacy-save`, ["-c"]).split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    const m = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
    if (m && m[1] !== "0" && table !== "raw" && !m[2]!.includes("-p ipv6-icmp")) hit.add(`${table} ${m[2]}`);
  }
  return hit;
}

/** One UDP datagram from `src` (an address of the client namespace), sent with node's dgram. */
function send(f: Family, client: string, src: string, sport: number, dst: string, dport: number): void {
  const script =
    `const s=require("node:dgram").createSocket(${JSON.stringify(f.socket)});` +
    `s.bind(${sport},${JSON.stringify(src)},()=>s.send("x",${dport},${JSON.stringify(dst)},()=>s.close()));`;
  const r = spawnSync("ip", ["netns", "exec", client, process.execPath, "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

/** A node namespace (routes and forwards; DNATed packets leave by a veth) and a client namespace
 * holding every source address of the packets; both deleted afterwards, also on failure. */
async function withNodeAndClient(
  f: Family,
  body: (node: Namespace, client: Namespace) => Promise<void>,
): Promise<void> {
  await withNamespace(async (node) => {
    await withNamespace(async (client) => {
      // IPv6 addresses are usable at once (no duplicate address detection), and hosts stay quiet.
      if (f.family === "IPv6")
        for (const ns of [node, client])
          for (const k of ["accept_dad=0", "router_solicitations=0"])
            for (const scope of ["all", "default"]) ns.run("sysctl", ["-qw", `net.ipv6.conf.${scope}.${k}`]);
      const ip = (ns: Namespace, ...args: string[]) => ns.run("ip", [...f.ip.slice(1), ...args]);
      const nodad = f.family === "IPv6" ? ["nodad"] : [];
      node.run("ip", ["link", "add", "n0", "type", "veth", "peer", "name", "c0", "netns", client.name]);
      ip(node, "addr", "add", `${f.a(NODE_IP)}/${f.link}`, "dev", "n0", ...nodad);
      node.run("ip", ["link", "set", "n0", "up"]);
      // Where DNATed packets go: a veth pair (no dummy module needed); POSTROUTING runs before ARP.
      node.run("ip", ["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
      for (const dev of ["d0", "d1"]) node.run("ip", ["link", "set", dev, "up"]);
      ip(node, "route", "add", f.a("198.18.64.0/18"), "dev", "d0");
      ip(node, "route", "add", "default", "via", f.a(CLIENT_LINK_IP));
      const sysctls =
        f.family === "IPv4"
          ? ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.n0.rp_filter=0"]
          : ["net.ipv6.conf.all.forwarding=1"];
      for (const k of sysctls) node.run("sysctl", ["-qw", k]);
      ip(client, "addr", "add", `${f.a(CLIENT_LINK_IP)}/${f.link}`, "dev", "c0", ...nodad);
      client.run("ip", ["link", "set", "c0", "up"]);
      ip(client, "route", "add", "default", "via", f.a(NODE_IP));
      for (const src of new Set(f.packets.map(([, , p]) => p.src)))
        ip(client, "addr", "add", `${src}/${f.host}`, "dev", "c0", ...nodad);
      await body(node, client);
    });
  });
}

/** Polls `done` up to 50 times, 20 ms apart: the datagram crosses the node in softirq context. */
function waitFor(done: () => boolean): void {
  for (let tries = 0; tries < 50 && !done(); tries++) spawnSync("sleep", ["0.02"]);
}

describe("the kube-proxy walks agree with the kernel", () => {
  for (const f of [IPV4, IPV6]) {
    const tag = f.family === "IPv4" ? "" : " (IPv6)";
    const iptBlocker = kernelTestBlocker([`${f.cmd}-legacy-restore`, `${f.cmd}-legacy-save`]);
    it(`iptables${tag}: for every kind of packet, the rules the walk matched are the rules whose counters moved`, async (t) => {
      if (iptBlocker) return skipOrFail(t, iptBlocker);
      const rules = buildIptablesRules(f.model, f.node, f.family);
      const walk = iptablesWalker(rules, f.node);
      const jumps = builtinJumpRules(f.node, f.family);
      const jumpPayload = (["filter", "nat"] as const)
        .map((tb) =>
          [`*${tb}`, ...jumps.filter((j) => j.table === tb).map(restoreRuleLine), "COMMIT"].join("\n"),
        )
        .join("\n");
      await withNodeAndClient(f, async (node, client) => {
        node.run(`${f.cmd}-legacy-restore`, ["--noflush"], renderIptables(rules, "restore"));
        node.run(`${f.cmd}-legacy-restore`, ["--noflush"], jumpPayload + "\n");
        if (f.family === "IPv6") node.run(`${f.cmd}-legacy-restore`, ["--noflush"], ICMPV6_ASIDE);
        f.packets.forEach(([what, verdict, p], i) => {
          for (const table of ["filter", "nat"]) node.run(`${f.cmd}-legacy`, ["-t", table, "-Z"]);
          const sport = 40000 + i; // a new connection each time
          send(f, client.name, p.src, sport, p.dst, p.dport);
          let counted = new Set<string>();
          waitFor(() => (counted = countedRules(node, f)).size > 0);
          const v = walk({ ...p, sport, proto: "UDP" }, 0);
          assert.equal(v.verdict, verdict, what);
          assert.ok(counted.size > 0, `${what}: the kernel counted the datagram`);
          const walked = new Set(v.path.map((s) => `${s.table} ${s.text}`));
          assert.deepEqual([...counted].sort(), [...walked].sort(), `${what}: walk says ${v.verdict}`);
        });
        await Promise.resolve();
      });
    });

    const nftBlocker = kernelTestBlocker(["nft", "stdbuf"]);
    it(`nftables${tag}: for every kind of packet, the chains of the rules the walk matched are those \`nft monitor trace\` reports`, async (t) => {
      if (nftBlocker) return skipOrFail(t, nftBlocker);
      const ruleset = buildNftRules(f.model, f.node, {}, f.family);
      const walk = nftWalker(ruleset, f.node);
      const family = f.family === "IPv4" ? "ip" : "ip6";
      await withNodeAndClient(f, async (node, client) => {
        node.run("nft", ["-f", "-"], renderNft(ruleset));
        // A table of our own marks every packet for tracing before any of kube-proxy's chains.
        node.run(
          "nft",
          ["-f", "-"],
          `table ${family} maplb-trace {\n chain pre { type filter hook prerouting priority -400; meta nftrace set 1; }\n}\n`,
        );
        const monitor = spawn(
          "ip",
          ["netns", "exec", node.name, "stdbuf", "-oL", "nft", "monitor", "trace"],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
        let out = "";
        monitor.stdout.on("data", (b: Buffer) => (out += b.toString()));
        const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
        try {
          // The monitor is listening once it reports a first (warm-up) packet.
          for (let tries = 0; tries < 50 && !out.includes("sport 39999"); tries++) {
            send(f, client.name, f.packets[0]![2].src, 39999, f.a("198.19.0.99"), 9);
            await settle(50);
          }
          assert.ok(out.includes("sport 39999"), "nft monitor trace reports packets");
          for (const [i, [what, verdict, p]] of f.packets.entries()) {
            const sport = 41000 + i;
            send(f, client.name, p.src, sport, p.dst, p.dport);
            for (let tries = 0; tries < 50 && !out.includes(`udp sport ${sport} `); tries++) await settle(20);
            await settle(100); // the later hooks' lines of the same packet
            const v = walk({ ...p, sport, proto: "UDP" }, 0);
            assert.equal(v.verdict, verdict, what);
            assert.deepEqual(
              tracedChains(out, family, p.src, sport),
              v.path.map((s) => s.chain),
              what,
            );
          }
        } finally {
          monitor.kill();
        }
      });
    });
  }
});

/** The kube-proxy chains of the rules `nft monitor trace` saw match, for the packet from src:sport. */
function tracedChains(out: string, family: "ip" | "ip6", src: string, sport: number): string[] {
  const lines = out.split("\n");
  const id = lines
    .find(
      (l) =>
        l.includes(" packet: ") && l.includes(`${family} saddr ${src} `) && l.includes(`udp sport ${sport} `),
    )
    ?.split(" ")[2];
  const chains: string[] = [];
  for (const l of lines) {
    const m = new RegExp(`^trace id (\\S+) ${family} kube-proxy (\\S+) rule `).exec(l);
    if (m && m[1] === id) chains.push(m[2]!);
  }
  return chains;
}
