#!/usr/bin/env node
// The one set-up step. `npm test` and `npm run bench` run it first, so a fresh clone needs nothing else.
// Idempotent: each stage checks whether it is already done and says what it does.
//   1. Debian packages (clang, llvm, libbpf-dev, iptables, nftables, nfacct, bpftool, libFuzzer's runtime,
//      chromium) via apt-get.
//   2. npm ci when node_modules is missing or older than package-lock.json.
//   3. TypeScript build, then the native build (native/Makefile).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const say = (msg) => process.stderr.write(`maplb setup: ${msg}\n`);

// Each Debian package and a file that proves it is installed.
const DEBIAN = [
  ["clang", "/usr/bin/clang"],
  ["llvm", "/usr/bin/llvm-strip"],
  ["libbpf-dev", "/usr/include/bpf/libbpf.h"],
  ["iptables", "/usr/sbin/iptables-legacy-restore"],
  ["nftables", "/usr/sbin/nft"],
  ["nfacct", "/usr/sbin/nfacct"],
  ["bpftool", "/usr/sbin/bpftool"],
  // Turns a veth's tx checksum offload off (the TC CHECKSUM_PARTIAL namespace test).
  ["ethtool", "/usr/sbin/ethtool"],
  // libFuzzer and the sanitizers' runtimes for clang 14 (the fuzz test of the host pipeline).
  ["libclang-rt-14-dev", "/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a"],
  // Headless browser for the test that opens the benchmark's HTML report (driven by playwright-core).
  ["chromium", "/usr/bin/chromium"],
  // The test that checks `maplb completion zsh` runs the script in zsh.
  ["zsh", "/usr/bin/zsh"],
];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (r.status !== 0) {
    say(`'${cmd} ${args.join(" ")}' failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function debianPackages() {
  const missing = DEBIAN.filter(([, file]) => !existsSync(file)).map(([pkg]) => pkg);
  if (missing.length === 0) return say("Debian packages present");
  const isRoot = process.getuid?.() === 0;
  const hasApt = existsSync("/usr/bin/apt-get");
  if (!isRoot || !hasApt) {
    say(
      `missing Debian packages: ${missing.join(" ")}.\n` +
        `  Install them by hand:  sudo apt-get install -y ${missing.join(" ")}\n` +
        `  Until then the kernel datapath, the BPF object and the real-netfilter tests are skipped with this reason.`,
    );
    return;
  }
  say(`installing ${missing.join(" ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-q"], { env });
  run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { env });
}

function npmDependencies() {
  const lock = join(root, "package-lock.json");
  const stamp = join(root, "node_modules", ".maplb-lock.sha256");
  const want = createHash("sha256").update(readFileSync(lock)).digest("hex");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === want) return say("node_modules up to date");
  say("running npm ci");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
  writeFileSync(stamp, want);
}

function build() {
  say("building TypeScript (tsc)");
  run(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"]);
  if (existsSync(join(root, "native", "Makefile"))) {
    say("building native/ (make)");
    run("make", ["-C", "native", "-j2", "--no-print-directory"]);
  }
}

debianPackages();
npmDependencies();
build();
