// End to end over both families: the dual-stack example manifest is compiled, applied with the
// node's settings (node_addrs6, the IPv6 cluster CIDR), and IPv6 packets go through the datapath of
// each target: DNAT to the backend the traffic policy allows, reverse NAT of the reply back to the
// frontend, checksums right, while the IPv4 half keeps working from the same maps.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { syncOnce } from "../src/agent/sync-once.js";
import type { Datapath, PacketResult } from "../src/datapath/datapath.js";
import { buildFrame, parseFrame } from "../src/datapath/packet.js";
import { buildFrame6, checksumValid6, parseFrame6, type Frame6Spec } from "../src/datapath/packet6.js";
import { readModel } from "../src/k8s/read.js";
import { TARGETS } from "./helpers/datapath-targets.js";
import { dualStackNode } from "./helpers/model-factory.js";

const EXAMPLE = new URL("../../examples/dual-stack-lb.yaml", import.meta.url).pathname;
/** The example's nodes: node-a is this one; its IPv6 address as the model factory's dual-stack node. */
const node = { ...dualStackNode, nodeName: "node-a" };
const LOCAL6 = "2001:db8:1::10"; // shop's IPv6 endpoint on node-a
const REMOTE6 = "2001:db8:2::10"; // and on node-b
const EXTERNAL_CLIENT = "2001:db8:99::5";
const POD_CLIENT = "2001:db8:1::77"; // inside the IPv6 cluster CIDR

function send(dp: Datapath, frame: Uint8Array): PacketResult & { out: Uint8Array } {
  const out = Uint8Array.from(frame);
  const [r] = dp.process([out]);
  return { ...r!, out };
}

/** Sends `spec`; expects DNAT, a valid checksum and an unchanged source; returns where it went. */
function dnat(dp: Datapath, spec: Frame6Spec): { dst: string; dport: number } {
  const r = send(dp, buildFrame6(spec));
  assert.deepEqual([r.verdict, r.reason], ["DNAT", "OK"], `${spec.dst}:${spec.dport}`);
  assert.ok(checksumValid6(r.out));
  const p = parseFrame6(r.out)!;
  assert.deepEqual([p.src, p.sport], [spec.src, spec.sport], "the client's address is kept");
  return { dst: p.dst, dport: p.dport };
}

for (const target of TARGETS) {
  describe(`a dual-stack manifest end to end on the ${target.name} target`, { skip: target.skip }, () => {
    const withMaps = (body: (dp: Datapath) => void) => () => {
      const dp = target.open();
      try {
        syncOnce(dp, readModel([EXAMPLE]), node);
        body(dp);
      } finally {
        dp.close();
      }
    };

    it(
      "IPv6 ClusterIP: DNAT to one of its backends, and the reply is reverse-NATed to the cluster IP",
      withMaps((dp) => {
        const syn: Frame6Spec = {
          src: POD_CLIENT,
          dst: "fd00:96::20",
          sport: 40000,
          dport: 80,
          proto: "TCP",
        };
        const to = dnat(dp, syn);
        assert.ok([LOCAL6, REMOTE6].includes(to.dst), `backend ${to.dst}`);
        assert.equal(to.dport, 8080);
        const reply = send(
          dp,
          buildFrame6({ src: to.dst, dst: POD_CLIENT, sport: 8080, dport: 40000, proto: "TCP" }),
        );
        assert.deepEqual([reply.verdict, reply.reason], ["REVNAT", "OK"]);
        assert.equal(
          Buffer.from(reply.out).toString("hex"),
          Buffer.from(
            buildFrame6({ src: "fd00:96::20", dst: POD_CLIENT, sport: 80, dport: 40000, proto: "TCP" }),
          ).toString("hex"),
          "the reply comes from the frontend, checksum recomputed",
        );
        // The same flow keeps its backend.
        assert.deepEqual(dnat(dp, syn), to);
      }),
    );

    it(
      "ETP=Local over IPv6: an external client reaches the local backend only; a pod (IPv6 cluster CIDR) reaches both",
      withMaps((dp) => {
        for (let sport = 41000; sport < 41020; sport++) {
          for (const dst of ["2001:db8:100::1", "2001:db8:51::7"])
            // ingress IP, externalIP
            assert.equal(dnat(dp, { src: EXTERNAL_CLIENT, dst, sport, dport: 80, proto: "TCP" }).dst, LOCAL6);
          // NodePort on the IPv6 node IP (its own frontend) and through the :: wildcard (node_addrs6).
          assert.equal(
            dnat(dp, { src: EXTERNAL_CLIENT, dst: "2001:db8:ff::10", sport, dport: 30080, proto: "TCP" }).dst,
            LOCAL6,
          );
        }
        const fromPods = new Set<string>();
        for (let sport = 42000; sport < 42064; sport++)
          fromPods.add(
            dnat(dp, { src: POD_CLIENT, dst: "2001:db8:100::1", sport, dport: 80, proto: "TCP" }).dst,
          );
        assert.deepEqual([...fromPods].sort(), [LOCAL6, REMOTE6], "INT scope: every backend");
      }),
    );

    it(
      "the :: NodePort wildcard answers on the node's IPv6 addresses only",
      withMaps((dp) => {
        // node_addrs6 holds the node's address: the wildcard matches a second one once configured.
        dp.configure({
          nodeIPs: [...node.nodeIPs, "2001:db8:ff::11"],
          clusterCIDR: node.clusterCIDR,
          clusterCIDR6: node.clusterCIDR6,
          hashSeed: 1,
        });
        const spec = {
          src: EXTERNAL_CLIENT,
          dst: "2001:db8:ff::11",
          sport: 43000,
          dport: 30080,
          proto: "TCP" as const,
        };
        assert.equal(dnat(dp, spec).dst, LOCAL6);
        const other = send(dp, buildFrame6({ ...spec, dst: "2001:db8:ff::99" }));
        assert.deepEqual([other.verdict, other.reason], ["PASS", "NO_SERVICE"]);
      }),
    );

    it(
      "IPv6 UDP with ClientIP affinity: one backend per client, replies from the cluster IP",
      withMaps((dp) => {
        const query = (sport: number): Frame6Spec => ({
          src: POD_CLIENT,
          dst: "fd00:96::53",
          sport,
          dport: 53,
          proto: "UDP",
        });
        const first = dnat(dp, query(50000));
        assert.ok(["2001:db8:1::53", "2001:db8:2::53"].includes(first.dst));
        for (let sport = 50001; sport < 50010; sport++)
          assert.equal(dnat(dp, query(sport)).dst, first.dst, "affinity");
        const reply = send(
          dp,
          buildFrame6({ src: first.dst, dst: POD_CLIENT, sport: 53, dport: 50000, proto: "UDP" }),
        );
        assert.equal(reply.verdict, "REVNAT");
        const p = parseFrame6(reply.out)!;
        assert.deepEqual([p.src, p.sport], ["fd00:96::53", 53]);
        assert.ok(checksumValid6(reply.out));
      }),
    );

    it(
      "the IPv4 half works from the same maps",
      withMaps((dp) => {
        const toClusterIP = buildFrame({
          src: "198.18.0.9",
          dst: "10.96.0.20",
          sport: 4000,
          dport: 80,
          proto: "TCP",
        });
        assert.equal(dp.process([toClusterIP])[0]!.verdict, "DNAT");
        assert.ok(["10.0.1.10", "10.0.2.10"].includes(parseFrame(toClusterIP)!.dst));
        const frame = buildFrame({
          src: "198.18.0.9",
          dst: "192.0.2.100",
          sport: 4001,
          dport: 80,
          proto: "TCP",
        });
        const [lb] = dp.process([frame]);
        // 198.18.0.9 is outside the IPv4 source range (203.0.113.0/24): the ingress IP drops it.
        assert.deepEqual([lb!.verdict, lb!.reason], ["DROP", "SOURCE_RANGE"]);
        const ok = buildFrame({
          src: "203.0.113.9",
          dst: "192.0.2.100",
          sport: 4002,
          dport: 80,
          proto: "TCP",
        });
        assert.equal(dp.process([ok])[0]!.verdict, "DNAT");
        assert.equal(parseFrame(ok)!.dst, "10.0.1.10", "ETP=Local: the local IPv4 backend");
      }),
    );
  });
}
