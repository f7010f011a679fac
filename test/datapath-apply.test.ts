// apply(): MapOps land in the maps in order, read back the same through dump(), and a failure
// (here: a full map) rolls every earlier write of the same apply back.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Algorithm, Scope, type FrontendKey, type MapOp } from "../src/compile/tables.js";
import type { Datapath } from "../src/datapath/datapath.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { openKernel, probeKernel } from "../src/datapath/kernel.js";
import { SNAT_PORTS, type MapMax } from "../src/datapath/options.js";
import { MaplbError } from "../src/errors.js";
import { decode, u32 } from "../src/datapath/codec.js";
import { buildFrame } from "../src/datapath/packet.js";
import { kernelSkip } from "./helpers/require-kernel.js";

const key = (n: number): FrontendKey => ({
  address: `10.96.0.${n}`,
  port: 80,
  protocol: "TCP",
  scope: Scope.EXT,
});

/** A frontend with `backends` backends (ids base+1..), Maglev table of 5 rows at `offset`. */
function frontendOps(n: number, backends: number, base: number, offset: number): MapOp[] {
  const ids = Array.from({ length: backends }, (_, i) => base + i + 1);
  return [
    ...ids.map((id): MapOp => ({
      kind: "backend-upsert",
      backend: { id, address: `10.1.${n}.${id}`, port: 8080, protocol: "TCP", flags: 0 },
    })),
    ...ids.map((backendId, i): MapOp => ({
      kind: "slot-upsert",
      key: key(n),
      slot: i + 1,
      backendId,
      revNatId: n,
    })),
    { kind: "maglev-write", offset, rows: Uint32Array.from({ length: 5 }, (_, i) => ids[i % ids.length]!) },
    { kind: "source-range-upsert", entry: { revNatId: n, cidr: "192.0.2.0/24" } },
    { kind: "revnat-upsert", entry: { id: n, address: key(n).address, port: 80 } },
    {
      kind: "master-upsert",
      key: key(n),
      master: {
        count: backends,
        revNatId: n,
        flags: 0,
        algorithm: Algorithm.maglev,
        affinityTimeout: 0,
        maglevOffset: offset,
        maglevSize: 5,
      },
    },
  ];
}

const SIZES: MapMax = { lb4_services: 8, lb4_backends: 16, lb4_maglev: 32 };

const kernelProblem = probeKernel();
const TARGETS: { name: string; skip: string | false; open: () => Datapath }[] = [
  { name: "emulated", skip: false, open: () => openEmulated({ mapMax: SIZES }) },
  {
    name: "kernel",
    skip: kernelSkip(kernelProblem ? `needs root for BPF maps (${kernelProblem})` : null),
    open: () => openKernel({ ephemeral: true, mapMax: SIZES }),
  },
];

for (const target of TARGETS) {
  describe(`apply: ${target.name}`, { skip: target.skip }, () => {
    test("writes read back through dump()", () => {
      const dp = target.open();
      try {
        const summary = dp.apply(frontendOps(1, 3, 0, 0));
        assert.deepEqual(summary, { ops: 10, writes: 9, deletes: 0, maglevRows: 5 });
        const d = dp.dump();
        assert.equal(d.frontends.length, 1);
        assert.deepEqual(d.frontends[0]!.key, key(1));
        assert.equal(d.frontends[0]!.master?.count, 3);
        assert.deepEqual(
          d.frontends[0]!.slots.map((s) => s.backendId),
          [1, 2, 3],
        );
        assert.deepEqual([...d.backends.keys()].sort(), [1, 2, 3]);
        assert.deepEqual(d.backends.get(2), {
          id: 2,
          address: "10.1.1.2",
          port: 8080,
          protocol: "TCP",
          flags: 0,
        });
        assert.deepEqual(d.revNat, [{ id: 1, address: "10.96.0.1", port: 80 }]);
        assert.deepEqual(d.sourceRanges, [{ revNatId: 1, cidr: "192.0.2.0/24" }]);

        // Deletes, including one of a key that is already gone (idempotent).
        const del = dp.apply([
          { kind: "slot-delete", key: key(1), slot: 3 },
          { kind: "slot-delete", key: key(1), slot: 3 },
          { kind: "backend-delete", id: 3 },
        ]);
        assert.equal(del.deletes, 2);
        assert.deepEqual(
          dp.dump().frontends[0]!.slots.map((s) => s.backendId),
          [1, 2],
        );
      } finally {
        dp.close();
      }
    });

    test("configure() replaces the node addresses and writes the config", () => {
      const dp = target.open();
      try {
        dp.configure({ nodeIPs: ["192.168.1.10", "192.168.1.11"], clusterCIDR: "10.0.0.0/16", hashSeed: 7 });
        dp.configure({
          nodeIPs: ["192.168.1.11", "192.168.1.12"],
          clusterCIDR: null,
          hashSeed: 9,
          snatIP: "192.168.1.11",
          snatIP6: "2001:db8::11",
          snatPorts: { min: 40000, max: 40009 },
        });
        assert.deepEqual(dp.dump().nodeAddrs, ["192.168.1.11", "192.168.1.12"]);
        const config = () => decode("maplb_config", dp.maps.lookup("maplb_config", u32(0))!);
        assert.deepEqual(config(), {
          cluster_cidr_addr: 0,
          cluster_cidr_prefix: 0,
          hash_seed: 9,
          snat_addr: 0xc0a8010b,
          snat_port_min: 40000,
          snat_port_max: 40009,
          cluster_cidr6_prefix: 0,
          cluster_cidr6_addr: 0n,
          snat6_addr: 0x20010db8000000000000000000000011n,
        });
        // Without an SNAT address SNAT is off (address 0), over the default port range.
        dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 9 });
        assert.deepEqual(
          [config().snat_addr, config().snat_port_min, config().snat_port_max],
          [0, SNAT_PORTS.min, SNAT_PORTS.max],
        );
        assert.throws(
          () => dp.configure({ nodeIPs: [], clusterCIDR: "10.0.0.0/33", hashSeed: 1 }),
          /not an IPv4 CIDR/,
        );
        assert.throws(
          () => dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 1, snatIP: "node-a" }),
          /SNAT address "node-a" is not an IPv4 address/,
        );
        for (const snatIP6 of ["192.168.1.11", "2001:db8::/64"])
          assert.throws(
            () => dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 1, snatIP6 }),
            /SNAT address ".*" is not an IPv6 address/,
          );
        for (const snatPorts of [
          { min: 2000, max: 1999 },
          { min: 0, max: 10 },
          { min: 1, max: 65536 },
        ])
          assert.throws(
            () => dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 1, snatPorts }),
            /SNAT port range .* is not min\.\.max/,
          );
      } finally {
        dp.close();
      }
    });

    test("a full map fails the whole apply with E_CAPACITY and leaves the maps as they were", () => {
      const dp = target.open();
      try {
        dp.apply(frontendOps(1, 3, 0, 0)); // 4 of 8 service entries
        const before = dp.dump();
        const maglevBefore = dp.maps.lookupMany(
          "lb4_maglev",
          new Uint8Array(32 * 4).map((_, i) => (i % 4 === 0 ? i / 4 : 0)),
          32,
        );
        // 2nd frontend: 5 more service entries (4 slots + master) do not fit in 8.
        const ops = [...frontendOps(2, 4, 10, 5), { kind: "revnat-delete", id: 1 } as MapOp];
        assert.throws(
          () => dp.apply(ops),
          (err: unknown) => {
            assert.ok(err instanceof MaplbError);
            assert.equal(err.code, "E_CAPACITY");
            assert.match(err.message, /^updating map lb4_services: E2BIG; raise --map-max/);
            return true;
          },
        );
        assert.deepEqual(dp.dump(), before);
        const maglevAfter = dp.maps.lookupMany(
          "lb4_maglev",
          new Uint8Array(32 * 4).map((_, i) => (i % 4 === 0 ? i / 4 : 0)),
          32,
        );
        assert.deepEqual(maglevAfter, maglevBefore);
      } finally {
        dp.close();
      }
    });

    test("upserts batched into one call that fail midway are undone, and the error names the first that failed", () => {
      const dp = target.open();
      try {
        dp.apply(frontendOps(1, 3, 0, 0)); // backends 1..3 of 16
        const before = dp.dump();
        // 20 consecutive backend upserts go as one batch; the 14th new one (op 17: ids 1..3 exist)
        // finds lb4_backends full, after 13 have landed.
        const ops = Array.from({ length: 20 }, (_, i): MapOp => ({
          kind: "backend-upsert",
          backend: { id: i + 1, address: `10.2.0.${i + 1}`, port: 8080, protocol: "TCP", flags: 0 },
        }));
        assert.throws(
          () => dp.apply(ops),
          (err: unknown) => {
            assert.ok(err instanceof MaplbError);
            assert.equal(err.code, "E_CAPACITY");
            assert.match(
              err.message,
              /lb4_backends: E2BIG.*\(MapOp 17 of 20: backend-upsert; nothing was changed\)/,
            );
            return true;
          },
        );
        assert.deepEqual(dp.dump(), before, "the 16 that landed (3 replaced, 13 new) are undone");
      } finally {
        dp.close();
      }
    });

    test("a batch into a map empty before the apply is undone by deleting what it wrote", () => {
      const dp = target.open();
      try {
        const before = dp.dump();
        // From nothing: no old values are looked up; 16 of the 20 land before lb4_backends is full.
        const ops = Array.from({ length: 20 }, (_, i): MapOp => ({
          kind: "backend-upsert",
          backend: { id: i + 1, address: `10.2.0.${i + 1}`, port: 8080, protocol: "TCP", flags: 0 },
        }));
        assert.throws(() => dp.apply(ops), /lb4_backends: E2BIG.*\(MapOp 17 of 20: backend-upsert/);
        assert.deepEqual(dp.dump(), before);
        dp.apply(ops.slice(0, 16)); // and the map takes them all again
        assert.equal(dp.dump().backends.size, 16);
      } finally {
        dp.close();
      }
    });

    test("a deleted backend's packet counters go with it", () => {
      const dp = target.open();
      try {
        dp.apply(frontendOps(1, 1, 0, 0)); // backend id 1 behind 10.96.0.1:80
        const [r] = dp.process([
          buildFrame({ src: "198.18.0.9", dst: "10.96.0.1", sport: 4000, dport: 80, proto: "TCP" }),
        ]);
        assert.equal(r!.verdict, "DNAT");
        assert.equal(dp.stats().backends.get(1)?.packets, 1n);
        dp.apply([{ kind: "backend-delete", id: 1 }]);
        assert.equal(dp.stats().backends.has(1), false);
      } finally {
        dp.close();
      }
    });

    test("a deleted backend's UDP flows leave conntrack with it; TCP flows stay (the datapath rebalances them)", () => {
      const dp = target.open();
      try {
        const udpKey: FrontendKey = { ...key(2), protocol: "UDP" };
        const udpOps = frontendOps(2, 1, 1, 5).map((op): MapOp => {
          if (op.kind === "backend-upsert") return { ...op, backend: { ...op.backend, protocol: "UDP" } };
          return "key" in op ? { ...op, key: udpKey } : op;
        });
        dp.apply([...frontendOps(1, 1, 0, 0), ...udpOps]); // TCP: backend 1; UDP: backend 2
        const send = (dst: string, proto: "TCP" | "UDP") =>
          dp.process([buildFrame({ src: "198.18.0.9", dst, sport: 4000, dport: 80, proto })])[0]!.verdict;
        assert.equal(send("10.96.0.1", "TCP"), "DNAT");
        assert.equal(send("10.96.0.2", "UDP"), "DNAT");
        const flowsTo = (id: number) =>
          [...dp.maps.entries("ct4")].filter(([, v]) => decode("ct4_entry", v).backend_id === id).length;
        assert.deepEqual([flowsTo(1), flowsTo(2)], [2, 2]); // SERVICE and REPLY entries each
        dp.apply([
          { kind: "backend-delete", id: 1 },
          { kind: "backend-delete", id: 2 },
        ]);
        assert.deepEqual([flowsTo(1), flowsTo(2)], [2, 0]);
      } finally {
        dp.close();
      }
    });

    test("Maglev rows past the end of lb4_maglev are refused before anything is written", () => {
      const dp = target.open();
      try {
        assert.throws(() => dp.apply(frontendOps(1, 2, 0, 30)), /lb4_maglev.*E2BIG; raise --map-max/);
        assert.equal(dp.dump().backends.size, 0);
      } finally {
        dp.close();
      }
    });
  });
}
