// netfilter-real's pieces that can be checked without running the suite: its client tool, for real
// between two namespaces (latency probes and short connections, IPv4 and IPv6, sockets made in a
// cgroup with socket-LB hooks), the dual-stack router lab, and the targets it reports from the
// added connect latency.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { netfilterReal } from "../bench/suites/netfilter-real.js";
import { runClient } from "../bench/suites/netfilter-socket-lb.js";
import { buildTool } from "../bench/tools/build.js";
import type { Result } from "../bench/types.js";
import { cgroup2Mount } from "../src/datapath/cgroup.js";
import { openKernel, type KernelDatapath } from "../src/datapath/kernel.js";
import {
  attachEmptyConnectHook,
  attachSocketLb,
  connectHookRunTime,
  detachSocketLb,
  enableBpfStats,
} from "../src/datapath/socket-lb.js";
import { RouterLab } from "../bench/router-lab.js";
import { podAddress } from "../bench/synthetic.js";
import { canCreateNamespaces, Topology } from "../src/netns/netns.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";
import { kernelSkip } from "./helpers/require-kernel.js";
import { SOCK_FRONTENDS, SOCK_V4, sockOps } from "./helpers/socket-lb.js";

const PORT = 18080;
const SERVER = "198.18.200.2";
const SERVER6 = "2001:db8:200::2";

/**
 * A client and a server namespace on one link (c0, s0), each with its addresses (the first on the
 * link, the others added; IPv6 ones usable at once, no duplicate detection); the tool serves `port`
 * on the server's addresses.
 */
async function clientAndServer(prefix: string, clientAddrs: string[], serverAddrs: string[], port: number) {
  const tool = buildTool("connect-latency");
  const topo = new Topology(prefix);
  const client = topo.addNamespace("cli");
  const srv = topo.addNamespace("srv");
  topo.link(
    { ns: client, ifname: "c0", addr: clientAddrs[0]! },
    { ns: srv, ifname: "s0", addr: serverAddrs[0]! },
  );
  const add = (ns: string, dev: string, a: string) =>
    topo.exec(ns, "ip", ["addr", "add", a, "dev", dev, ...(a.includes(":") ? ["nodad"] : [])]);
  for (const a of clientAddrs.slice(1)) add(client, "c0", a);
  for (const a of serverAddrs.slice(1)) add(srv, "s0", a);
  const server = spawn("ip", ["netns", "exec", srv, tool, "serve", String(port)], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 200)); // let the listener bind
  return { tool, topo, client, server };
}

describe("connect-latency between two namespaces", { skip: kernelSkip(canCreateNamespaces()) }, () => {
  let topo: Topology;
  let client = "";
  let server: ChildProcess | null = null;
  let tool = "";

  before(async () => {
    ({ tool, topo, client, server } = await clientAndServer(
      "cl",
      ["198.18.200.1/24", "2001:db8:200::1/64"],
      [`${SERVER}/24`, `${SERVER6}/64`],
      PORT,
    ));
  });

  after(() => {
    server?.kill("SIGKILL");
    topo?.cleanup();
  });

  it("times every connect of every round, one line per target", () => {
    const out = topo
      .exec(client, tool, ["connect", "5", "1000", `c0=${SERVER}:${PORT}`])
      .trim()
      .split(/\s+/);
    assert.equal(out[0], "c0");
    assert.deepEqual(out.slice(1, 3), ["5", "0"]);
    const times = out.slice(3).map(Number);
    assert.equal(times.length, 5);
    for (const t of times) assert.ok(t > 0 && t < 1e9, `connect time ${t} ns`);
  });

  it("connects over IPv6 to a bracketed address, beside IPv4, one line per target in order", () => {
    const lines = topo
      .exec(client, tool, ["connect", "3", "1000", `c0=[${SERVER6}]:${PORT}`, `c0=${SERVER}:${PORT}`])
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/).slice(0, 3));
    assert.deepEqual(lines, [
      ["c0", "3", "0"],
      ["c0", "3", "0"],
    ]);
    // An unbracketed IPv6 address is a bad target, not a silent IPv4 parse.
    assert.throws(
      () => topo.exec(client, tool, ["connect", "1", "100", `c0=${SERVER6}:${PORT}`]),
      /bad target/,
    );
  });

  it("completes short connections in blocks on CPU 0 and reads its softirq and system time", () => {
    const lines = topo
      .exec(client, tool, ["cps", "0", "5", "10", "1000", `c0=${SERVER}:${PORT}`, `c0=${SERVER}:${PORT + 1}`])
      .trim()
      .split("\n")
      .map((l) => l.trim().split(/\s+/));
    assert.equal(lines.length, 2, "one line per target");
    const [dev, ok, failed, elapsed, softirq, sys] = lines[0]!;
    assert.deepEqual([dev, ok, failed], ["c0", "50", "0"]); // 5 blocks of 10
    assert.ok(Number(elapsed) > 0);
    assert.ok(Number(softirq) >= 0 && Number(sys) >= 0, `softirq ${softirq} ns, sys ${sys} ns`);
    // Nothing listens on the second target's port: every connection fails, none hangs.
    assert.deepEqual(lines[1]!.slice(0, 3), ["c0", "0", "50"]);
  });
});

const mount = cgroup2Mount();

describe(
  "connect-latency: a target's sockets made in a cgroup (DEV=IP:PORT@CGROUP)",
  {
    skip:
      KERNEL_SKIP ||
      kernelSkip(canCreateNamespaces()) ||
      kernelSkip(mount ? null : "a cgroup2 mount", "the cgroup targets test"),
  },
  () => {
    // Backends 198.18.0.2 and .3 listen on 8080 in the server's namespace; the client has a route to
    // them only, none to the frontend 198.18.200.1:80: a connect() to it succeeds only if a hook
    // gave the socket a backend.
    const frontend = `${SOCK_FRONTENDS[0]!.key.address}:${SOCK_FRONTENDS[0]!.key.port}`;
    const hooked = join(mount ?? "", `maplb-test-cl-hooks-${process.pid}`);
    const empty = join(mount ?? "", `maplb-test-cl-empty-${process.pid}`);
    let topo: Topology;
    let client = "";
    let server: ChildProcess | null = null;
    let dp: KernelDatapath | null = null;
    let tool = "";
    /** One connect line per target: [ok, failed]. */
    const connect = (...targets: string[]) =>
      runClient(client, tool, ["connect", "3", "1000", ...targets])
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/).slice(1, 3).map(Number));

    before(async () => {
      const backends = ["198.18.0.2/24", "198.18.0.3/24", "2001:db8:201::2/64"];
      const clients = ["198.18.0.1/24", "2001:db8:201::1/64"];
      ({ tool, topo, client, server } = await clientAndServer("clcg", clients, backends, 8080));
      for (const dir of [hooked, empty]) mkdirSync(dir);
      dp = openKernel({ ephemeral: true });
      dp.apply(sockOps(SOCK_V4, [SOCK_FRONTENDS[0]!]));
      attachSocketLb(dp, hooked, false);
      attachEmptyConnectHook(dp, empty);
    });

    after(() => {
      server?.kill("SIGKILL");
      for (const dir of [hooked, empty]) {
        try {
          detachSocketLb(dir);
          rmdirSync(dir);
        } catch {
          /* not created */
        }
      }
      dp?.close();
      topo?.cleanup();
    });

    it("translates only the sockets made in the hooked cgroup, in one interleaved run", () => {
      assert.deepEqual(
        connect(`c0=${frontend}@${hooked}`, `c0=${frontend}`, `c0=198.18.0.2:8080@${hooked}`),
        [
          [3, 0], // made in the cgroup: given a backend at connect()
          [0, 3], // made by the tool itself: no hook, no route to the frontend
          [3, 0], // a pod address: the hooks find no frontend and leave it
        ],
      );
    });

    it("makes an IPv6 target's sockets in the cgroup too (DEV=[IPv6]:PORT@CGROUP)", () => {
      // A pod address: the hooks leave it; a socket of the wrong family could not connect at all.
      assert.deepEqual(connect(`c0=[2001:db8:201::2]:8080@${hooked}`, `c0=[2001:db8:201::2]:8080`), [
        [3, 0],
        [3, 0],
      ]);
    });

    it("runs the empty connect4 program, which translates nothing, and detaches it", () => {
      assert.deepEqual(connect(`c0=${frontend}@${empty}`, `c0=198.18.0.3:8080@${empty}`), [
        [0, 3],
        [3, 0],
      ]);
      assert.equal(detachSocketLb(empty), 1);
      attachEmptyConnectHook(dp!, empty); // for after()
    });

    it("counts the connect4 program's runs and run time while the kernel's statistics are on", () => {
      const stop = enableBpfStats();
      let before, after;
      try {
        before = connectHookRunTime(hooked);
        connect(`c0=${frontend}@${hooked}`, `c0=${frontend}`); // 3 rounds; only the first target is hooked
        after = connectHookRunTime(hooked);
      } finally {
        stop();
      }
      assert.equal(after.runs - before.runs, 3);
      assert.ok(after.ns > before.ns, `run time ${before.ns} → ${after.ns} ns`);
    });

    it("names a cgroup it cannot join", () => {
      assert.throws(
        () => connect(`c0=${frontend}@/nonexistent-${process.pid}`),
        new RegExp(`joining cgroup /nonexistent-${process.pid}: No such file or directory`),
      );
    });
  },
);

describe("the router lab, dual-stack", { skip: kernelSkip(canCreateNamespaces()) }, () => {
  it("forwards connects to pod addresses of both families through each router", async () => {
    const tool = buildTool("connect-latency");
    const lab = new RouterLab(["a", "b"]);
    try {
      const pods = [podAddress(7), podAddress(7, "IPv6")];
      await lab.serve(
        tool,
        pods.map((p) => p.ip),
        [pods[0]!.port],
      );
      const targets = lab.paths.flatMap((p) => [
        `${p.clientDev}=${pods[0]!.ip}:${pods[0]!.port}`,
        `${p.clientDev}=[${pods[1]!.ip}]:${pods[1]!.port}`,
      ]);
      // As the suite does: a warm-up round first (a fresh link's first SYN can wait on neighbour
      // discovery past the timeout), then every connect must succeed.
      lab.topo.exec(lab.client, tool, ["connect", "2", "1000", ...targets]);
      const out = lab.topo.exec(lab.client, tool, ["connect", "3", "1000", ...targets]);
      assert.deepEqual(
        out
          .trim()
          .split("\n")
          .map((l) => l.trim().split(/\s+/).slice(0, 3).join(" ")),
        ["c0 3 0", "c0 3 0", "c1 3 0", "c1 3 0"],
      );
    } finally {
      lab.cleanup();
    }
  });
});

describe("netfilter-real targets: added connect latency", () => {
  const added = (impl: string, services: number, value: number, baseline: number): Result[] => [
    {
      suite: "netfilter-real",
      impl,
      services,
      endpointsPerService: 3,
      traffic: "worst-case",
      metric: "connect_added_p50_us",
      value,
      unit: "us",
      samples: 1,
      params: { baseline_p50_us: baseline },
    },
    {
      suite: "netfilter-real",
      impl: "baseline-no-service",
      services,
      endpointsPerService: 3,
      traffic: "worst-case",
      metric: "connect_p50_us",
      value: baseline,
      unit: "us",
      samples: 400,
    },
  ];

  it("reports maplb's worst cell against 1 µs and the iptables-legacy ratio at 10k", () => {
    const results = [
      ...added("maplb", 10, 0.6, 30),
      ...added("maplb", 10000, 1.5, 31),
      ...added("kube-proxy-iptables-legacy", 10000, 75, 31),
    ];
    const [flat, ratio] = netfilterReal.targets!(results);
    assert.equal(flat!.met, false);
    assert.match(flat!.measured, /\+1\.5 µs at 10000 services \(baseline 31\.0 µs\)/);
    assert.equal(ratio!.met, true); // 75 / 1.5 = 50
    assert.match(ratio!.measured, /^50\.0×/);
  });

  it("reads the IPv4 rows only: an IPv6 row of the same impl and size does not stand in", () => {
    const v6 = added("maplb", 10000, 0.2, 30).map((r) => ({ ...r, family: "IPv6" as const }));
    const results = [
      ...v6,
      ...added("maplb", 10000, 1.5, 31),
      ...added("kube-proxy-iptables-legacy", 10000, 75, 31),
    ];
    const [flat, ratio] = netfilterReal.targets!(results);
    assert.match(flat!.measured, /\+1\.5 µs at 10000 services \(baseline 31\.0 µs\)/);
    assert.match(ratio!.measured, /^50\.0×/);
  });

  it("meets both when maplb stays within 1 µs and legacy adds 20× as much", () => {
    const results = [
      ...added("maplb", 10, 0.4, 30),
      ...added("maplb", 10000, 0.9, 30),
      ...added("kube-proxy-iptables-legacy", 10000, 17, 30),
    ];
    const [flat, ratio] = netfilterReal.targets!(results);
    assert.equal(flat!.met, true);
    assert.equal(ratio!.met, false); // 17 / 0.9 = 18.9
  });
});
