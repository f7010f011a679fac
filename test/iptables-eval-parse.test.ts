// The chain evaluator's reader: kube-proxy's nat table text into structured rules.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseNatTable, tokenize } from "../src/iptables-eval/parse.js";
import { SHARED } from "./helpers/manifests.js";

const golden = readFileSync(join(SHARED, "reference", "seed-003-nginx-svc.iptables"), "utf8");

describe("reading kube-proxy's nat table", () => {
  it("keeps quoted comments as one token", () => {
    assert.deepEqual(tokenize('-A X -m comment --comment "a b:c" -j Y'), [
      "-A",
      "X",
      "-m",
      "comment",
      "--comment",
      "a b:c",
      "-j",
      "Y",
    ]);
  });

  it("reads the seed-003 reference: chains in order, rules grouped with their positions", () => {
    const t = parseNatTable(golden);
    assert.deepEqual(t.chains.slice(0, 4), [
      "KUBE-NODEPORTS",
      "KUBE-SERVICES",
      "KUBE-MARK-MASQ",
      "KUBE-POSTROUTING",
    ]);
    assert.equal(t.rules.length, 22); // 2 KUBE-SERVICES, 1 MARK-MASQ, 3 POSTROUTING, 10 SEP, 6 SVC
    const svc = t.rules.filter((r) => r.chain === "KUBE-SVC-NW23DXYVVFA3UEVR");
    assert.equal(svc.length, 6);
    assert.deepEqual(svc[0]!.src, { address: "10.110.0.0", prefix: 16, negated: true });
    assert.deepEqual(svc[0]!.dst, { address: "172.20.107.173", prefix: 32, negated: false });
    assert.equal(svc[0]!.jump, "KUBE-MARK-MASQ");
    assert.deepEqual(
      svc.map((r) => r.probability),
      [null, 0.2, 0.25, 0.3333333333, 0.5, null],
    );
    const sep = t.rules.find((r) => r.chain === "KUBE-SEP-BXTMOP74J4SNRSGW" && r.target === "dnat")!;
    assert.deepEqual([sep.toAddress, sep.toPort, sep.proto], ["10.110.20.44", 80, "tcp"]);
    const last = t.rules.find((r) => r.chain === "KUBE-SERVICES" && r.index === 1)!;
    assert.equal(last.dstLocal, true);
    assert.equal(last.jump, "KUBE-NODEPORTS");
    const mark = t.rules.find((r) => r.chain === "KUBE-POSTROUTING" && r.index === 0)!;
    assert.deepEqual(mark.mark, { value: 0x4000, mask: 0x4000, negated: true });
    assert.equal(mark.target, "return");
  });

  it("refuses a match it does not understand instead of ignoring it", () => {
    assert.throws(
      () => parseNatTable("*nat\n-A KUBE-SERVICES -m length --length 100 -j DROP\nCOMMIT\n"),
      /does not understand '--length'/,
    );
  });
});
