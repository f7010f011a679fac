// One writer at a time on a pin directory, and maps that apply repairs, on the real kernel:
// concurrent `maplb apply` runs into one pin dir end with consistent maps; a writer that cannot get
// the lock says who holds it; a damaged pin dir (a slot naming a deleted backend, an orphan backend,
// a missing rev-NAT entry, and more) is repaired by the next apply; list, status and attach on a
// missing pin dir fail and create nothing; status forgets attachments removed behind maplb's back.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DatapathSink } from "../src/agent/datapath-sink.js";
import type { MapContents } from "../src/agent/map-contents.js";
import { compile } from "../src/compile/compiler.js";
import { familyOfAddress, frontendKeyString, type MapOp } from "../src/compile/tables.js";
import { openKernel, probeKernel } from "../src/datapath/kernel.js";
import { lockPinDir } from "../src/datapath/pin-lock.js";
import { readModel } from "../src/k8s/read.js";
import { DEFAULT_NODE_CONFIG, type NodeConfig } from "../src/model/types.js";
import { Topology } from "../src/netns/netns.js";
import { contentsOfTables, viewOf } from "./helpers/agent-maps.js";
import { healthy, startAgent, terminate, webApiServer } from "./helpers/agent-process.js";
import { inconsistencies } from "./helpers/map-consistency.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const BIN = join(import.meta.dirname, "../../bin/maplb.js");
const SCENARIOS = join(import.meta.dirname, "../../../shared/scenarios");
const SEEDS = readdirSync(SCENARIOS)
  .filter((f) => /^seed-.*\.yaml$/.test(f))
  .sort()
  .map((f) => join(SCENARIOS, f));
const SEED_003 = SEEDS.find((f) => f.includes("seed-003"))!;
const NODE_IP = "198.18.0.10";
const node: NodeConfig = { ...DEFAULT_NODE_CONFIG, nodeIPs: [NODE_IP] };

// Lock files and attachment records of this file's runs stay out of /run/maplb.
const runDir = mkdtempSync(join(tmpdir(), "maplb-pindir-"));
process.env.MAPLB_RUN_DIR = runDir;
after(() => rmSync(runDir, { recursive: true, force: true }));

const env = { ...process.env, MAPLB_LOG_LEVEL: "silent", MAPLB_RUN_DIR: runDir };

function maplb(args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...env, ...extraEnv } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `maplb args…` for each argument list at once; resolves with each exit code and stderr. */
function concurrently(runs: string[][]): Promise<{ code: number | null; stderr: string }[]> {
  return Promise.all(
    runs.map(
      (args) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ["ignore", "ignore", "pipe"] });
          let stderr = "";
          child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
          child.on("close", (code) => resolve({ code, stderr }));
        }),
    ),
  );
}

/** The pinned maps, read while a handle is open (Maglev rows are read lazily, so they are copied). */
function pinned(pinDir: string): MapContents {
  const dp = openKernel({ pinDir, mustExist: true });
  try {
    const c = new DatapathSink(dp).read();
    const rows = new Map<string, Uint32Array>();
    for (const m of c.masters) {
      const family = familyOfAddress(m.key.address);
      rows.set(
        `${family} ${m.master.maglevOffset}+${m.master.maglevSize}`,
        c.maglevRows(m.master.maglevOffset, m.master.maglevSize, family),
      );
    }
    return { ...c, maglevRows: (o, n, f) => rows.get(`${f} ${o}+${n}`) ?? new Uint32Array(n) };
  } finally {
    dp.close();
  }
}

const expectedView = (file: string) => viewOf(contentsOfTables(compile(readModel([file]), node)));
const applyArgs = (file: string, pinDir: string) => [
  "apply",
  "-f",
  file,
  "--datapath",
  "kernel",
  "--pin-dir",
  pinDir,
  "--node-ip",
  NODE_IP,
];

const skip = kernelSkip(probeKernel(), "the pin dir tests (root and BPF)");

describe("one writer at a time on a pin dir", { skip }, () => {
  it("concurrent applies of different manifests end with consistent maps: the last one's", async () => {
    const pinDir = `/sys/fs/bpf/maplb-test-concurrent-${process.pid}`;
    try {
      // Twice each seed, all at once: without the lock their read-compile-write cycles interleave.
      const runs = await concurrently([...SEEDS, ...SEEDS].map((f) => applyArgs(f, pinDir)));
      for (const r of runs) assert.equal(r.code, 0, r.stderr);
      const c = pinned(pinDir);
      assert.deepEqual(inconsistencies(c), []);
      const view = viewOf(c);
      assert.ok(
        SEEDS.some((f) => JSON.stringify(expectedView(f)) === JSON.stringify(view)),
        "the maps hold exactly one manifest's tables",
      );
      assert.equal(readdirSync(join(runDir, "locks")).length, 0, "each writer removed its lock file");
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });

  it("a writer that cannot get the lock in time fails, naming the pin dir and the holder's pid", () => {
    const pinDir = `/sys/fs/bpf/maplb-test-busy-${process.pid}`;
    try {
      const lock = lockPinDir(pinDir);
      try {
        const busy = maplb(applyArgs(SEED_003, pinDir), { MAPLB_LOCK_TIMEOUT_MS: "200" });
        assert.equal(busy.code, 1, busy.stderr);
        assert.match(
          busy.stderr,
          new RegExp(`pin dir "${pinDir}" is in use by another maplb writer, pid ${process.pid}\\b`),
        );
        assert.match(busy.stderr, /waited 200 ms/);
        assert.ok(!existsSync(pinDir), "the waiting apply created nothing");
        openKernel({ pinDir }).close(); // maps for attach to load over (this process holds the lock)
        const attach = maplb(["attach", "--iface", "lo", "--pin-dir", pinDir], {
          MAPLB_LOCK_TIMEOUT_MS: "200",
        });
        assert.equal(attach.code, 1, attach.stderr);
        assert.match(attach.stderr, /in use by another maplb writer/);
      } finally {
        lock.release();
      }
      const r = maplb(applyArgs(SEED_003, pinDir));
      assert.equal(r.code, 0, r.stderr);
    } finally {
      rmSync(pinDir, { recursive: true, force: true }); // also when an assertion above failed
    }
  });
});

describe("the agent holds its pin dir for as long as it runs", { skip }, () => {
  const server = webApiServer();
  it("maplb apply into a running agent's pin dir fails, naming the agent's pid", async () => {
    const pinDir = `/sys/fs/bpf/maplb-test-agent-lock-${process.pid}`;
    const kubeconfig = server.writeKubeconfig(runDir);
    const agent = await startAgent([
      ...["--kubeconfig", kubeconfig, "--node-name", "node-a", "--node-ip", NODE_IP],
      ...["--metrics-addr", "127.0.0.1:0", "--datapath", "kernel", "--pin-dir", pinDir, "--no-attach"],
    ]);
    try {
      await healthy(agent);
      const r = maplb(applyArgs(SEED_003, pinDir), { MAPLB_LOCK_TIMEOUT_MS: "100" });
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`in use by another maplb writer, pid ${agent.child.pid} \\(".*agent`),
      );
    } finally {
      assert.equal(await terminate(agent), 0);
      rmSync(pinDir, { recursive: true, force: true });
    }
    const later = maplb(applyArgs(SEED_003, pinDir));
    rmSync(pinDir, { recursive: true, force: true });
    assert.equal(later.code, 0, `the agent's lock went with it: ${later.stderr}`);
  });
});

describe("apply repairs a damaged pin dir", { skip }, () => {
  it("slots naming deleted backends, orphans, missing and shared rev-NAT ids, bad Maglev rows, stale slots", () => {
    const pinDir = `/sys/fs/bpf/maplb-test-repair-${process.pid}`;
    try {
      const first = maplb(applyArgs(SEED_003, pinDir));
      assert.equal(first.code, 0, first.stderr);
      const c = pinned(pinDir);
      assert.deepEqual(inconsistencies(c), []);
      const maglev = c.masters.filter((m) => m.master.maglevSize > 0);
      const a = maglev.find((m) => m.master.count > 1)!;
      const b = maglev.find((m) => m.master.maglevOffset !== a.master.maglevOffset)!;
      assert.ok(a && b, "seed-003 has two Maglev tables, one with two backends or more");
      const slotsOf = (key: typeof a.key) =>
        c.slots.filter((s) => frontendKeyString(s.key) === frontendKeyString(key)).map((s) => s.backendId);
      const [a1, a2] = slotsOf(a.key);
      const bBackend = slotsOf(b.key)[0]!;
      const aEndpoint = c.backends.find((x) => x.id === a2)!;
      const other =
        c.masters.find(
          (m) =>
            m.master.revNatId !== a.master.revNatId &&
            m.master.revNatId !== b.master.revNatId &&
            m.master.maglevSize === 0,
        ) ??
        c.masters.find(
          (m) =>
            frontendKeyString(m.key) !== frontendKeyString(a.key) &&
            frontendKeyString(m.key) !== frontendKeyString(b.key),
        )!;
      const damage: MapOp[] = [
        // A's first slot names a backend that is gone.
        { kind: "backend-delete", id: a1! },
        // Orphans: one at an address nobody uses, one at A's endpoint's (not terminating, so not draining).
        {
          kind: "backend-upsert",
          backend: { id: 9001, address: "198.18.9.9", port: 80, protocol: "TCP", flags: 0 },
        },
        { kind: "backend-upsert", backend: { ...aEndpoint, id: 9002 } },
        // B's rev-NAT entry is missing.
        { kind: "revnat-delete", id: b.master.revNatId },
        // A's Maglev rows name B's backend.
        { kind: "maglev-write", offset: a.master.maglevOffset + 3, rows: Uint32Array.of(bBackend, bBackend) },
        // A slot past A's count, and slots of a frontend with no master.
        {
          kind: "slot-upsert",
          key: a.key,
          slot: a.master.count + 2,
          backendId: a2!,
          revNatId: a.master.revNatId,
        },
        {
          kind: "slot-upsert",
          key: { ...a.key, address: "198.18.7.7" },
          slot: 1,
          backendId: a2!,
          revNatId: 77,
        },
        // Another frontend takes B's rev-NAT id; an unused rev-NAT entry.
        { kind: "master-upsert", key: other.key, master: { ...other.master, revNatId: b.master.revNatId } },
        { kind: "revnat-upsert", entry: { id: 9003, address: "198.18.8.8", port: 1 } },
      ];
      const dp = openKernel({ pinDir, lock: true, mustExist: true });
      try {
        dp.apply(damage);
      } finally {
        dp.close();
      }
      const broken = inconsistencies(pinned(pinDir));
      for (const what of [
        `backend ${a1} missing`,
        "backend 9001 (198.18.9.9:80): in no slot or row",
        "backend 9002",
        `rev-NAT ${b.master.revNatId} missing`,
        "past the master's count",
        "198.18.7.7:",
        "rev-NAT 9003: no master uses it",
      ])
        assert.ok(
          broken.some((v) => v.includes(what)),
          `the damage shows: ${what}\n${broken.join("\n")}`,
        );

      const repair = maplb(applyArgs(SEED_003, pinDir));
      assert.equal(repair.code, 0, repair.stderr);
      const fixed = pinned(pinDir);
      assert.deepEqual(inconsistencies(fixed), []);
      assert.deepEqual(viewOf(fixed), expectedView(SEED_003));
      assert.ok(
        fixed.backends.some((x) => x.id === a2),
        "an undamaged backend keeps its id (and its flows)",
      );
      const again = maplb(applyArgs(SEED_003, pinDir));
      assert.match(again.stdout, /no changes/);
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });
});

describe("list, status and attach never create maps", { skip }, () => {
  it("a pin dir that does not exist is a usage error (exit 2) naming it, and stays absent", () => {
    const pinDir = `/sys/fs/bpf/maplb-test-missing-${process.pid}`;
    for (const args of [
      ["list", "--pin-dir", pinDir],
      ["status", "--pin-dir", pinDir],
      ["attach", "--iface", "lo", "--pin-dir", pinDir],
      ["attach", "--netns", `mlb-none-${process.pid}`, "--iface", "lo", "--pin-dir", pinDir],
    ]) {
      const r = maplb(args);
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`pin dir "${pinDir}" does not exist`), args[0]);
      assert.ok(!existsSync(pinDir), `${args[0]} created ${pinDir}`);
    }
  });

  it("status forgets attachments removed behind maplb's back (tc filter del, ip link set xdp off)", () => {
    const pinDir = `/sys/fs/bpf/maplb-test-status-${process.pid}`;
    const topo = new Topology("pst");
    try {
      const ns = topo.addNamespace("a");
      const peer = topo.addNamespace("b");
      topo.link(
        { ns, ifname: "vt", addr: "198.18.251.1/30" },
        { ns: peer, ifname: "pt", addr: "198.18.251.2/30" },
      );
      topo.link(
        { ns, ifname: "vx", addr: "198.18.251.5/30" },
        { ns: peer, ifname: "px", addr: "198.18.251.6/30" },
      );
      assert.equal(maplb(applyArgs(SEED_003, pinDir)).code, 0);
      for (const [iface, mode] of [
        ["vt", "tc"],
        ["vx", "xdp"],
      ]) {
        const r = maplb(["attach", "--netns", ns, "--iface", iface!, "--mode", mode!, "--pin-dir", pinDir]);
        assert.equal(r.code, 0, r.stderr);
      }
      const listed = () =>
        (
          JSON.parse(maplb(["status", "--json"]).stdout) as {
            attachments: { netns: string; iface: string }[];
          }
        ).attachments
          .filter((a) => a.netns === ns)
          .map((a) => a.iface)
          .sort();
      assert.deepEqual(listed(), ["vt", "vx"]);
      topo.exec(ns, "tc", ["filter", "del", "dev", "vt", "ingress"]);
      const st = maplb(["status"]);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, new RegExp(`forgot tc on ${ns}/vt: it is no longer in the kernel`));
      assert.deepEqual(listed(), ["vx"]);
      topo.exec(ns, "ip", ["link", "set", "dev", "vx", "xdp", "off"]);
      assert.deepEqual(listed(), []);
      assert.match(maplb(["status"]).stdout, /nothing attached by maplb/);
    } finally {
      topo.cleanup();
      rmSync(pinDir, { recursive: true, force: true });
    }
  });
});
