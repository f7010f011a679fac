// Socket-level LB in the kernel: the cgroup hooks attached with `maplb attach --socket-lb` to a
// cgroup this test creates, and real sockets of a process inside it (in a network namespace this
// test creates, where the backends listen on 198.18.0.2-4 and no route leads to any frontend, so a
// connect() that reaches its backend was translated at the socket). Cleans up on failure too.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup2Mount, checkCgroupDir } from "../src/datapath/cgroup.js";
import { openKernel, type KernelDatapath } from "../src/datapath/kernel.js";
import { socketLbHooks } from "../src/datapath/socket-lb.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";
import { kernelSkip } from "./helpers/require-kernel.js";
import { sockOps } from "./helpers/socket-lb.js";
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
const LOCAL_ADDRESSES = ["198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.201.9", "198.18.202.9"];

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

/** The client: runs in the cgroup and the namespace; backends answer with their own address. */
const CLIENT = `
import net from "node:net";
import dgram from "node:dgram";
const BACKENDS = ["198.18.0.2", "198.18.0.3", "198.18.0.4"];
const bounded = (p) => Promise.race([p, new Promise((r) => setTimeout(() => r({ error: "TIMEOUT" }), 3000))]);
for (const a of BACKENDS) {
  await new Promise((r) => net.createServer((c) => c.end(a)).listen(8080, a, r));
  const u = dgram.createSocket("udp4");
  u.on("message", (m, from) => u.send(a, from.port, from.address));
  await new Promise((r) => u.bind(8080, a, r));
}
const tcp = (host, port, localAddress) => bounded(new Promise((res) => {
  let data = "", peer = "";
  const c = net.connect({ host, port, localAddress });
  c.on("connect", () => { peer = c.remoteAddress + ":" + c.remotePort; });
  c.on("data", (d) => (data += d));
  c.on("end", () => res({ backend: data, peer }));
  c.on("error", (e) => res({ error: e.code }));
}));
const udp = (host, port, connected) => bounded(new Promise((res) => {
  const s = dgram.createSocket("udp4");
  s.on("message", (m, from) => { const peer = connected ? s.remoteAddress() : from; s.close(); res({ backend: String(m), peer: peer.address + ":" + peer.port }); });
  s.on("error", (e) => res({ error: e.code }));
  if (connected) s.connect(port, host, () => s.send("hi"));
  else s.send("hi", port, host);
}));
const out = {};
for (const [name, host, port, n, local] of JSON.parse(process.argv[1])) {
  out[name] = [];
  for (let i = 0; i < n; i++)
    out[name].push(name.startsWith("udp") ? await udp(host, port, name === "udp-connected") : await tcp(host, port, local));
}
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

type Result = { backend?: string; peer?: string; error?: string };

/** Runs the client inside the test's cgroup and namespace; one list of results per probe. */
function runClient(probes: [string, string, number, number, string?][]): Record<string, Result[]> {
  const script = `echo $$ > "$1/cgroup.procs" && exec nsenter --net=/run/netns/${NS} "$2" --input-type=module -e "$3" "$4"`;
  const r = spawnSync("sh", ["-c", script, "sh", CGROUP, process.execPath, CLIENT, JSON.stringify(probes)], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, Result[]>;
}

describe("socket LB on a cgroup v2 (kernel)", { skip: SKIP }, () => {
  let dp: KernelDatapath;

  before(() => {
    dp = openKernel({ ephemeral: true });
    dp.configure({ nodeIPs: ["198.18.1.1"], clusterCIDR: "198.18.0.0/16", hashSeed: 7 });
    dp.apply(sockOps());
    mkdirSync(CGROUP);
    sh("ip", ["netns", "add", NS]);
    sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
    for (const a of LOCAL_ADDRESSES) sh("ip", ["-n", NS, "addr", "add", `${a}/32`, "dev", "lo"]);
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

  test("attach --socket-lb puts the four hooks on the cgroup; status shows them", () => {
    const r = maplb(["attach", "--socket-lb", "--cgroup", CGROUP, "--pin-dir", dp.pinDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /attached socket LB/);
    assert.deepEqual(socketLbHooks(CGROUP), ["connect4", "sendmsg4", "recvmsg4", "getpeername4"]);
    const status = maplb(["status"]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(`cgroup "${CGROUP}"  hooks connect4,sendmsg4,recvmsg4,getpeername4`),
    );
  });

  test("connect() goes straight to a backend; getpeername and recvmsg show the Service", () => {
    const out = runClient([
      ["random", "198.18.200.1", 80, 24],
      ["maglev", "198.18.200.2", 80, 24],
      ["affinity", "198.18.200.4", 80, 8],
      ["local-policy", "198.18.200.6", 80, 16],
      ["no-endpoints", "198.18.200.7", 80, 1],
      ["range-unbound", "198.18.200.5", 80, 1],
      ["range-inside", "198.18.200.5", 80, 4, "198.18.201.9"],
      ["range-outside", "198.18.200.5", 80, 1, "198.18.202.9"],
      ["hairpin", "198.18.200.1", 80, 12, "198.18.0.2"],
      ["udp", "198.18.200.3", 53, 12],
      ["udp-connected", "198.18.200.3", 53, 12],
    ]);
    const backends = (name: string) => new Set(out[name]!.map((r) => r.backend ?? `error ${r.error}`));
    const peers = (name: string) => new Set(out[name]!.map((r) => r.peer ?? `error ${r.error}`));
    assert.deepEqual([...backends("random")].sort(), ["198.18.0.2", "198.18.0.3"]);
    assert.deepEqual([...peers("random")], ["198.18.200.1:80"]);
    assert.deepEqual([...backends("maglev")].sort(), ["198.18.0.2", "198.18.0.3", "198.18.0.4"]);
    assert.equal(backends("affinity").size, 1, JSON.stringify(out.affinity));
    assert.deepEqual([...backends("local-policy")].sort(), ["198.18.0.3", "198.18.0.4"]);
    assert.deepEqual(out["no-endpoints"], [{ error: "ECONNREFUSED" }]);
    // Unbound: left to the per-packet path, which is not on this namespace's path: no route.
    assert.deepEqual(out["range-unbound"], [{ error: "ENETUNREACH" }]);
    assert.deepEqual([...peers("range-inside")], ["198.18.200.5:80"]);
    assert.deepEqual(out["range-outside"], [{ error: "EPERM" }]);
    assert.deepEqual([...backends("hairpin")].sort(), ["198.18.0.2", "198.18.0.3"]);
    for (const name of ["udp", "udp-connected"]) {
      assert.deepEqual([...backends(name)].sort(), ["198.18.0.2", "198.18.0.3"], name);
      assert.deepEqual([...peers(name)], ["198.18.200.3:53"], name);
    }
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
    assert.equal(socketLbHooks(CGROUP).length, 4, "attaching again replaces, it does not add");
    const out = runClient([["random", "198.18.200.1", 80, 2]]);
    assert.deepEqual(out.random, [{ error: "ENETUNREACH" }, { error: "ENETUNREACH" }]);
  });

  test("detach --socket-lb removes every hook; status forgets nothing it still shows", () => {
    const r = maplb(["detach", "--socket-lb", "--cgroup", CGROUP]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /detached socket LB from cgroup .* \(4 program\(s\)\)/);
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
        assert.deepEqual(socketLbHooks(cgroup), ["connect4", "sendmsg4", "recvmsg4", "getpeername4"]);
      } finally {
        assert.equal(await terminate(agent), 0);
      }
      assert.equal(socketLbHooks(cgroup).length, 4);
    },
  );
});
