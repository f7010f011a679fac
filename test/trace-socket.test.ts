// `maplb trace --socket`: a connect() explained by the hooks' own code, and the choice it shows is
// the one a packet of the same flow gets from the packet pipeline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { compile } from "../src/compile/compiler.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { socketHashPort } from "../src/datapath/socket-lb.js";
import { TRACE_CLIENT, traceSocket } from "../src/datapath/trace-socket.js";
import { tracePacket } from "../src/datapath/trace.js";
import { readModel } from "../src/k8s/read.js";
import { DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import { SCENARIOS, service, slice, writeTemp } from "./helpers/manifests.js";

const BIN = join(import.meta.dirname, "../../bin/maplb.js");
const GKE = join(SCENARIOS, "seed-001-gke-loadbalancer.yaml");
const node = { ...DEFAULT_NODE_CONFIG, nodeIPs: ["198.18.1.1"] };

test("trace --socket gives the backend the packet trace gives the same flow", () => {
  const model = readModel([GKE]);
  for (let cookie = 1n; cookie <= 12n; cookie++) {
    const sdp = openEmulated();
    const pdp = openEmulated();
    try {
      const s = traceSocket(sdp, {
        model,
        node,
        source: null,
        address: "35.200.9.207",
        port: 80,
        protocol: "tcp",
        cookie,
      });
      const p = tracePacket(pdp, {
        model,
        node,
        src: TRACE_CLIENT,
        sport: socketHashPort(cookie),
        dst: "35.200.9.207",
        dport: 80,
        proto: "TCP",
      });
      assert.equal(s.result.kind, "backend");
      if (s.result.kind === "backend") assert.equal(`${s.result.address}:${s.result.port}`, p.backend);
      assert.deepEqual(s.choice, p.choice);
      assert.equal(s.peer, "35.200.9.207:80");
      assert.equal(s.hook, "connect4");
    } finally {
      sdp.close();
      pdp.close();
    }
  }
});

test("maplb trace --socket: ECONNREFUSED for a service without endpoints, sendmsg4 for UDP, bad cookies refused", () => {
  const docs = [
    service({ metadata: { name: "empty" }, spec: { clusterIP: "10.96.0.20" } }),
    service({
      metadata: { name: "dns" },
      spec: { clusterIP: "10.96.0.10", ports: [{ name: "dns", port: 53, targetPort: 53, protocol: "UDP" }] },
    }),
    slice({
      metadata: { name: "dns-a", labels: { "kubernetes.io/service-name": "dns" } },
      ports: [{ name: "dns", port: 53, protocol: "UDP" }],
    }),
  ];
  const file = writeTemp("svc.json", JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
  const run = (args: string[]) =>
    spawnSync(process.execPath, [BIN, "trace", "-f", file, "--socket", ...args], { encoding: "utf8" });

  const refused = run(["--to", "10.96.0.20:80"]);
  assert.equal(refused.status, 0, refused.stderr);
  assert.match(refused.stdout, /hook: +cgroup\/connect4: connect\(\) to 10\.96\.0\.20:80/);
  assert.match(refused.stdout, /result: +connect\(\) fails with ECONNREFUSED/);

  const udp = run(["--to", "10.96.0.10:53", "--proto", "udp", "--json"]);
  assert.equal(udp.status, 0, udp.stderr);
  const t = JSON.parse(udp.stdout) as {
    hook: string;
    result: { kind: string; address: string };
    peer: string;
  };
  assert.equal(t.hook, "sendmsg4");
  assert.deepEqual([t.result.kind, t.result.address], ["backend", "10.0.1.5"]);
  assert.equal(t.peer, "10.96.0.10:53");

  const bad = run(["--to", "10.96.0.10:53", "--cookie", "12; rm -rf"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--cookie expects an unsigned 64-bit number, got '12; rm -rf'/);
});

test("maplb trace --socket explains an AF_INET6 socket's connect(): connect6 over the lb6 maps, ::ffff:a.b.c.d through the IPv4 ones", () => {
  const docs = [
    service({
      metadata: { name: "web" },
      spec: {
        clusterIP: "10.96.0.10",
        clusterIPs: ["10.96.0.10", "fd00:96::10"],
        ipFamilies: ["IPv4", "IPv6"],
        ipFamilyPolicy: "RequireDualStack",
      },
    }),
    slice({ metadata: { name: "web-v4", labels: { "kubernetes.io/service-name": "web" } } }),
    slice({
      metadata: { name: "web-v6", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv6",
      endpoints: [{ addresses: ["2001:db8:1::5"], conditions: { ready: true }, nodeName: "n1" }],
    }),
    service({
      metadata: { name: "empty" },
      spec: {
        clusterIP: "fd00:96::20",
        clusterIPs: ["fd00:96::20"],
        ipFamilies: ["IPv6"],
        ports: [{ name: "dns", port: 53, targetPort: 53, protocol: "UDP" }],
      },
    }),
  ];
  const file = writeTemp("dual.json", JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
  const run = (args: string[]) =>
    spawnSync(process.execPath, [BIN, "trace", "-f", file, "--socket", ...args], { encoding: "utf8" });

  const six = run(["--to", "[fd00:96::10]:80"]);
  assert.equal(six.status, 0, six.stderr);
  assert.match(six.stdout, /hook: +cgroup\/connect6: connect\(\) to \[fd00:96::10\]:80/);
  assert.match(six.stdout, /result: +\[fd00:96::10\]:80 ⇒ \[2001:db8:1::5\]:8080/);
  assert.match(six.stdout, /getpeername: \[fd00:96::10\]:80/);

  const mapped = run(["--to", "[::ffff:10.96.0.10]:80", "--json"]);
  assert.equal(mapped.status, 0, mapped.stderr);
  const t = JSON.parse(mapped.stdout) as {
    hook: string;
    family: string;
    result: { address: string };
    peer: string;
  };
  assert.deepEqual(
    [t.hook, t.family, t.result.address, t.peer],
    ["connect6", "IPv4-mapped", "::ffff:10.0.1.5", "[::ffff:10.96.0.10]:80"],
  );

  const refused = run(["--to", "[fd00:96::20]:53", "--proto", "udp"]);
  assert.equal(refused.status, 0, refused.stderr);
  assert.match(refused.stdout, /hook: +cgroup\/sendmsg6/);
  assert.match(refused.stdout, /result: +sendmsg\(\) fails with ECONNREFUSED/);

  const bad = run(["--to", "[fd00::zz]:80"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--to expects IP:PORT or \[IPv6\]:PORT, got '\[fd00::zz\]:80'/);
  // Without --socket the same addresses are a packet, traced through the packet datapath.
  const packet = spawnSync(
    process.execPath,
    [BIN, "trace", "-f", file, "--from", "[2001:db8::9]:4000", "--to", "[fd00:96::10]:80"],
    { encoding: "utf8" },
  );
  assert.equal(packet.status, 0, packet.stderr);
  assert.match(packet.stdout, /^verdict: {2}DNAT$/m);
});

test("trace --socket's IPv6 choice is the one the hooks' C code makes: every cookie lands where the TypeScript flow hash says", () => {
  const model = readModel([
    writeTemp(
      "v6.json",
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          service({
            metadata: { name: "web" },
            spec: { clusterIP: "fd00:96::10", clusterIPs: ["fd00:96::10"], ipFamilies: ["IPv6"] },
          }),
          slice({
            metadata: { name: "web-v6", labels: { "kubernetes.io/service-name": "web" } },
            addressType: "IPv6",
            endpoints: ["2001:db8:1::5", "2001:db8:1::6", "2001:db8:1::7"].map((a) => ({
              addresses: [a],
              conditions: { ready: true },
            })),
          }),
        ],
      }),
    ),
  ]);
  const seen = new Set<string>();
  for (let cookie = 1n; cookie <= 24n; cookie++) {
    const dp = openEmulated();
    try {
      const t = traceSocket(dp, {
        model,
        node,
        source: null,
        address: "fd00:96::10",
        port: 80,
        protocol: "tcp",
        cookie,
      });
      assert.equal(t.result.kind, "backend");
      assert.equal(t.algorithm, "maglev");
      // The row the trace names holds the backend the C code gave.
      const table = [...compile(model, node).services.values()][0]!.maglev[0]!;
      assert.equal(table.family, "IPv6");
      if (t.result.kind === "backend") {
        assert.equal(table.rows[t.choice!.row!], t.result.backendId, `cookie ${cookie}`);
        seen.add(t.result.address);
      }
    } finally {
      dp.close();
    }
  }
  assert.equal(seen.size, 3);
});
