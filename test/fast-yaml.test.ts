// The fast manifest reader (js-yaml) must read every document exactly as the `yaml` library does,
// or hand the text back to it: same document numbering, same scalars, and no input that `yaml`
// refuses may be accepted.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseManifest } from "../src/k8s/documents.js";
import { fastDocuments } from "../src/k8s/fast-yaml.js";
import { parseYaml } from "../src/k8s/yaml.js";
import { SCENARIOS } from "./helpers/manifests.js";

/** What the full parser (yaml.ts, the `yaml` library) reads: one value per document, or "error". */
function full(text: string): unknown[] | "error" {
  try {
    return parseYaml("f.yaml", text).map((v) => v ?? null);
  } catch {
    return "error";
  }
}

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web   # a comment
  namespace: "shop"
  annotations: {a: "1", b: '2', c: 3}
spec:
  clusterIP: 10.96.0.10
  ports:
  - {name: http, port: 80, targetPort: 8080}
`;

const SCALARS = `a: [0o17, 0x1F, 012, 1_000, 1e3, .5, +1, -0, 1.50, .inf, -.Inf, .NaN, 9007199254740993]
b: [yes, no, on, off, True, FALSE, y, ~, null, Null, NULL, "", '', 2001-12-14, 1:30]
c: [a b, 'it''s', "tab\\tnew\\nline \\u00e9", ":", "#x", a#b]
d:
e: |
  two
  lines
f: >-
  folded
  text

g: plain
  continued
  lines
h: 'single
  quoted'
`;

const CORPUS: [string, string][] = [
  ["a Service", SERVICE],
  ["scalars the two schemas could read differently", SCALARS],
  ["several documents, empty ones included", `---\n${SERVICE}---\n---\n${SERVICE}---\n`],
  ["a bare first document, then ---", `${SERVICE}---\n${SERVICE}`],
  ["comments before the first ---", `# header\n\n---\n${SERVICE}`],
  ["CRLF line ends", `---\r\n${SERVICE.replaceAll("\n", "\r\n")}---\r\n`],
  ["a List in JSON", JSON.stringify({ kind: "List", apiVersion: "v1", items: [{ kind: "Service" }] })],
  ["a --- with content on its line", `--- {kind: Service}\n--- # c\nkind: Pod\n`],
  ["a byte order mark", `\uFEFF${SERVICE}`],
  ["empty", ""],
  ["only comments", "# nothing\n"],
  ["a scalar document", "just text\n"],
  ["anchors and aliases", `a: &x {b: 1}\nc: *x\n`],
  ["a tag", `a: !!str 123\n`],
  ["an alias with no anchor", `a: 1\n---\nb: *x\n`],
  ["a directive", `%YAML 1.2\n---\na: 1\n`],
  ["a ... end", `a: 1\n...\n---\nb: 2\n`],
  ["a null key", `~: a\n`],
  ["a complex key", `? [a, b]\n: c\n`],
  ["a merge key", `a: {<<: {b: 1}}\n`],
  ["a duplicate key", `a: 1\na: 2\n`],
  ["bad indentation", `a:\n  b: 1\n c: 2\n`],
  ["a compact nested map", `a: b: c\n`],
  ["an unclosed flow", `a: [1, 2\n`],
  ["an unclosed quote", `a: "x\n`],
  ["a lone - in a flow sequence", `a: [-, b]\n`],
  ["a tab indent", `a:\n\tb: 1\n`],
  ["a multi-line implicit key", `a\nb: 1\n`],
];

describe("fast manifest reading", () => {
  for (const [name, text] of CORPUS) {
    it(`reads as the yaml library does: ${name}`, () => {
      const fast = fastDocuments(text);
      const expected = full(text);
      if (fast === null) return; // handed to the yaml library: the same by construction
      assert.notEqual(expected, "error", "accepted what the yaml library refuses");
      assert.equal(fast.length, (expected as unknown[]).length, "document count");
      (expected as unknown[]).forEach((doc, i) => {
        const f = fast[i] as { kind?: unknown } | null;
        // A document of a kind maplb ignores is a stub that keeps only its kind.
        if (
          f &&
          Object.keys(f).length === 1 &&
          f.kind !== undefined &&
          (doc as { kind?: unknown }).kind === f.kind
        )
          return;
        assert.deepEqual(f, doc, `document ${i}`);
      });
    });
  }

  it("takes the fast path for plain manifests (so the comparisons above test something)", () => {
    for (const name of ["a Service", "scalars the two schemas could read differently", "CRLF line ends"])
      assert.notEqual(fastDocuments(CORPUS.find(([n]) => n === name)![1]), null, name);
  });

  it("the seed scenarios read the same either way", () => {
    for (const f of readdirSync(SCENARIOS)) {
      const text = readFileSync(join(SCENARIOS, f), "utf8");
      assert.deepEqual(fastDocuments(text), full(text), f);
    }
  });

  it("skips a document of an ignored kind without parsing it, keeping the numbering", () => {
    // The Pod's body would not even parse: it is never read.
    const text = `kind: Pod\nspec: [not: closed\n---\n${SERVICE}---\nkind: ConfigMapList\nitems: []\n`;
    const objects = parseManifest("f.yaml", text);
    assert.deepEqual(
      objects.map((o) => [o.doc, (o.object as { kind: string }).kind]),
      [
        ["0", "Pod"],
        ["1", "Service"],
      ],
    );
    assert.deepEqual(objects[0]!.object, { kind: "Pod" });
  });
});
