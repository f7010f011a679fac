// fastDocuments on a large text reads the second half of its documents on a worker thread: the
// values must be the ones one thread reads, in order, and an error in either half still sends the
// text to the full parser.
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { describe, it } from "node:test";
import { fastDocuments } from "../src/k8s/fast-yaml.js";

const oneCore = availableParallelism() < 2 ? "one CPU: no worker thread is started" : false;

const DOCS = [
  "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\nspec:\n  ports: [{port: 80}]\n",
  "", // an empty document
  "kind: Pod\nmetadata:\n  name: ignored\n", // a kind maplb ignores: a stub
  "__proto__: {polluted: true}\nnan: .nan\ninf: -.inf\nzero: -0.0\noctal: 0o17\nnull: ~\n",
  "base: &b {port: 80}\nuse: *b\n", // anchors: read by the yaml library
  '"quoted key": "a\\tb"\nlist:\n- 1\n- two\n- 3.5\n',
];

/** `copies` rounds of DOCS, one document each, then a document that numbers the round. */
const text = (copies: number, extra = ""): string =>
  Array.from({ length: copies }, (_, i) => DOCS.map((d) => `---\n${d}`).join("") + `---\nround: ${i}\n`).join(
    "",
  ) + extra;

describe("fastDocuments beside a worker", { skip: oneCore }, () => {
  it("gives the values one thread gives, in order", () => {
    const t = text(50);
    const alone = fastDocuments(t, Infinity);
    assert.ok(alone);
    assert.equal(alone.length, 50 * (DOCS.length + 1));
    const beside = fastDocuments(t, 0);
    assert.deepEqual(beside, alone);
    const odd = beside![3 + (DOCS.length + 1) * 49] as Record<string, unknown>;
    assert.ok(Object.hasOwn(odd, "__proto__"), "an own __proto__ key survives the worker");
    assert.ok(Object.is(odd.zero, -0) && Number.isNaN(odd.nan));
  });

  it("an error in the worker's half sends the whole text to the full parser", () => {
    assert.equal(fastDocuments(text(20, "---\nkey: [unclosed\n"), 0), null);
    assert.equal(fastDocuments("---\nkey: [unclosed\n" + text(20), 0), null);
  });
});
