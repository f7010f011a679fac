// The real entry points of maplb.bpf.o, not only the test probe: XDP and TC return codes for each
// verdict, and the same rewritten bytes as the probe (they run the same pipeline).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Algorithm, Scope, type FrontendKey, type MapOp } from "../src/compile/tables.js";
import { openKernel, probeKernel } from "../src/datapath/kernel.js";
import { buildFrame } from "../src/datapath/packet.js";

const XDP_DROP = 1;
const XDP_PASS = 2;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

const key = (address: string): FrontendKey => ({ address, port: 80, protocol: "TCP", scope: Scope.EXT });
const master = (count: number) => ({
  count,
  revNatId: 1,
  flags: 0,
  algorithm: Algorithm.random,
  affinityTimeout: 0,
  maglevOffset: 0,
  maglevSize: 0,
});
const OPS: MapOp[] = [
  { kind: "backend-upsert", backend: { id: 1, address: "10.0.1.1", port: 8080, protocol: "TCP", flags: 0 } },
  { kind: "slot-upsert", key: key("10.96.0.10"), slot: 1, backendId: 1, revNatId: 1 },
  { kind: "revnat-upsert", entry: { id: 1, address: "10.96.0.10", port: 80 } },
  { kind: "master-upsert", key: key("10.96.0.10"), master: master(1) },
  { kind: "master-upsert", key: key("10.96.0.11"), master: master(0) },
];

const to = (dst: string, sport: number) =>
  buildFrame({ src: "10.0.0.5", dst, sport, dport: 80, proto: "TCP" });

const kernelProblem = probeKernel();

test(
  "XDP and TC entry points: PASS/DNAT go on (XDP_PASS, TC_ACT_OK), drops are dropped, bytes as the probe's",
  { skip: kernelProblem ? `needs root for BPF_PROG_TEST_RUN (${kernelProblem})` : false },
  () => {
    const dp = openKernel({ ephemeral: true });
    try {
      dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 1 });
      dp.apply(OPS);
      const cases = [
        { frame: to("10.96.0.10", 1000), xdp: XDP_PASS, tc: TC_ACT_OK, rewritten: true },
        { frame: to("10.96.0.99", 1000), xdp: XDP_PASS, tc: TC_ACT_OK, rewritten: false },
        { frame: to("10.96.0.11", 1000), xdp: XDP_DROP, tc: TC_ACT_SHOT, rewritten: false },
      ];
      for (const c of cases) {
        const viaProbe = Uint8Array.from(c.frame);
        dp.testRun("probe", viaProbe);
        for (const [program, expected] of [
          ["xdp", c.xdp],
          ["tc", c.tc],
        ] as const) {
          const out = Uint8Array.from(c.frame);
          assert.equal(dp.testRun(program, out).retval, expected, `${program} return code`);
          assert.deepEqual(out, viaProbe, `${program} output bytes`);
          assert.equal(Buffer.compare(out, c.frame) !== 0, c.rewritten, `${program} rewrote the frame`);
        }
      }
      // Each frame ran three times (probe, xdp, tc), and every run was counted.
      const s = dp.stats();
      assert.equal(s.verdicts.DNAT, 3n);
      assert.equal(s.reasons.NO_BACKEND, 3n);
      assert.equal(s.backends.get(1)?.packets, 3n);
    } finally {
      dp.close();
    }
  },
);
