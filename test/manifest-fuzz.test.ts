// A seeded mutation fuzzer over the seed manifests: a few thousand broken variants (lines cut,
// doubled, re-indented; bytes that are not UTF-8; aliases; values of the wrong type, hostile names,
// objects doubled or merged; dual-stack and IPv6 objects and values among them) go through what
// `maplb compile`, `iptables` and `nft` do. Each must end as exit 0 or exit 2, never a crash (exit 1,
// a stack trace) and never a hang; every validation issue is one line with its value quoted and
// bounded. The pipeline runs in-process for speed; a sample goes through the real CLI, which must agree.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { compile } from "../src/compile/compiler.js";
import { tablesJson, tablesText } from "../src/compile/render.js";
import { MaplbError, ValidationError } from "../src/errors.js";
import { parseManifest } from "../src/k8s/documents.js";
import { checkObjects, modelOf } from "../src/k8s/read.js";
import { buildIptablesRules, buildNftRules, renderIptables, renderNft } from "../src/kubeproxy/index.js";
import { setLogLevel } from "../src/log.js";
import { assertIssuesWellFormed } from "./helpers/issues.js";
import { NODE } from "./helpers/kubeproxy.js";
import { SCENARIOS, service, slice, writeTemp } from "./helpers/manifests.js";
import { mulberry32 } from "./helpers/prng.js";

const CASES = 2000;
const CLI_EVERY = 200; // 10 cases through the real CLI
const SEED = 0x6d61706c; // "mapl"
/** A case this slow has hung (the pipeline takes milliseconds); it bounds a run, it measures nothing. */
const HANG_MS = 10_000;

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

const HOSTILE_TEXT = [
  '"',
  "'",
  "\t",
  "\n",
  "\n  ",
  ": ",
  "- ",
  "#",
  "{",
  "}",
  "[",
  "]",
  "&a ",
  "*a",
  "*nope",
  "---\n",
  "!!binary ",
  "? ",
  "|",
  ">",
  "%YAML 1.1\n",
  "\u0000",
  "\u202e",
  "é",
];

const HOSTILE_VALUES: unknown[] = [
  0,
  -1,
  65536,
  80.5,
  1e300,
  "",
  "80",
  "web",
  "Web",
  'x" -j ACCEPT\n-A KUBE-SERVICES -j ACCEPT',
  "a".repeat(300),
  "10.0.0.300",
  "fd00::1",
  "0.0.0.0",
  "None",
  "tcp",
  "LoadBalancer",
  "NodePort",
  "Local",
  true,
  null,
  [],
  {},
  [1, 2, 3],
  { a: { b: { c: [] } } },
  Array.from({ length: 200 }, (_, i) => `10.9.${i >> 8}.${i & 255}`),
  // Dual-stack fields and IPv6 forms: the API server's words, and forms it refuses for a new object.
  "IPv6",
  "IPv4",
  "RequireDualStack",
  "SingleStack",
  ["IPv6", "IPv4"],
  ["IPv4", "IPv4"],
  ["10.96.0.10", "fd00::10"],
  ["None", "fd00::10"],
  "fd00::10",
  "FD00:0:0::10",
  "::ffff:10.96.0.10",
  "fe80::1%eth0",
  "010.96.0.10",
  "::1",
  "2001:db8::/32",
  "2001:db8::1/32",
  "1:2:3:4:5:6:7:8:9",
];

// ---- text mutations ----

function mutateText(r: Rand, text: string): string | Uint8Array {
  const lines = text.split("\n");
  const at = int(r, lines.length);
  switch (int(r, 9)) {
    case 0:
      lines.splice(at, 1);
      break;
    case 1:
      lines.splice(at, 0, lines[at]!);
      break;
    case 2: {
      const l = lines[at]!;
      const pos = int(r, l.length + 1);
      lines[at] = l.slice(0, pos) + pick(r, HOSTILE_TEXT) + l.slice(pos);
      break;
    }
    case 3:
      return text.slice(0, int(r, text.length));
    case 4:
      lines[at] = lines[at]!.replace(/:\s.*$/, `: ${JSON.stringify(pick(r, HOSTILE_VALUES))}`);
      break;
    case 5:
      lines[at] = pick(r, ["", " ", "  ", "\t", "    "]) + lines[at]!.trimStart();
      break;
    case 6: {
      const bytes = Buffer.from(text);
      const pos = int(r, bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, pos), Buffer.from([0xff, 0xfe, 0xc3]), bytes.subarray(pos)]);
    }
    case 7: {
      // An anchor on one value and aliases to it elsewhere, possibly in another document.
      const a = int(r, lines.length);
      lines[a] = lines[a]!.replace(/:(\s)/, ": &a$1");
      lines[at] = lines[at]!.replace(/:\s.*$/, ": *a");
      break;
    }
    default: {
      const b = int(r, lines.length);
      [lines[at], lines[b]] = [lines[b]!, lines[at]!];
    }
  }
  return lines.join("\n");
}

// ---- structural mutations ----

type Path = (string | number)[];

/** Every path into a parsed document, objects and arrays included. */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (prefix.length > 0) out.push(prefix);
  if (v !== null && typeof v === "object")
    for (const [k, child] of Object.entries(v))
      paths(child, [...prefix, Array.isArray(v) ? Number(k) : k], out);
  return out;
}

function setPath(root: unknown, path: Path, value: unknown, remove = false): void {
  let node = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (remove && Array.isArray(node)) node.splice(last as number, 1);
  else if (remove) delete node[last];
  else node[last] = value;
}

const getPath = (root: unknown, path: Path): unknown =>
  path.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], root);

function mutateObjects(r: Rand, docs: unknown[]): unknown[] {
  const out = structuredClone(docs);
  const rounds = 1 + int(r, 3);
  for (let i = 0; i < rounds; i++) {
    const d = int(r, out.length);
    const ps = paths(out[d]);
    if (ps.length === 0) continue;
    const p = pick(r, ps);
    switch (int(r, 5)) {
      case 0:
        setPath(out[d], p, undefined, true);
        break;
      case 1: // a value copied from another place (a clusterIP into another Service, a name onto another object)
        {
          const src = out[int(r, out.length)];
          const from = pick(r, paths(src).length ? paths(src) : [p]);
          setPath(out[d], p, structuredClone(getPath(src, from) ?? null));
        }
        break;
      case 2:
        out.push(structuredClone(out[d])); // the same object twice
        break;
      default:
        setPath(out[d], p, structuredClone(pick(r, HOSTILE_VALUES)));
    }
  }
  return out;
}

// ---- the pipeline under test ----

/** Every field path (indexes as []) some mutant was refused at: shows which rules the mutants reach. */
const fieldsRefused = new Set<string>();

/** What `maplb compile`, `iptables` and `nft` do with one file, as run()'s exit code. */
function pipelineExit(file: string, content: string | Uint8Array): 0 | 2 {
  try {
    const model = modelOf(checkObjects(parseManifest(file, content)));
    const tables = compile(model, NODE);
    tablesText(tables, model.ports);
    JSON.stringify(tablesJson(tables));
    renderIptables(buildIptablesRules(model, NODE), "restore");
    renderNft(buildNftRules(model, NODE));
    return 0;
  } catch (err) {
    if (err instanceof ValidationError) {
      assertIssuesWellFormed(err.issues);
      for (const i of err.issues) fieldsRefused.add(i.field.replace(/\[\d+\]/g, "[]"));
    }
    if (err instanceof MaplbError && ["E_USAGE", "E_INPUT", "E_VALIDATION"].includes(err.code)) return 2;
    throw err;
  }
}

function seeds(): { name: string; text: string }[] {
  const files = readdirSync(SCENARIOS).map((f) => ({
    name: f,
    text: readFileSync(join(SCENARIOS, f), "utf8"),
  }));
  const fixture = [
    service({ spec: { type: "LoadBalancer", externalIPs: ["192.0.2.7"] } }),
    slice(),
    {
      apiVersion: "v1",
      kind: "List",
      items: [service({ metadata: { name: "api" }, spec: { clusterIP: "10.96.0.11" } })],
    },
  ];
  const text = (objects: object[]) => objects.map((o) => stringify(o)).join("---\n");
  return [
    ...files,
    { name: "fixture.yaml", text: text(fixture) },
    { name: "dual-stack.yaml", text: text(DUAL_STACK) },
  ];
}

/** Dual-stack and IPv6 objects, all valid: mutants of them reach every dual-stack rule. */
const DUAL_STACK: object[] = [
  service({
    metadata: { name: "v6" },
    spec: {
      clusterIP: "fd00::10",
      clusterIPs: ["fd00::10"],
      ipFamilies: ["IPv6"],
      ipFamilyPolicy: "SingleStack",
    },
  }),
  service({
    metadata: { name: "dual" },
    spec: {
      type: "LoadBalancer",
      clusterIP: "10.96.0.20",
      clusterIPs: ["10.96.0.20", "fd00::20"],
      ipFamilies: ["IPv4", "IPv6"],
      ipFamilyPolicy: "RequireDualStack",
      externalIPs: ["2001:db8::5", "192.0.2.5"],
      loadBalancerSourceRanges: ["2001:db8::/32", "198.51.100.0/24"],
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
    },
    status: { loadBalancer: { ingress: [{ ip: "2001:db8::9" }, { ip: "192.0.2.9" }] } },
  }),
  service({
    metadata: { name: "headless" },
    spec: { clusterIP: "None", ipFamilies: ["IPv6", "IPv4"], ipFamilyPolicy: "PreferDualStack" },
  }),
  slice({
    metadata: { name: "dual-v6", labels: { "kubernetes.io/service-name": "dual" } },
    addressType: "IPv6",
    endpoints: [{ addresses: ["fd00::1:5"], conditions: { ready: true } }],
  }),
  slice({ metadata: { name: "dual-v4", labels: { "kubernetes.io/service-name": "dual" } } }),
  {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: { name: "v6", namespace: "shop" },
    subsets: [
      { addresses: [{ ip: "fd00::1:6" }, { ip: "10.0.1.6" }], ports: [{ name: "http", port: 8080 }] },
    ],
  },
];

interface FuzzCase {
  n: number;
  seed: string;
  content: string | Uint8Array;
}

function* cases(): Generator<FuzzCase> {
  const r = mulberry32(SEED);
  const all = seeds();
  const parsed = all.map((s) => s.text.split(/^---$/m).map((d) => parseManifest(s.name, d)[0]?.object ?? {}));
  for (let n = 0; n < CASES; n++) {
    const i = int(r, all.length);
    const seed = all[i]!;
    let content: string | Uint8Array;
    if (r() < 0.5) content = mutateText(r, seed.text);
    else {
      const docs = mutateObjects(r, parsed[i]!);
      content =
        r() < 0.8
          ? docs.map((d) => stringify(d)).join("---\n")
          : JSON.stringify({ kind: "List", items: docs });
    }
    yield { n, seed: seed.name, content };
  }
}

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;

describe("mutation fuzzer over the seed manifests", () => {
  it("every seed, unmutated, is valid (so mutants start from objects the pipeline accepts)", () => {
    setLogLevel("silent");
    try {
      for (const s of seeds()) assert.equal(pipelineExit(s.name, s.text), 0, s.name);
    } finally {
      setLogLevel("info");
    }
  });

  it(`${CASES} mutants: exit 0 or 2, never a crash or a hang; a sample through the CLI agrees`, () => {
    setLogLevel("silent");
    const outcomes = { 0: 0, 2: 0 };
    const commands = ["compile", "iptables", "nft"];
    try {
      for (const c of cases()) {
        const started = performance.now();
        let exit: 0 | 2;
        try {
          exit = pipelineExit(`case-${c.n}.yaml`, c.content);
        } catch (err) {
          const text = typeof c.content === "string" ? c.content : Buffer.from(c.content).toString("latin1");
          assert.fail(
            `case ${c.n} (from ${c.seed}) crashed: ${(err as Error).stack}\n--- input ---\n${text}`,
          );
        }
        const ms = performance.now() - started;
        assert.ok(ms < HANG_MS, `case ${c.n} (from ${c.seed}) took ${ms.toFixed(0)} ms: a hang`);
        outcomes[exit]++;

        if (c.n % CLI_EVERY !== 0) continue;
        const file = writeTemp(`case-${c.n}.yaml`, "");
        writeFileSync(file, c.content);
        const cmd = commands[(c.n / CLI_EVERY) % commands.length]!;
        const res = spawnSync(process.execPath, [MAPLB, cmd, "-f", file], {
          encoding: "utf8",
          timeout: 60_000,
          env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
        });
        assert.equal(res.error, undefined, `case ${c.n}: maplb ${cmd} did not finish: ${String(res.error)}`);
        assert.equal(res.status, exit, `case ${c.n}: maplb ${cmd} exited ${res.status}: ${res.stderr}`);
        assert.doesNotMatch(res.stderr, /\n\s+at /, `case ${c.n}: a stack trace`);
        if (exit === 2) assert.match(res.stderr, /^maplb: /);
      }
    } finally {
      setLogLevel("info");
    }
    // Both outcomes must be common, or the mutants are too tame (all valid) or too wild (all rejected).
    assert.ok(outcomes[0] > CASES / 10 && outcomes[2] > CASES / 10, JSON.stringify(outcomes));
    // The dual-stack seed's mutants reach the dual-stack rules (not only YAML and type errors).
    for (const f of [
      "spec.clusterIPs",
      "spec.ipFamilies[]",
      "spec.ipFamilyPolicy",
      "endpoints[].addresses[]",
    ])
      assert.ok(fieldsRefused.has(f), `no mutant refused at ${f}: ${[...fieldsRefused].sort().join(", ")}`);
  });
});
