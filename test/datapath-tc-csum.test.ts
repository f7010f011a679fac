// TC and CHECKSUM_PARTIAL, for real: BPF_PROG_TEST_RUN only builds CHECKSUM_NONE skbs, so this
// routes a TCP connection through maplb on TC ingress between three namespaces the test creates:
//   client (198.18.1.2) -> node (maplb on TC ingress of both veths, forwarding) -> backend (198.18.2.2)
// The client's and backend's veths keep tx checksum offload, so their packets reach the node
// CHECKSUM_PARTIAL (the L4 field holds the pseudo-header's sum); the node's egress veths have it
// off, so the node's stack finishes the checksum in software from whatever maplb left there. A
// hand-made RFC 1624 update corrupts that seed: the connection through the Service IP would time
// out and the receiver count TcpInCsumErrors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { probeKernel } from "../src/datapath/kernel.js";
import { kernelTestBlocker, withNamespace, type Namespace } from "./netns-kubeproxy.js";

const KERNEL_JS = join(import.meta.dirname, "../src/datapath/kernel.js");
const skip = probeKernel() ?? kernelTestBlocker(["ethtool", "nstat", "nsenter"]);

const SERVICE = { address: "198.19.0.10", port: 80 };
const BACKEND = { id: 1, address: "198.18.2.2", port: 8080, protocol: "TCP", flags: 0 };
const KEY = { ...SERVICE, protocol: "TCP", scope: 0 };
const OPS = [
  { kind: "backend-upsert", backend: BACKEND },
  { kind: "slot-upsert", key: KEY, slot: 1, backendId: 1, revNatId: 1 },
  { kind: "revnat-upsert", entry: { id: 1, ...SERVICE } },
  {
    kind: "master-upsert",
    key: KEY,
    master: {
      count: 1,
      revNatId: 1,
      flags: 0,
      algorithm: 1,
      affinityTimeout: 0,
      maglevOffset: 0,
      maglevSize: 0,
    },
  },
];

/** Loads maplb in the node namespace, programs the Service and attaches it to TC ingress of both
 * veths. The programs stay attached (holding their maps) after the child exits; deleting the
 * namespace removes the veths and with them everything. */
function attachMaplb(node: Namespace): void {
  const script = `
    import { openKernel } from ${JSON.stringify(KERNEL_JS)};
    const dp = openKernel({ ephemeral: true });
    try {
      dp.configure({ nodeIPs: ["198.18.1.1"], clusterCIDR: null, hashSeed: 1 });
      dp.apply(${JSON.stringify(OPS)});
      dp.attachTc("n0", "ingress");
      dp.attachTc("n1", "ingress");
    } finally { dp.close(); }`;
  const r = spawnSync(
    "nsenter",
    [`--net=/run/netns/${node.name}`, "--", process.execPath, "--input-type=module", "-e", script],
    { encoding: "utf8", env: { ...process.env, MAPLB_LOG_LEVEL: "silent" } },
  );
  assert.equal(r.status, 0, r.stderr);
}

const csumErrors = (ns: Namespace) =>
  Number(/TcpInCsumErrors\s+(\d+)/.exec(ns.run("nstat", ["-az", "TcpInCsumErrors"]))?.[1]);

test(
  "TC: TCP through the Service IP works with CHECKSUM_PARTIAL packets, and no receiver sees a bad checksum",
  { skip: skip ? `needs root, BPF and namespace tools (${skip})` : false, timeout: 60_000 },
  async () => {
    await withNamespace((client) =>
      withNamespace((node) =>
        withNamespace(async (backend) => {
          const link = (a: Namespace, an: string, b: Namespace, bn: string) => {
            a.run("ip", ["link", "add", an, "type", "veth", "peer", "name", bn, "netns", b.name]);
            a.run("ip", ["link", "set", an, "up"]);
            b.run("ip", ["link", "set", bn, "up"]);
          };
          link(client, "c0", node, "n0");
          link(node, "n1", backend, "b0");
          client.run("ip", ["addr", "add", "198.18.1.2/24", "dev", "c0"]);
          client.run("ip", ["route", "add", "default", "via", "198.18.1.1"]);
          node.run("ip", ["addr", "add", "198.18.1.1/24", "dev", "n0"]);
          node.run("ip", ["addr", "add", "198.18.2.1/24", "dev", "n1"]);
          node.run("sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
          backend.run("ip", ["addr", "add", "198.18.2.2/24", "dev", "b0"]);
          backend.run("ip", ["route", "add", "default", "via", "198.18.2.1"]);
          // The node's egress veths finish checksums in software; the endpoints keep offload on.
          node.run("ethtool", ["-K", "n0", "tx", "off"]);
          node.run("ethtool", ["-K", "n1", "tx", "off"]);
          assert.match(client.run("ethtool", ["-k", "c0"]), /tx-checksum-ip-generic: on/);
          attachMaplb(node);

          // A TCP server and client in plain node, run inside the namespaces.
          const serverJs = `require("net").createServer((s) => s.end("maplb-reply\\n")).listen(${BACKEND.port}, () => console.log("up"));`;
          const server = spawn("ip", ["netns", "exec", backend.name, process.execPath, "-e", serverJs], {
            stdio: ["ignore", "pipe", "ignore"],
          });
          try {
            await new Promise((resolve) => server.stdout.once("data", resolve));
            const clientJs = `const s = require("net").connect(${SERVICE.port}, "${SERVICE.address}");
              s.setTimeout(3000, () => process.exit(2)); s.on("error", () => process.exit(1));
              s.on("data", (d) => process.stdout.write(d));`;
            let answer = "";
            for (let attempt = 0; attempt < 3 && !answer.includes("maplb-reply"); attempt++) {
              const r = spawnSync("ip", ["netns", "exec", client.name, process.execPath, "-e", clientJs], {
                encoding: "utf8",
                timeout: 10_000,
              });
              answer = r.stdout ?? "";
            }
            assert.match(answer, /maplb-reply/, "the connection through the Service IP");
            assert.equal(csumErrors(backend), 0, "backend TcpInCsumErrors");
            assert.equal(csumErrors(client), 0, "client TcpInCsumErrors");
          } finally {
            server.kill();
          }
        }),
      ),
    );
  },
);
