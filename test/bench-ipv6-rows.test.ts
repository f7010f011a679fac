// The datapath suites' IPv6 rows measure what they say: the state they write lands in the lb6 maps,
// the frame they time is DNATed, and a "new" run over IPv6 creates a flow per repeat (the bench
// entry points move the bytes of an IPv4 source port, which in an IPv6 frame are source address
// bytes: a new client per repeat instead of a new port). On the host build and, with root, the kernel.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { openEmulated } from "../src/datapath/emulated.js";
import { kernelUnavailableReason, openKernel } from "../src/datapath/kernel.js";
import type { NativeDatapath } from "../src/datapath/native-datapath.js";
import { benchFrame, pipelineNsPerPacket, scaleOps } from "../src/datapath/speed.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const mapMax = { lb6_services: 64, lb6_backends: 64, lb6_reverse_nat: 16, lb6_maglev: 64, ct6: 4096 };
const ops = scaleOps({
  services: 3,
  backendsPerService: 4,
  algorithm: "maglev",
  maglevM: 13,
  family: "IPv6",
});
const count = (dp: NativeDatapath, map: "lb4_services" | "lb6_services" | "ct6") =>
  [...dp.maps.keys(map)].length;

function checks(open: () => NativeDatapath) {
  it("scaleOps over IPv6 fills the lb6 maps only, and the bench frame to service 0 is DNATed", () => {
    const dp = open();
    try {
      dp.apply(ops);
      assert.equal(count(dp, "lb4_services"), 0);
      assert.equal(count(dp, "lb6_services"), 3 * 5); // a master and 4 slots per service
      assert.deepEqual(dp.process([benchFrame(10000, "IPv6")]), [{ verdict: "DNAT", reason: "OK" }]);
    } finally {
      dp.close();
    }
  });

  it("a new-flow run over IPv6 leaves one ct6 entry per repeat; an established run none", () => {
    const dp = open();
    try {
      dp.apply(ops);
      assert.ok(pipelineNsPerPacket(dp, "established", 200, "IPv6") > 0);
      const established = count(dp, "ct6");
      assert.ok(established >= 1 && established <= 2, `${established} entries after the established run`);
      pipelineNsPerPacket(dp, "new", 200, "IPv6");
      assert.ok(count(dp, "ct6") >= established + 200, `${count(dp, "ct6")} entries after 200 new flows`);
    } finally {
      dp.close();
    }
  });
}

describe("IPv6 bench state and frame, host build", () => checks(() => openEmulated({ mapMax })));
describe("IPv6 bench state and frame, kernel", { skip: kernelSkip(kernelUnavailableReason()) }, () =>
  checks(() => openKernel({ ephemeral: true, mapMax })),
);
