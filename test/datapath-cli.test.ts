// maplb apply, list and trace, end to end through the command line (a child process), and
// tracePacket itself on the emulated datapath.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmulated } from "../src/datapath/emulated.js";
import { flowHash } from "../src/datapath/flow-hash.js";
import { probeKernel } from "../src/datapath/kernel.js";
import { tracePacket } from "../src/datapath/trace.js";
import { DEFAULT_HASH_SEED } from "../src/datapath/options.js";
import { readModel } from "../src/k8s/read.js";
import { DEFAULT_NODE_CONFIG } from "../src/model/types.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const ROOT = join(import.meta.dirname, "../..");
const SEED_003 = join(ROOT, "../shared/scenarios/seed-003-eks-services.yaml");
const NGINX = { ip: "172.20.107.173", port: 80 };
const NGINX_ENDPOINTS = [
  "10.110.11.214:80",
  "10.110.15.167:80",
  "10.110.19.90:80",
  "10.110.20.44:80",
  "10.110.23.249:80",
];

function maplb(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin/maplb.js"), ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "silent" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const scratch = mkdtempSync(join(tmpdir(), "maplb-cli-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A ClusterIP service with the given endpoint addresses (none: no EndpointSlice endpoints). */
function manifest(name: string, endpoints: string[]): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec:\n  clusterIP: 10.96.50.1\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080, protocol: TCP}]`,
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 8080, protocol: TCP}]\nendpoints:${endpoints.length ? "" : " []"}\n` +
        endpoints.map((ip) => `- {addresses: [${ip}], conditions: {ready: true}}`).join("\n"),
    ].join("\n---\n"),
  );
  return file;
}

test("tracePacket: the datapath's backend is the Maglev row's, and kube-proxy's path is explained", () => {
  const dp = openEmulated();
  try {
    const t = tracePacket(dp, {
      model: readModel([SEED_003]),
      node: { ...DEFAULT_NODE_CONFIG, nodeIPs: ["10.110.0.10"] },
      src: "10.0.0.5",
      sport: 40000,
      dst: NGINX.ip,
      dport: NGINX.port,
      proto: "TCP",
    });
    assert.equal(t.verdict, "DNAT");
    assert.equal(t.service, "default/nginx-svc:tcp/TCP");
    assert.equal(t.slotCount, 5);
    assert.equal(t.algorithm, "maglev");
    const hash = flowHash(
      { src: "10.0.0.5", dst: NGINX.ip, sport: 40000, dport: 80, proto: "TCP" },
      DEFAULT_HASH_SEED,
    );
    assert.deepEqual(t.choice, { hash, maglevM: 16381, row: hash % 16381 });
    assert.ok(NGINX_ENDPOINTS.includes(t.backend!), String(t.backend));
    assert.equal(`${t.after!.dst}:${t.after!.dport}`, t.backend);
    assert.ok(NGINX_ENDPOINTS.includes(t.iptables.backend!));
    const [first, ...rest] = t.iptables.path.filter((s) => s.table === "nat" && s.hook === "PREROUTING");
    assert.match(first!.text, /^-A PREROUTING .* -j KUBE-SERVICES$/);
    assert.match(rest[0]!.text, /^-A KUBE-SERVICES .* -j KUBE-SVC-/);
    assert.match(rest.at(-1)!.text, /^-A KUBE-SEP-\S+ .* -j DNAT --to-destination 10\.110\./);
    assert.equal(rest.at(-1)!.text.split(" ").at(-1), t.iptables.backend);
  } finally {
    dp.close();
  }
});

test("maplb trace --json: the documented keys, for a DNAT, a pass and a drop", () => {
  const dnat = maplb(
    "trace",
    "-f",
    SEED_003,
    "--from",
    "10.0.0.5:40000",
    "--to",
    "172.20.107.173:80",
    "--datapath",
    "emulated",
    "--json",
  );
  assert.equal(dnat.code, 0, dnat.stderr);
  const j = JSON.parse(dnat.stdout) as Record<string, unknown>;
  for (const key of ["datapath", "verdict", "service", "frontend", "backend", "dropReason", "iptables"])
    assert.ok(key in j, key);
  assert.equal(j.datapath, "emulated");
  assert.equal(j.verdict, "DNAT");
  assert.equal(j.dropReason, null);
  for (const mode of ["iptables", "nftables"]) {
    const kp = j[mode] as { verdict: string; backend: string; rulesEvaluated: number; path: unknown[] };
    assert.equal(kp.verdict, "DNAT", mode);
    assert.ok(kp.rulesEvaluated > 0 && kp.path.length > 0, mode);
  }
  assert.ok(Array.isArray(j.differences));

  const pass = JSON.parse(
    maplb(
      "trace",
      "-f",
      SEED_003,
      "--from",
      "10.0.0.5:1",
      "--to",
      "10.9.9.9:80",
      "--datapath",
      "emulated",
      "--json",
    ).stdout,
  ) as Record<string, unknown>;
  assert.deepEqual([pass.verdict, pass.service, pass.backend], ["PASS", null, null]);
  assert.equal((pass.iptables as { backend: unknown }).backend, null);

  const empty = manifest("empty", []);
  const drop = maplb(
    "trace",
    "-f",
    empty,
    "--from",
    "10.0.0.5:1",
    "--to",
    "10.96.50.1:80",
    "--datapath",
    "emulated",
  );
  assert.equal(drop.code, 0, drop.stderr);
  assert.match(drop.stdout, /verdict: {2}DROP \(NO_BACKEND\)/);
  // A ClusterIP of a service without endpoints: kube-proxy rejects in both modes, maplb drops (no ICMP).
  assert.match(drop.stdout, /^iptables \(kube-proxy\): REJECT, /m);
  assert.match(drop.stdout, /^nftables \(kube-proxy\): REJECT, /m);
  assert.match(
    drop.stdout,
    /^ {2}iptables, verdict: maplb DROP \(NO_BACKEND\), kube-proxy \(iptables\) REJECT$/m,
  );
  assert.match(drop.stdout, /^ {4}design difference 'no-icmp': /m);
});

test("maplb trace --service-cidr: nftables mode's unallocated-ClusterIP drop, named; validated as for maplb nft", () => {
  const trace = (...extra: string[]) =>
    maplb("trace", "-f", SEED_003, "--from", "10.0.0.5:40000", "--datapath", "emulated", ...extra);
  const r = trace(
    "--to",
    "172.20.99.99:80",
    "--service-cidr",
    "172.20.0.0/16",
    "--service-cidr",
    "10.100.0.0/16",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^verdict: {2}PASS$/m);
  assert.match(r.stdout, /^iptables \(kube-proxy\): PASS, /m);
  assert.match(r.stdout, /^nftables \(kube-proxy\): DROP, /m);
  assert.match(
    r.stdout,
    /cluster-ips-check rule 2: ip daddr \{ 172\.20\.0\.0\/16,10\.100\.0\.0\/16 \} drop comment "Drop traffic to unallocated ClusterIPs"$/m,
  );
  assert.match(r.stdout, /^ {4}design difference 'unallocated-cluster-ip': /m);
  // A Service's own ClusterIP in the range is allocated: DNAT in every column.
  const svc = trace("--to", "172.20.107.173:80", "--service-cidr", "172.20.0.0/16");
  assert.match(svc.stdout, /^nftables \(kube-proxy\): DNAT /m);
  for (const [bad, why] of [
    ["172.20.0.1/16", "expects the network address, 172.20.0.0/16, got '172.20.0.1/16'"],
    ["nonsense", "expects an IPv4 or IPv6 CIDR, got 'nonsense'"],
  ]) {
    const e = trace("--to", "172.20.99.99:80", "--service-cidr", bad!);
    assert.equal(e.code, 2);
    assert.ok(e.stderr.includes(`--service-cidr ${why}`), e.stderr);
  }
});

test("maplb apply --datapath emulated reports the MapOps and says the maps do not outlive it", () => {
  const r = maplb("apply", "-f", manifest("two", ["10.1.0.1", "10.1.0.2"]), "--datapath", "emulated");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /applied \d+ MapOps: .*\b2 backend-upsert\b/);
  assert.match(r.stdout, /applied \d+ MapOps: .*\b2 slot-upsert\b/);
  assert.match(r.stdout, /frontend 10\.96\.50\.1:80\/TCP: 2 backends, maglev/);
  assert.match(r.stdout, /emulated: the maps lived in this process only/);
});

const kernelProblem = probeKernel();

test(
  "maplb apply (kernel) is incremental across runs, and maplb list reads the pinned maps back",
  { skip: kernelSkip(kernelProblem ? `needs root for BPF maps (${kernelProblem})` : null) },
  () => {
    const pinDir = `/sys/fs/bpf/maplb-test-cli-apply-${process.pid}`;
    try {
      const first = maplb(
        "apply",
        "-f",
        manifest("three", ["10.1.0.1", "10.1.0.2", "10.1.0.3"]),
        "--datapath",
        "kernel",
        "--pin-dir",
        pinDir,
      );
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /3 backend-upsert/);
      const again = maplb(
        "apply",
        "-f",
        join(scratch, "three.yaml"),
        "--datapath",
        "kernel",
        "--pin-dir",
        pinDir,
      );
      assert.match(again.stdout, /no changes/);
      const scaled = maplb(
        "apply",
        "-f",
        manifest("two-of-three", ["10.1.0.1", "10.1.0.3"]),
        "--datapath",
        "kernel",
        "--pin-dir",
        pinDir,
      );
      assert.equal(scaled.code, 0, scaled.stderr);
      assert.match(scaled.stdout, /backend-delete/);
      assert.doesNotMatch(scaled.stdout, /backend-upsert/, "the surviving backends keep their ids");
      const list = maplb("list", "--pin-dir", pinDir);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /10\.96\.50\.1:80\/TCP +EXT +2 +maglev M=16381/);
      assert.match(list.stdout, /10\.1\.0\.1:8080 \(id \d+, active\)/);
      assert.doesNotMatch(list.stdout, /10\.1\.0\.2/);
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  },
);

test("maplb datapath-speed prints one row per measurement, each naming its algorithm and M", () => {
  const r = maplb(
    "datapath-speed",
    "--target",
    "emulated",
    "--repeat",
    "2000",
    "--batch",
    "3000",
    "--algorithm",
    "maglev",
    "--maglev-m",
    "251",
  );
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    rows.map((x) => x.measure),
    [
      "single frame, repeated",
      "the harness alone, no pipeline",
      "new flows, source port moving on",
      "batch of 3000",
      "batch of 1024 (FFI cost)",
    ],
  );
  for (const x of rows) {
    assert.equal(x.algorithm, "maglev");
    assert.equal(x.maglevM, 251);
  }
  assert.ok((rows[0]!.establishedNsPerPacket as number) > 0);
  assert.ok(
    (rows[1]!.emptyNsPerPacket as number) < (rows[0]!.establishedNsPerPacket as number),
    "the loop alone costs less than the loop with the pipeline",
  );
  const ffi = rows[4]!.established as { packets: number; ffiNsPerPacket: number };
  assert.equal(ffi.packets, 1024);
  assert.ok(Number.isFinite(ffi.ffiNsPerPacket));
});
