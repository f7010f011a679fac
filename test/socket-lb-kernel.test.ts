// Socket-level LB in the kernel: the cgroup hooks attached with `maplb attach --socket-lb` to a
// cgroup this test creates, and real sockets of a process inside it (in a network namespace this
// test creates, where the backends listen on 198.18.0.2-4 and 2001:db8::2-4 and no route leads to
// any frontend, so a connect() that reaches its backend was translated at the socket). The same
// probes run over AF_INET and AF_INET6 sockets (and AF_INET6 ones naming IPv4 frontends as
// ::ffff:a.b.c.d). Cleans up on failure too.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup2Mount, checkCgroupDir } from "../src/datapath/cgroup.js";
import { openKernel, type KernelDatapath } from "../src/datapath/kernel.js";
import { SOCKET_HOOKS, socketLbHooks } from "../src/datapath/socket-lb.js";
import { hostPort } from "../src/util/ip.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";
import { kernelSkip } from "./helpers/require-kernel.js";
import { SOCK_V4, SOCK_V6, sockBackend, sockOps, type SockFamily } from "./helpers/socket-lb.js";
import { healthy, startAgent, terminate, webApiServer } from "./helpers/agent-process.js";

const BIN = join(import.meta.dirname, "../../bin/maplb.js");
const NS = `maplb-sock-${process.pid}`;
const RUN_DIR = `/tmp/maplb-sock-run-${process.pid}`;
const mount = cgroup2Mount();
const SKIP =
  KERNEL_SKIP ||
  kernelSkip(mount ? null : "a cgroup2 mount", "the socket-LB kernel test") ||
  kernelSkip(
    spawnSync("nsenter", ["--version"]).status === 0 ? null : "nsenter",
    "the socket-LB kernel test",
  );
const CGROUP = mount ? join(mount, `maplb-test-sock-${process.pid}`) : "";
const FAMILIES = [SOCK_V4, SOCK_V6];
/** The backends (2..4) and the bound sources of each family, on the namespace's loopback. */
const backendAddresses = (f: SockFamily) => [2, 3, 4].map((n) => sockBackend(n, f).address);
const LOCAL_ADDRESSES = FAMILIES.flatMap((f) => [...backendAddresses(f), f.inside, f.outside]);

const sh = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

function maplb(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_RUN_DIR: RUN_DIR },
  });
}

/**
 * The client: runs in the cgroup and the namespace; backends (argv[1]) answer with their own
 * address. A probe's socket family is its host's: an IPv6 text (::ffff:a.b.c.d too) is AF_INET6.
 */
const CLIENT = `
import net from "node:net";
import dgram from "node:dgram";
const [backends, probes] = JSON.parse(process.argv[1]);
const bounded = (p) => Promise.race([p, new Promise((r) => setTimeout(() => r({ error: "TIMEOUT" }), 3000))]);
const v6 = (a) => a.includes(":");
const hostPort = (a, p) => (v6(a) ? "[" + a + "]:" + p : a + ":" + p);
for (const a of backends) {
  await new Promise((r) => net.createServer((c) => c.end(a)).listen(8080, a, r));
  const u = dgram.createSocket(v6(a) ? "udp6" : "udp4");
  u.on("message", (m, from) => u.send(a, from.port, from.address));
  await new Promise((r) => u.bind(8080, a, r));
}
const tcp = (host, port, localAddress) => bounded(new Promise((res) => {
  let data = "", peer = "";
  const c = net.connect({ host, port, localAddress });
  c.on("connect", () => { peer = hostPort(c.remoteAddress, c.remotePort); });
  c.on("data", (d) => (data += d));
  c.on("end", () => res({ backend: data, peer }));
  c.on("error", (e) => res({ error: e.code }));
}));
const udp = (host, port, connected) => bounded(new Promise((res) => {
  const s = dgram.createSocket(v6(host) ? "udp6" : "udp4");
  s.on("message", (m, from) => { const peer = connected ? s.remoteAddress() : from; s.close(); res({ backend: String(m), peer: hostPort(peer.address, peer.port) }); });
  s.on("error", (e) => res({ error: e.code }));
  if (connected) s.connect(port, host, () => s.send("hi"));
  else s.send("hi", port, host);
}));
const out = {};
for (const [name, host, port, n, local] of probes) {
  out[name] = [];
  for (let i = 0; i < n; i++)
    out[name].push(name.startsWith("udp") ? await udp(host, port, name === "udp-connected") : await tcp(host, port, local));
}
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

type Result = { backend?: string; peer?: string; error?: string };
type Probe = [name: string, host: string, port: number, count: number, local?: string];

/** Runs the client inside the test's cgroup and namespace; one list of results per probe. */
function runClient(probes: Probe[]): Record<string, Result[]> {
  const script = `echo $$ > "$1/cgroup.procs" && exec nsenter --net=/run/netns/${NS} "$2" --input-type=module -e "$3" "$4"`;
  const input = JSON.stringify([FAMILIES.flatMap(backendAddresses), probes]);
  const r = spawnSync("sh", ["-c", script, "sh", CGROUP, process.execPath, CLIENT, input], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, Result[]>;
}

/**
 * Every kind of frontend through the hooks of one socket family: `at` names frontend n as the
 * application gives it (an IPv4-mapped text for AF_INET6 sockets to IPv4 frontends), `f` is the
 * family of the maps and backends that serve it.
 */
function checkFrontends(
  f: SockFamily,
  at: (n: number) => string = f.frontend,
  bound: (a: string) => string = (a) => a,
) {
  const out = runClient([
    ["random", at(1), 80, 24],
    ["maglev", at(2), 80, 24],
    ["affinity", at(4), 80, 8],
    ["local-policy", at(6), 80, 16],
    ["no-endpoints", at(7), 80, 1],
    ["range-unbound", at(5), 80, 1],
    ["range-inside", at(5), 80, 4, bound(f.inside)],
    ["range-outside", at(5), 80, 1, bound(f.outside)],
    ["hairpin", at(1), 80, 12, bound(sockBackend(2, f).address)],
    ["udp", at(3), 53, 12],
    ["udp-connected", at(3), 53, 12],
  ]);
  const backends = (name: string) => new Set(out[name]!.map((r) => r.backend ?? `error ${r.error}`));
  const peers = (name: string) => new Set(out[name]!.map((r) => r.peer ?? `error ${r.error}`));
  const addresses = (ns: number[]) => ns.map((n) => sockBackend(n, f).address).sort();
  assert.deepEqual([...backends("random")].sort(), addresses([2, 3]));
  assert.deepEqual([...peers("random")], [hostPort(at(1), 80)]);
  assert.deepEqual([...backends("maglev")].sort(), addresses([2, 3, 4]));
  assert.equal(backends("affinity").size, 1, JSON.stringify(out.affinity));
  assert.deepEqual([...backends("local-policy")].sort(), addresses([3, 4]));
  assert.deepEqual(out["no-endpoints"], [{ error: "ECONNREFUSED" }]);
  // Unbound: left to the per-packet path, which is not on this namespace's path: no route.
  assert.deepEqual(out["range-unbound"], [{ error: "ENETUNREACH" }]);
  assert.deepEqual([...peers("range-inside")], [hostPort(at(5), 80)]);
  assert.deepEqual(out["range-outside"], [{ error: "EPERM" }]);
  assert.deepEqual([...backends("hairpin")].sort(), addresses([2, 3]));
  for (const name of ["udp", "udp-connected"]) {
    assert.deepEqual([...backends(name)].sort(), addresses([2, 3]), name);
    assert.deepEqual([...peers(name)], [hostPort(at(3), 53)], name);
  }
}

describe("socket LB on a cgroup v2 (kernel)", { skip: SKIP }, () => {
  let dp: KernelDatapath;

  before(() => {
    dp = openKernel({ ephemeral: true });
    dp.configure({ nodeIPs: ["198.18.1.1"], clusterCIDR: "198.18.0.0/16", hashSeed: 7 });
    dp.apply([...sockOps(SOCK_V4), ...sockOps(SOCK_V6)]);
    mkdirSync(CGROUP);
    sh("ip", ["netns", "add", NS]);
    sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
    for (const a of LOCAL_ADDRESSES)
      sh("ip", ["-n", NS, "addr", "add", `${a}/${a.includes(":") ? 128 : 32}`, "dev", "lo"]);
  });

  after(() => {
    if (existsSync(CGROUP)) {
      maplb(["detach", "--socket-lb", "--cgroup", CGROUP]);
      // The client has exited; the kernel may take a moment to empty the cgroup.
      for (let i = 0; i < 50 && existsSync(CGROUP); i++) {
        try {
          rmdirSync(CGROUP);
        } catch {
          spawnSync("sleep", ["0.1"]);
        }
      }
    }
    spawnSync("ip", ["netns", "del", NS]);
    spawnSync("rm", ["-rf", RUN_DIR]);
    dp?.close();
  });

  test("attach refuses the root cgroup and a path that is not a cgroup v2", () => {
    assert.throws(() => checkCgroupDir(mount!), /root of a cgroup2 hierarchy/);
    const r = maplb(["attach", "--socket-lb", "--cgroup", "/tmp", "--pin-dir", dp.pinDir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /"\/tmp" is not a cgroup v2 directory/);
  });

  test("attach --socket-lb puts the eight hooks (IPv4 and IPv6) on the cgroup; status shows them", () => {
    const r = maplb(["attach", "--socket-lb", "--cgroup", CGROUP, "--pin-dir", dp.pinDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /attached socket LB/);
    assert.deepEqual(socketLbHooks(CGROUP), [...SOCKET_HOOKS]);
    const status = maplb(["status"]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`cgroup "${CGROUP}"  hooks ${SOCKET_HOOKS.join(",")}`));
  });

  test("AF_INET: connect() goes straight to a backend; getpeername and recvmsg show the Service", () => {
    checkFrontends(SOCK_V4);
  });

  test("AF_INET6: the same over the lb6 maps, at 2001:db8:: addresses", () => {
    checkFrontends(SOCK_V6);
  });

  test("AF_INET6 to ::ffff:a.b.c.d: translated through the IPv4 maps, as Cilium does", () => {
    const mapped = (a: string) => `::ffff:${a}`;
    checkFrontends(SOCK_V4, (n) => mapped(SOCK_V4.frontend(n)), mapped);
  });

  test("--socket-lb-hostns-only leaves sockets of other namespaces to the per-packet path", () => {
    const r = maplb([
      "attach",
      "--socket-lb",
      "--socket-lb-hostns-only",
      "--cgroup",
      CGROUP,
      "--pin-dir",
      dp.pinDir,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(socketLbHooks(CGROUP).length, 8, "attaching again replaces, it does not add");
    const out = runClient([
      ["random", SOCK_V4.frontend(1), 80, 2],
      ["random6", SOCK_V6.frontend(1), 80, 2],
    ]);
    assert.deepEqual(out.random, [{ error: "ENETUNREACH" }, { error: "ENETUNREACH" }]);
    assert.deepEqual(out.random6, [{ error: "ENETUNREACH" }, { error: "ENETUNREACH" }]);
  });

  test("detach --socket-lb removes every hook; status forgets nothing it still shows", () => {
    const r = maplb(["detach", "--socket-lb", "--cgroup", CGROUP]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /detached socket LB from cgroup .* \(8 program\(s\)\)/);
    assert.deepEqual(socketLbHooks(CGROUP), []);
    assert.doesNotMatch(maplb(["status"]).stdout, /socket LB:/);
  });
});

describe("maplb agent --socket-lb (kernel)", { skip: SKIP }, () => {
  const server = webApiServer();
  const dir = mkdtempSync(join(tmpdir(), "maplb-sock-agent-"));
  const cgroup = `${CGROUP}-agent`;
  const pinDir = `/sys/fs/bpf/maplb-test-sock-agent-${process.pid}`;

  after(() => {
    if (existsSync(cgroup)) {
      maplb(["detach", "--socket-lb", "--cgroup", cgroup]);
      rmdirSync(cgroup);
    }
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test("usage: --socket-lb needs a cgroup, and the kernel datapath", () => {
    const r = spawnSync(process.execPath, [BIN, "agent", "--socket-lb", "--datapath", "kernel"], {
      encoding: "utf8",
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--socket-lb needs --socket-lb-cgroup PATH/);
    const e = spawnSync(
      process.execPath,
      [BIN, "agent", "--socket-lb", "--socket-lb-cgroup", "/x", "--datapath", "emulated"],
      {
        encoding: "utf8",
      },
    );
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /--socket-lb needs the kernel datapath/);
  });

  test(
    "attaches the hooks to the given cgroup, and leaves them in place when it stops",
    { timeout: 30_000 },
    async () => {
      mkdirSync(cgroup);
      const kubeconfig = server.writeKubeconfig(dir);
      const agent = await startAgent([
        "--kubeconfig",
        kubeconfig,
        "--node-name",
        "node-a",
        "--node-ip",
        "198.18.1.1",
        "--metrics-addr",
        "127.0.0.1:0",
        "--datapath",
        "kernel",
        "--pin-dir",
        pinDir,
        "--socket-lb",
        "--socket-lb-cgroup",
        cgroup,
      ]);
      try {
        await healthy(agent);
        assert.deepEqual(socketLbHooks(cgroup), [...SOCKET_HOOKS]);
      } finally {
        assert.equal(await terminate(agent), 0);
      }
      assert.equal(socketLbHooks(cgroup).length, SOCKET_HOOKS.length);
    },
  );
});
