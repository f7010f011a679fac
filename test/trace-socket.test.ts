// `maplb trace --socket`: a connect() explained by the hooks' own code, and the choice it shows is
// the one a packet of the same flow gets from the packet pipeline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
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
