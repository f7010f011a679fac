// The real entry points of maplb.bpf.o, not only the test probe: XDP and TC return codes for each
// verdict, the same rewritten bytes as the probe (they run the same pipeline), and the ICMP port
// unreachable they answer a packet for a service without backends with.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Algorithm, Scope, type FrontendKey, type MapOp } from "../src/compile/tables.js";
import { openKernel, probeKernel } from "../src/datapath/kernel.js";
import { icmpUnreachableFor } from "../src/datapath/icmp.js";
import { buildFrame, internetChecksum } from "../src/datapath/packet.js";
import { intToIpv4 } from "../src/util/ip.js";
import { kernelSkip } from "./helpers/require-kernel.js";

function parseIcmp(f: Uint8Array) {
  const v = new DataView(f.buffer, f.byteOffset, f.length);
  return {
    src: intToIpv4(v.getUint32(26)),
    dst: intToIpv4(v.getUint32(30)),
    type: f[34],
    code: f[35],
    checksumsOk: internetChecksum(f.subarray(14, 34)) === 0 && internetChecksum(f.subarray(34)) === 0,
  };
}

const XDP_PASS = 2;
const XDP_TX = 3;
const TC_ACT_OK = 0;
const TC_ACT_REDIRECT = 7;

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
  "XDP and TC entry points: PASS/DNAT go on (XDP_PASS, TC_ACT_OK) with the probe's bytes; no backend: ICMP sent back (XDP_TX, redirect)",
  { skip: kernelSkip(kernelProblem ? `needs root for BPF_PROG_TEST_RUN (${kernelProblem})` : null) },
  () => {
    const dp = openKernel({ ephemeral: true });
    try {
      dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 1 });
      dp.apply(OPS);
      const noBackend = to("10.96.0.11", 1000);
      const cases = [
        { frame: to("10.96.0.10", 1000), xdp: XDP_PASS, tc: TC_ACT_OK, output: null },
        { frame: to("10.96.0.99", 1000), xdp: XDP_PASS, tc: TC_ACT_OK, output: null },
        { frame: noBackend, xdp: XDP_TX, tc: TC_ACT_REDIRECT, output: icmpUnreachableFor(noBackend) },
      ];
      for (const c of cases) {
        const viaProbe = dp.testRun("probe", c.frame).output;
        for (const [program, expected] of [
          ["xdp", c.xdp],
          ["tc", c.tc],
        ] as const) {
          const run = dp.testRun(program, c.frame);
          assert.equal(run.retval, expected, `${program} return code`);
          assert.deepEqual(run.output, c.output ?? viaProbe, `${program} output bytes`);
        }
      }
      // The reply: from the frontend to the client, ICMP port unreachable, quoting the packet.
      const reply = parseIcmp(icmpUnreachableFor(noBackend));
      assert.deepEqual(reply, { src: "10.96.0.11", dst: "10.0.0.5", type: 3, code: 3, checksumsOk: true });
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

test("the ICMP port unreachable (host build of datapath/icmp.h): addresses swapped, packet quoted, checksums right", () => {
  const frame = buildFrame({ src: "10.0.0.5", dst: "10.96.0.11", sport: 4242, dport: 80, proto: "UDP" });
  const reply = icmpUnreachableFor(frame);
  assert.deepEqual(parseIcmp(reply), {
    src: "10.96.0.11",
    dst: "10.0.0.5",
    type: 3,
    code: 3,
    checksumsOk: true,
  });
  assert.deepEqual(reply.subarray(0, 6), frame.subarray(6, 12), "to the client's MAC");
  assert.equal(reply.length, 82);
  assert.deepEqual(reply.subarray(42, 70), frame.subarray(14, 42), "quotes the IP header and the UDP header");
  assert.deepEqual(reply.subarray(70), new Uint8Array(12), "padded with zeros to 20 bytes of L4");
  assert.throws(() => icmpUnreachableFor(frame.subarray(0, 41)), /at least 42/);
});
