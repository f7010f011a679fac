// A dual-stack compile written into the maps of both targets: each entry lands in its family's map
// (lb6_* for IPv6), reads back the same through dump(), is adopted after a "restart" without a
// single write, and a removal or a failed apply touches only what it should. Packets are not sent
// here: the IPv6 pipeline is the datapath's (see datapath-ipv6-e2e when it is there).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DatapathSink } from "../src/agent/datapath-sink.js";
import { tablesFromMaps } from "../src/agent/map-contents.js";
import { compile, Compiler } from "../src/compile/compiler.js";
import { diff } from "../src/compile/diff.js";
import { type LbTables, type MapOp } from "../src/compile/tables.js";
import { decode, encode, readIn6, readU32, u32 } from "../src/datapath/codec.js";
import type { Datapath } from "../src/datapath/datapath.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { openKernel } from "../src/datapath/kernel.js";
import type { MapMax } from "../src/datapath/options.js";
import { nodeSettings } from "../src/datapath/options.js";
import { MaplbError } from "../src/errors.js";
import type { ServiceModel } from "../src/model/types.js";
import { bigIntToIpv6, ipv6ToBigInt } from "../src/util/ip.js";
import { KERNEL_SKIP } from "./helpers/datapath-targets.js";
import { dualStackLb, dualStackNode as node, endpoint, servicePort } from "./helpers/model-factory.js";

const TARGETS: { name: string; skip: string | false; open: (mapMax?: MapMax) => Datapath }[] = [
  { name: "emulated", skip: false, open: (mapMax) => openEmulated({ mapMax }) },
  { name: "kernel", skip: KERNEL_SKIP, open: (mapMax) => openKernel({ ephemeral: true, mapMax }) },
];

/** The dual-stack LoadBalancer and an IPv6-only UDP ClusterIP with random choice. */
const model: ServiceModel = {
  ports: [
    ...dualStackLb(),
    servicePort({
      name: "dns",
      family: "IPv6",
      protocol: "UDP",
      portName: "dns",
      clusterIP: "fd00:96::53",
      algorithm: "random",
      endpoints: [endpoint("2001:db8:1::53")],
    }),
  ].sort((a, b) => (a.id < b.id ? -1 : 1)),
};

/** What the compiled tables say the maps hold, in dump()'s shapes (sorted as dump() sorts). */
function expectedDump(tables: LbTables) {
  const all = [...tables.services.values()];
  return {
    frontends: all
      .flatMap((t) => t.frontends)
      .map((f) => ({
        key: f.key,
        master: f.master,
        slots: f.slots.map((backendId, i) => ({ slot: i + 1, backendId })),
      }))
      .sort(
        (a, b) =>
          a.key.address.localeCompare(b.key.address) || a.key.port - b.key.port || a.key.scope - b.key.scope,
      ),
    backends: new Map(all.flatMap((t) => t.backends).map((b) => [b.id, b])),
    revNat: all.flatMap((t) => t.revNat).sort((a, b) => a.id - b.id),
    sourceRanges: all
      .flatMap((t) => t.sourceRanges)
      .sort((a, b) => a.revNatId - b.revNatId || a.cidr.localeCompare(b.cidr)),
    nodeAddrs: [...node.nodeIPs].sort(),
  };
}

/** Rows [offset, offset + n) of a Maglev array. */
function rows(dp: Datapath, map: "lb4_maglev" | "lb6_maglev", offset: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) =>
    readU32(dp.maps.lookup(map, u32(offset + i)) ?? new Uint8Array(4)),
  );
}

/** How many entries a map holds. */
const count = (dp: Datapath, map: Parameters<Datapath["maps"]["keys"]>[0]) => [...dp.maps.keys(map)].length;

for (const target of TARGETS) {
  describe(`dual-stack maps on the ${target.name} target`, { skip: target.skip }, () => {
    test("each entry lands in its family's map and reads back as compiled, Maglev rows in their own array", () => {
      const dp = target.open();
      try {
        dp.configure(nodeSettings(node));
        const tables = compile(model, node);
        dp.apply(diff({ services: new Map() }, tables));
        assert.deepEqual(dp.dump(), expectedDump(tables));
        // The IPv6 frontends went to lb6_services only: 7 + 7 frontends, 1 + 2 + 1 + … slots.
        const v6 = [...tables.services.values()].flatMap((t) =>
          t.frontends.filter((f) => f.key.address.includes(":")),
        );
        const entries = (fs: typeof v6) => fs.reduce((n, f) => n + 1 + f.slots.length, 0);
        const v4 = [...tables.services.values()].flatMap((t) =>
          t.frontends.filter((f) => !f.key.address.includes(":")),
        );
        assert.equal(count(dp, "lb6_services"), entries(v6));
        assert.equal(count(dp, "lb4_services"), entries(v4));
        assert.equal(count(dp, "lb6_backends"), 3);
        assert.equal(count(dp, "lb4_backends"), 2);
        assert.equal(count(dp, "lb6_source_range"), 1);
        assert.equal(count(dp, "lb4_source_range"), 1);
        // Both families' first tables start at row 0, each in its own array.
        for (const t of tables.services.values())
          for (const m of t.maglev) {
            const map = m.family === "IPv6" ? "lb6_maglev" : "lb4_maglev";
            assert.deepEqual(rows(dp, map, m.offset, m.rows.length), [...m.rows], `${t.id} ${m.name}`);
          }
      } finally {
        dp.close();
      }
    });

    test("node_addrs6 and the IPv6 cluster CIDR are configured; a CIDR of the wrong family is refused", () => {
      const dp = target.open();
      try {
        dp.configure(nodeSettings(node));
        assert.deepEqual(
          [...dp.maps.keys("node_addrs6")].map((k) => bigIntToIpv6(readIn6(k))),
          ["2001:db8:ff::10"],
        );
        const config = decode("maplb_config", dp.maps.lookup("maplb_config", u32(0))!);
        assert.equal(config.cluster_cidr6_addr, ipv6ToBigInt("2001:db8:1::"));
        assert.equal(config.cluster_cidr6_prefix, 64);
        assert.equal(config.cluster_cidr_prefix, 16);
        // A second configure replaces the addresses: the IPv6 one goes when the node no longer has it.
        dp.configure(nodeSettings({ ...node, nodeIPs: ["192.0.2.10"], clusterCIDR6: null }));
        assert.equal(count(dp, "node_addrs6"), 0);
        assert.equal(decode("maplb_config", dp.maps.lookup("maplb_config", u32(0))!).cluster_cidr6_prefix, 0);
        assert.throws(
          () => dp.configure(nodeSettings({ ...node, clusterCIDR6: "10.0.0.0/8" })),
          /cluster CIDR "10\.0\.0\.0\/8" is not an IPv6 CIDR/,
        );
      } finally {
        dp.close();
      }
    });

    test("after a restart the maps are adopted as they are: reading them back and compiling writes nothing", () => {
      const dp = target.open();
      try {
        dp.configure(nodeSettings(node));
        dp.apply(diff({ services: new Map() }, compile(model, node)));
        const prev = tablesFromMaps(new DatapathSink(dp).read(), model.ports, node);
        assert.deepEqual([...prev.services.keys()].sort(), model.ports.map((p) => p.id).sort());
        assert.deepEqual(new Compiler(node, prev).update(model.ports, []), []);
      } finally {
        dp.close();
      }
    });

    test("removing the IPv6 half empties the lb6 maps and leaves the IPv4 ones as they were", () => {
      const dp = target.open();
      try {
        const before = compile(model, node);
        dp.apply(diff({ services: new Map() }, before));
        const v4Before = {
          services: [...dp.maps.entries("lb4_services")],
          backends: [...dp.maps.entries("lb4_backends")],
        };
        const after = compile({ ports: model.ports.filter((p) => p.family === "IPv4") }, node, before);
        dp.apply(diff(before, after));
        for (const map of ["lb6_services", "lb6_backends", "lb6_reverse_nat", "lb6_source_range"] as const)
          assert.equal(count(dp, map), 0, map);
        const v6Tables = [...before.services.values()].flatMap((t) =>
          t.maglev.filter((m) => m.family === "IPv6"),
        );
        for (const m of v6Tables)
          assert.ok(rows(dp, "lb6_maglev", m.offset, m.rows.length).every((r) => r === 0));
        assert.deepEqual(
          { services: [...dp.maps.entries("lb4_services")], backends: [...dp.maps.entries("lb4_backends")] },
          v4Before,
        );
      } finally {
        dp.close();
      }
    });

    test("a full lb6_services fails the apply and leaves every map of both families as it was", () => {
      const dp = target.open({ lb6_services: 4 });
      try {
        const ops: MapOp[] = diff({ services: new Map() }, compile(model, node));
        assert.throws(
          () => dp.apply(ops),
          (e: unknown) =>
            e instanceof MaplbError &&
            /updating map lb6_services/.test(e.message) &&
            /nothing was changed/.test(e.message),
        );
        for (const map of [
          "lb4_services",
          "lb4_backends",
          "lb4_reverse_nat",
          "lb6_backends",
          "lb6_reverse_nat",
          "lb6_services",
        ] as const)
          assert.equal(count(dp, map), 0, map);
      } finally {
        dp.close();
      }
    });

    test("a deleted IPv6 UDP backend's flows leave ct6 with it; the TCP ones stay", () => {
      const dp = target.open();
      try {
        const tables = compile(model, node);
        dp.apply(diff({ services: new Map() }, tables));
        const backend = (id: string) => tables.services.get(id)!.backends[0]!;
        const udp = backend("shop/dns:dns/UDP/IPv6");
        const tcp = backend("shop/lb:http/TCP/IPv6");
        // A flow of each, as the datapath records them (service direction).
        const flow = (b: typeof udp, proto: number, sport: number) => {
          const key = encode("ct6_key", {
            saddr: ipv6ToBigInt("2001:db8:1::99"),
            daddr: ipv6ToBigInt(b.address),
            sport,
            dport: b.port,
            proto,
            direction: 0,
          });
          dp.maps.update("ct6", key, encode("ct6_entry", { backend_id: b.id, rev_nat_id: 1, last_seen: 1n }));
        };
        flow(udp, 17, 5353);
        flow(tcp, 6, 4000);
        const flowsTo = (id: number) =>
          [...dp.maps.entries("ct6")].filter(([, v]) => decode("ct6_entry", v).backend_id === id).length;
        assert.deepEqual([flowsTo(udp.id), flowsTo(tcp.id)], [1, 1]);
        const after = compile({ ports: model.ports.filter((p) => p.protocol !== "UDP") }, node, tables);
        dp.apply(diff(tables, after));
        assert.deepEqual([flowsTo(udp.id), flowsTo(tcp.id)], [0, 1]);
      } finally {
        dp.close();
      }
    });
  });
}
