// The dual-stack lab's plumbing, with real traffic: every pod reachable over IPv6 from pods on both
// nodes and from outside, TCP and UDP, nothing translated on the way (the source a pod sees is the
// client's own IPv6 address), and the IPv4 half still carrying the Services beside it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hostOf, hostPort } from "../src/lab/host-port.js";
import { labDown, labUp } from "../src/lab/lab.js";
import { podIp } from "../src/lab/plan.js";
import type { LabState } from "../src/lab/state.js";
import { backendIps, byBackend, downOnExit, labBlocker, probe } from "./helpers/lab-run.js";
import { writeLabScenario } from "./helpers/lab-scenario.js";

const labName = `ds${process.pid.toString(36)}`;

describe(
  "dual-stack lab: IPv6 between the lab's namespaces",
  { skip: labBlocker("iptables") ?? false },
  () => {
    let state: LabState;
    before(async () => {
      downOnExit(labName);
      state = await labUp({
        name: labName,
        scenario: writeLabScenario(),
        proxy: "iptables",
        dualStack: true,
      });
    });
    after(() => {
      labDown({ name: labName });
    });

    it("every backend pod answers over IPv6, TCP and UDP, from a pod on each node and from outside, and sees the client's own address", async () => {
      const backends = state.plan.pods.filter((p) => p.role === "backend");
      const clients = [
        { from: "client-1", ip6: state.plan.pods.find((p) => p.name === "client-1")!.ip6! },
        { from: "client-2", ip6: state.plan.pods.find((p) => p.name === "client-2")!.ip6! },
        { from: "ext-1", ip6: state.plan.externals[0]!.ip6! },
      ];
      for (const pod of backends)
        for (const [port, proto] of [
          ...pod.tcpPorts.map((p) => [p, "tcp"] as const),
          ...pod.udpPorts.map((p) => [p, "udp"] as const),
        ])
          await Promise.all(
            clients.map(async (c) => {
              const target = `${hostPort(podIp(pod, "IPv6"), port)}/${proto}`;
              const results = await probe(state, { from: c.from, target }, 2);
              const what = `${c.from} → ${target}`;
              assert.equal(results.filter((r) => r.ok).length, 2, `${what}: ${JSON.stringify(results)}`);
              for (const r of results) {
                assert.equal(r.answer!.ip, pod.ip6, what);
                assert.equal(r.remote, pod.ip6, what);
                assert.equal(hostOf(r.answer!.client), c.ip6, `${what}: the pod sees the client`);
              }
            }),
          );
    });

    it("an IPv4 client is still seen with its IPv4 address, and the IPv4 Services work beside IPv6", async () => {
      const results = await probe(
        state,
        { from: "ext-1", target: "default/web", frontend: "load-balancer" },
        30,
      );
      assert.equal(results.filter((r) => r.ok).length, 30, JSON.stringify(results.find((r) => !r.ok)));
      assert.deepEqual([...byBackend(results).keys()].sort(), backendIps(state, "default/web"));
      assert.ok(
        results.every((r) => !r.answer!.client.includes("[")),
        "answers over IPv4 name IPv4 peers",
      );
    });
  },
);
