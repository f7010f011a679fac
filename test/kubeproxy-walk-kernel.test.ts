// The walkers against the kernel: kube-proxy's rules loaded into a namespace that routes like a node,
// one UDP datagram per kind of packet sent in from a second namespace. iptables (legacy, with the
// built-in jumps): the rules whose packet counters moved are exactly the rules the walk matched.
// nftables: `nft monitor trace` reports the same matched rules, chain by chain, as the walk.
// Single-endpoint services, so no random pick is involved. Addresses in 198.18.0.0/15 only.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { buildIptablesRules, builtinJumpRules } from "../src/kubeproxy/iptables-rules.js";
import { renderIptables, restoreRuleLine } from "../src/kubeproxy/iptables-render.js";
import type { KubeProxyPacket, VerdictClass } from "../src/kubeproxy/verdict.js";
import { buildNftRules, renderNft } from "../src/kubeproxy/nft.js";
import { iptablesWalker } from "../src/kubeproxy/walk-iptables.js";
import { nftWalker } from "../src/kubeproxy/walk-nft.js";
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

/** A node namespace (routes and forwards; DNATed packets leave by a veth) and a client namespace
 * holding every source address of PACKETS; both deleted afterwards, also on failure. */
async function withNodeAndClient(body: (node: Namespace, client: Namespace) => Promise<void>): Promise<void> {
  await withNamespace(async (node) => {
    await withNamespace(async (client) => {
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
      await body(node, client);
    });
  });
}

/** Polls `done` up to 50 times, 20 ms apart: the datagram crosses the node in softirq context. */
function waitFor(done: () => boolean): void {
  for (let tries = 0; tries < 50 && !done(); tries++) spawnSync("sleep", ["0.02"]);
}

describe("the kube-proxy walks agree with the kernel", () => {
  const iptBlocker = kernelTestBlocker(["iptables-legacy-restore", "iptables-legacy-save"]);
  it("iptables: for every kind of packet, the rules the walk matched are the rules whose counters moved", async (t) => {
    if (iptBlocker) return skipOrFail(t, iptBlocker);
    const rules = buildIptablesRules(MODEL, NODE);
    const walk = iptablesWalker(rules, NODE);
    const jumps = builtinJumpRules(NODE);
    const jumpPayload = (["filter", "nat"] as const)
      .map((tb) =>
        [`*${tb}`, ...jumps.filter((j) => j.table === tb).map(restoreRuleLine), "COMMIT"].join("\n"),
      )
      .join("\n");
    await withNodeAndClient(async (node, client) => {
      node.run("iptables-legacy-restore", ["--noflush"], renderIptables(rules, "restore"));
      node.run("iptables-legacy-restore", ["--noflush"], jumpPayload + "\n");
      PACKETS.forEach(([what, verdict, p], i) => {
        for (const table of ["filter", "nat"]) node.run("iptables-legacy", ["-t", table, "-Z"]);
        const sport = 40000 + i; // a new connection each time
        send(client.name, p.src, sport, p.dst, p.dport);
        let counted = new Set<string>();
        waitFor(() => (counted = countedRules(node)).size > 0);
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
  it("nftables: for every kind of packet, the chains of the rules the walk matched are those `nft monitor trace` reports", async (t) => {
    if (nftBlocker) return skipOrFail(t, nftBlocker);
    const ruleset = buildNftRules(MODEL, NODE);
    const walk = nftWalker(ruleset, NODE);
    await withNodeAndClient(async (node, client) => {
      node.run("nft", ["-f", "-"], renderNft(ruleset));
      // A table of our own marks every packet for tracing before any of kube-proxy's chains.
      node.run(
        "nft",
        ["-f", "-"],
        "table ip maplb-trace {\n chain pre { type filter hook prerouting priority -400; meta nftrace set 1; }\n}\n",
      );
      const monitor = spawn("ip", ["netns", "exec", node.name, "stdbuf", "-oL", "nft", "monitor", "trace"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      monitor.stdout.on("data", (b: Buffer) => (out += b.toString()));
      const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
      try {
        // The monitor is listening once it reports a first (warm-up) packet.
        for (let tries = 0; tries < 50 && !out.includes("sport 39999"); tries++) {
          send(client.name, PACKETS[0]![2].src, 39999, "198.19.0.99", 9);
          await settle(50);
        }
        assert.ok(out.includes("sport 39999"), "nft monitor trace reports packets");
        for (const [i, [what, verdict, p]] of PACKETS.entries()) {
          const sport = 41000 + i;
          send(client.name, p.src, sport, p.dst, p.dport);
          for (let tries = 0; tries < 50 && !out.includes(`udp sport ${sport} `); tries++) await settle(20);
          await settle(100); // the later hooks' lines of the same packet
          const v = walk({ ...p, sport, proto: "UDP" }, 0);
          assert.equal(v.verdict, verdict, what);
          assert.deepEqual(
            tracedChains(out, p.src, sport),
            v.path.map((s) => s.chain),
            what,
          );
        }
      } finally {
        monitor.kill();
      }
    });
  });
});

/** The kube-proxy chains of the rules `nft monitor trace` saw match, for the packet from src:sport. */
function tracedChains(out: string, src: string, sport: number): string[] {
  const lines = out.split("\n");
  const id = lines
    .find(
      (l) => l.includes(" packet: ") && l.includes(`ip saddr ${src} `) && l.includes(`udp sport ${sport} `),
    )
    ?.split(" ")[2];
  const chains: string[] = [];
  for (const l of lines) {
    const m = /^trace id (\S+) ip kube-proxy (\S+) rule /.exec(l);
    if (m && m[1] === id) chains.push(m[2]!);
  }
  return chains;
}
