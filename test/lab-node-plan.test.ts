// The parts of the node-traffic lab that need no root: source ranges re-addressed into the lab, the
// link settings the plan keeps (and --pod-mtu's checks), and the bulk stream both ends check bytes by.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { readObjects } from "../src/k8s/read.js";
import { inLabRange } from "../src/lab/addresses.js";
import { BulkChecker, bulkChunks, bulkDigest, BulkStream } from "../src/lab/bulk.js";
import { DEFAULT_LINKS, parsePodMtu } from "../src/lab/links.js";
import { planLab } from "../src/lab/plan.js";
import { writeNodeTrafficScenario } from "./helpers/lab-node-traffic.js";
import { service, slice, writeTemp } from "./helpers/manifests.js";

function planWithRanges(ranges: string[]) {
  const file = writeTemp(
    "ranges.yaml",
    [
      service({
        metadata: { name: "lb", namespace: "shop" },
        spec: { type: "LoadBalancer", loadBalancerSourceRanges: ranges },
        status: { loadBalancer: { ingress: [{ ip: "203.0.113.7" }] } },
      }),
      slice({
        metadata: { name: "lb-1", namespace: "shop", labels: { "kubernetes.io/service-name": "lb" } },
      }),
    ]
      .map((d) => stringify(d))
      .join("---\n"),
  );
  const plan = planLab("ranges", readObjects([file]));
  const svc = plan.services.find((s) => s.metadata?.name === "lb")!;
  return { plan, ranges: svc.spec!.loadBalancerSourceRanges! };
}

describe("lab plan: loadBalancerSourceRanges", () => {
  it("maps ranges outside the lab to the external clients' links in order, then to /30s where no client lives", () => {
    const { plan, ranges } = planWithRanges(["130.211.0.0/22", " 35.191.0.0/16", "10.0.0.0/8"]);
    assert.deepEqual(ranges, ["198.19.129.0/30", "198.19.129.4/30", "198.19.201.0/30"]);
    // ext-1 is inside the first range, ext-2 inside the second: a policy can be seen at work.
    assert.equal(plan.externals[0]!.ip, "198.19.129.2");
    assert.equal(plan.externals[1]!.ip, "198.19.129.6");
    assert.equal(plan.addressMap["130.211.0.0/22"], "198.19.129.0/30");
    assert.equal(plan.addressMap["35.191.0.0/16"], "198.19.129.4/30");
    for (const r of ranges) assert.ok(inLabRange(r.split("/")[0]!), r);
  });

  it("keeps a range inside the lab, and one that holds the whole lab (0.0.0.0/0 lets everyone in)", () => {
    const { ranges } = planWithRanges(["198.19.129.0/30", "0.0.0.0/0", "192.0.0.0/2", "130.211.0.0/22"]);
    assert.deepEqual(ranges, ["198.19.129.0/30", "0.0.0.0/0", "192.0.0.0/2", "198.19.129.0/30"]);
  });

  it("the same range twice maps to one lab range", () => {
    const { plan } = planWithRanges(["130.211.0.0/22", "130.211.0.0/22"]);
    const svc = plan.services.find((s) => s.metadata?.name === "lb")!;
    assert.deepEqual(svc.spec!.loadBalancerSourceRanges, ["198.19.129.0/30", "198.19.129.0/30"]);
  });
});

describe("lab plan: link settings", () => {
  const objects = () => readObjects([writeNodeTrafficScenario()]);

  it("keeps the run's offloads, and puts the pod MTU on the last node unless one is named", () => {
    assert.deepEqual(planLab("x", objects()).links, DEFAULT_LINKS);
    const last = planLab("x", objects(), { checksum: "off", gso: "on", podMtu: { mtu: 1400, node: null } });
    assert.deepEqual(last.links, { checksum: "off", gso: "on", podMtu: { mtu: 1400, node: "node-b" } });
    const named = planLab("x", objects(), { ...DEFAULT_LINKS, podMtu: { mtu: 1280, node: "node-a" } });
    assert.deepEqual(named.links?.podMtu, { mtu: 1280, node: "node-a" });
  });

  it("refuses a pod MTU on a node the lab does not have, naming the nodes", () => {
    assert.throws(
      () => planLab("x", objects(), { ...DEFAULT_LINKS, podMtu: { mtu: 1400, node: "node-z" } }),
      /--pod-mtu: no node 'node-z' in the lab; nodes: node-a, node-b/,
    );
  });

  it("--pod-mtu takes MTU or MTU@NODE within 576..1500, and quotes what it refuses", () => {
    assert.deepEqual(parsePodMtu("1400"), { mtu: 1400, node: null });
    assert.deepEqual(parsePodMtu("1280@node-b"), { mtu: 1280, node: "node-b" });
    for (const bad of ["1501", "575", "14OO", "1400@", "1400@node b", "x".repeat(500)])
      assert.throws(() => parsePodMtu(bad), /--pod-mtu expects MTU\[@NODE\] with MTU 576\.\.1500, got '/);
  });
});

describe("lab bulk stream", () => {
  it("is the same stream however it is cut into chunks, and does not repeat", () => {
    const whole = Buffer.concat([...bulkChunks(200_000)]);
    const s = new BulkStream();
    const cut = Buffer.concat([s.next(1), s.next(70_000), s.next(129_999)]);
    assert.ok(whole.equals(cut));
    assert.ok(!whole.subarray(0, 65_536).equals(whole.subarray(65_536, 131_072)));
    assert.equal(bulkDigest(200_000).length, 64);
  });

  it("the checker accepts the stream and names the first byte that differs", () => {
    const good = new BulkChecker();
    for (const c of bulkChunks(150_000)) good.update(c);
    assert.deepEqual([good.received, good.firstMismatch], [150_000, null]);

    const bad = new BulkChecker();
    const chunks = [...bulkChunks(150_000)];
    const flipped = Buffer.from(chunks[1]!);
    flipped[100]! ^= 1; // one bit flipped in the second chunk
    chunks[1] = flipped;
    for (const c of chunks) bad.update(c);
    assert.deepEqual([bad.received, bad.firstMismatch], [150_000, chunks[0]!.length + 100]);
  });
});
