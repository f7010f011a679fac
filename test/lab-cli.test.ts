// The lab and attach commands as a person runs them, each call a separate process: every seed
// scenario comes up under maplb (replacing the one before) with only 198.18.0.0/15 addresses on its
// interfaces, reaches every backend of every TCP service port, is idempotent, and leaves nothing
// behind after `lab down`;
// `maplb attach` / `status` / `detach` on a veth in a namespace, in TC and XDP mode.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { openKernel } from "../src/datapath/kernel.js";
import { inLabRange } from "../src/lab/addresses.js";
import { labDir, labPrefix, readState } from "../src/lab/state.js";
import { Topology } from "../src/netns/netns.js";
import { backendIps, byBackend, labBlocker, probe } from "./helpers/lab-run.js";
import { SCENARIOS } from "./helpers/manifests.js";

const BIN = new URL("../../bin/maplb.js", import.meta.url).pathname;
const runDir = mkdtempSync(join(tmpdir(), "maplb-run-"));

function maplb(args: string[], timeout = 60_000): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    timeout,
    env: { ...process.env, MAPLB_SCENARIOS: SCENARIOS, MAPLB_RUN_DIR: runDir },
  });
}

function ok(args: string[]): string {
  const r = maplb(args);
  assert.equal(r.status, 0, `maplb ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const skip = labBlocker("maplb");
after(() => rmSync(runDir, { recursive: true, force: true }));

describe("maplb lab (the CLI), every seed scenario under maplb", { skip: skip ?? false }, () => {
  const lab = `c${process.pid.toString(36)}`;
  after(() => {
    maplb(["lab", "down", "--lab", lab]);
  });

  for (const seed of ["seed-000", "seed-001", "seed-002", "seed-003"]) {
    it(`${seed}: up, only lab addresses on interfaces, every TCP backend reached from a pod`, async () => {
      const out = ok(["lab", "up", "--scenario", seed, "--lab", lab]);
      assert.match(out, /maplb maps updated/);
      const state = readState(lab)!;
      for (const ns of state.namespaces) {
        const addrs = JSON.parse(ok0("ip", ["-n", ns, "-j", "addr"])) as {
          ifname: string;
          addr_info: { family: string; local: string }[];
        }[];
        for (const link of addrs)
          for (const a of link.addr_info)
            if (a.family === "inet" && link.ifname !== "lo")
              assert.ok(inLabRange(a.local), `${ns} ${link.ifname} ${a.local}`);
      }
      if (seed === "seed-003") {
        // `lab curl --json` as a person runs it; the other checks use the same probe in-process.
        const summary = JSON.parse(
          ok(["lab", "curl", "default/nginx-svc", "-n", "20", "--json", "--lab", lab]),
        ) as {
          ok: number;
          backends: Record<string, number>;
        };
        assert.deepEqual(Object.keys(summary), ["requests", "ok", "failed", "backends"]);
        assert.equal(summary.ok, 20);
        const curl = ["lab", "curl", "default/nginx-svc", "-n", "5", "--lab", lab];
        assert.equal((parseYaml(ok([...curl, "-o", "yaml"])) as { ok: number }).ok, 5);
        assert.match(ok([...curl, "-o", "wide"]), /^ {2}\S+ +default\/nginx-\S+ +\d+ +\S+ +\d+\.\d%$/m);
        // The example of `lab curl --help`: client-1 to the NodePort of node-2, which has no backend.
        const example = [
          "ingress-nginx/ingress-nginx-controller:http",
          "--frontend",
          "node-port",
          "--node",
          "node-2",
        ];
        const answered = JSON.parse(ok(["lab", "curl", ...example, "-n", "10", "--json", "--lab", lab])) as {
          ok: number;
        };
        assert.equal(answered.ok, 10, "SNAT brings the replies back through node-2");
      }
      for (const svc of state.plan.services) {
        const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
        for (const p of svc.spec!.ports ?? []) {
          if (p.protocol === "UDP") continue;
          const target = `${key}:${p.name || p.port}`;
          const results = await probe(state, { target }, 60);
          assert.equal(results.filter((r) => r.ok).length, 60, target);
          assert.deepEqual([...byBackend(results).keys()].sort(), backendIps(state, key), target);
        }
      }
      if (seed === "seed-003")
        assert.match(ok(["lab", "up", "--scenario", seed, "--lab", lab]), /already up/);
    });
  }

  it("lab down removes namespaces, servers, pinned maps, resolv.conf folders and the state", () => {
    const state = readState(lab)!;
    ok(["lab", "down", "--lab", lab]);
    const left = readdirSync("/run/netns").filter((n) => n.startsWith(`${labPrefix(lab)}-`));
    assert.deepEqual(left, []);
    assert.equal(existsSync(labDir(lab)), false);
    assert.equal(existsSync(`/sys/fs/bpf/maplb-${lab}`), false);
    for (const p of state.paths) assert.equal(existsSync(p), false, p);
    for (const proc of state.processes)
      assert.equal(existsSync(`/proc/${proc.pid}/cmdline`) && isScript(proc.pid, proc.script), false);
    assert.match(ok(["lab", "down", "--lab", lab]), /no lab/);
  });
});

function ok0(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function isScript(pid: number, script: string): boolean {
  try {
    return spawnSync("cat", [`/proc/${pid}/cmdline`], { encoding: "utf8" }).stdout.includes(script);
  } catch {
    return false;
  }
}

describe("maplb attach / status / detach", { skip: skip ?? false }, () => {
  for (const mode of ["tc", "xdp"] as const) {
    it(`${mode}: attaches in a namespace, shows it with the maps, detaches only it`, () => {
      const topo = new Topology(`at${mode}`);
      const pinDir = `/sys/fs/bpf/maplb-attach-${process.pid}-${mode}`;
      try {
        const a = topo.addNamespace("a");
        const b = topo.addNamespace("b");
        topo.link(
          { ns: a, ifname: "va", addr: "198.18.250.1/30" },
          { ns: b, ifname: "vb", addr: "198.18.250.2/30" },
        );
        openKernel({ pinDir }).close(); // the maps attach loads over (attach creates none)
        assert.match(
          ok(["attach", "--netns", a, "--iface", "va", "--mode", mode, "--pin-dir", pinDir]),
          /attached/,
        );
        const shown = (ns: string) =>
          mode === "tc"
            ? ok0("tc", ["-n", ns, "filter", "show", "dev", "va", "ingress"])
            : ok0("ip", ["-n", ns, "-d", "link", "show", "dev", "va"]);
        assert.match(shown(a), /maplb/);
        const status = JSON.parse(ok(["status", "--json"])) as {
          attachments: { netns: string; iface: string; mode: string; live: boolean }[];
          maps: {
            pinDir: string;
            maps: { name: string; maxEntries: number }[];
            verdicts: Record<string, number>;
          }[];
        };
        const mine = status.attachments.find((x) => x.netns === a);
        assert.deepEqual(mine && { iface: mine.iface, mode: mine.mode, live: mine.live }, {
          iface: "va",
          mode,
          live: true,
        });
        const maps = status.maps.find((m) => m.pinDir === pinDir);
        assert.ok(maps?.maps.some((m) => m.name === "lb4_services" && m.maxEntries > 0));
        assert.ok(maps && "DNAT" in maps.verdicts);
        assert.match(ok(["detach", "--netns", a]), /detached/);
        assert.doesNotMatch(shown(a), /maplb/);
        assert.match(ok(["detach", "--netns", a]), /nothing attached by maplb/);
      } finally {
        topo.cleanup();
        rmSync(pinDir, { recursive: true, force: true });
      }
    });
  }
});
