// Socket-level LB on the emulated datapath: the translation the cgroup hooks make, as an FFI call.
// The hooks call the packet pipeline's own lookup and choice (datapath/sock.h), so a socket gets
// the backend a packet of the same flow would get; these tests hold them to that, and to the
// socket-only rules (refusal at connect, source ranges, the INT scope, the reverse entry), for
// AF_INET sockets over the lb4 maps and AF_INET6 sockets over the lb6 maps alike.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { openEmulated, type EmulatedDatapath } from "../src/datapath/emulated.js";
import { buildFrame, parseFrame, type FrameSpec } from "../src/datapath/packet.js";
import { buildFrame6, parseFrame6 } from "../src/datapath/packet6.js";
import { socketConnect, socketHashPort, socketPeer, type SocketRequest } from "../src/datapath/socket-lb.js";
import { fe } from "./helpers/datapath-targets.js";
import { SOCK_V4, SOCK_V6, sockBackend, sockFrontends, sockOps } from "./helpers/socket-lb.js";

const NODE = {
  nodeIPs: ["198.18.1.1"],
  clusterCIDR: "198.18.0.0/16",
  clusterCIDR6: "2001:db8::/32",
  hashSeed: 7,
};

/** Both families' frontends in one set of maps, as on a dual-stack node. */
function open(): EmulatedDatapath {
  const dp = openEmulated();
  dp.configure(NODE);
  dp.apply([...sockOps(SOCK_V4), ...sockOps(SOCK_V6)]);
  dp.setClock(1_000_000_000n);
  return dp;
}

/** A packet's destination after the pipeline ran it (the frame is rewritten in place). */
function packetBackend(dp: EmulatedDatapath, spec: FrameSpec): { dst: string; dport: number } {
  const v6 = spec.dst.includes(":");
  const frame = v6 ? buildFrame6(spec) : buildFrame(spec);
  const [res] = dp.process([frame]);
  assert.equal(res!.verdict, "DNAT", `${spec.dst}:${spec.dport}`);
  return (v6 ? parseFrame6(frame) : parseFrame(frame))!;
}

for (const fam of [SOCK_V4, SOCK_V6]) {
  const req = (
    n: number,
    port: number,
    cookie: bigint,
    over: Partial<SocketRequest> = {},
  ): SocketRequest => ({
    cookie,
    source: null,
    client: fam.client,
    address: fam.frontend(n),
    port,
    protocol: "tcp",
    ...over,
  });
  const backendAddresses = (ns: number[]) => ns.map((n) => sockBackend(n, fam).address);

  describe(`socket LB, ${fam.name} sockets (emulated)`, () => {
    test("a socket gets the backend a packet of the same flow gets (random, Maglev, UDP)", () => {
      const sock = open();
      const pkt = open();
      try {
        for (const f of sockFrontends(fam).slice(0, 3)) {
          const seen = new Set<string>();
          const protocol = f.key.protocol === "UDP" ? "udp" : "tcp";
          for (let cookie = 1n; cookie <= 200n; cookie++) {
            const r = socketConnect(sock, {
              ...req(0, f.key.port, cookie * 7919n, { protocol }),
              address: f.key.address,
            });
            assert.equal(r.kind, "backend", `${f.key.address} cookie ${cookie}`);
            if (r.kind !== "backend") continue;
            const out = packetBackend(pkt, {
              src: fam.client,
              dst: f.key.address,
              sport: socketHashPort(cookie * 7919n),
              dport: f.key.port,
              proto: f.key.protocol as "TCP" | "UDP",
            });
            assert.deepEqual([r.address, r.port], [out.dst, out.dport], `${f.key.address} cookie ${cookie}`);
            seen.add(r.address);
          }
          // Sockets spread over every backend, as packets' source ports do.
          assert.deepEqual([...seen].sort(), backendAddresses(f.backendIds).sort(), f.key.address);
        }
      } finally {
        sock.close();
        pkt.close();
      }
    });

    test("a frontend without backends refuses connect() with ECONNREFUSED; a non-frontend is untouched", () => {
      const dp = open();
      try {
        assert.deepEqual(socketConnect(dp, req(7, 80, 1n)), { kind: "refused", errno: "ECONNREFUSED" });
        assert.deepEqual(socketConnect(dp, { ...req(0, 8080, 1n), address: sockBackend(2, fam).address }), {
          kind: "untouched",
        });
        assert.deepEqual(socketConnect(dp, req(1, 81, 1n)), { kind: "untouched" });
        // The TCP frontend is not a UDP one.
        assert.deepEqual(socketConnect(dp, req(1, 80, 1n, { protocol: "udp" })), { kind: "untouched" });
      } finally {
        dp.close();
      }
    });

    test("source ranges: a bound source is checked at connect (EPERM outside); an unbound one is left to the per-packet path", () => {
      const dp = open();
      try {
        assert.equal(socketConnect(dp, req(5, 80, 3n, { source: fam.inside })).kind, "backend");
        assert.deepEqual(socketConnect(dp, req(5, 80, 3n, { source: fam.outside })), {
          kind: "refused",
          errno: "EPERM",
        });
        assert.deepEqual(socketConnect(dp, req(5, 80, 3n)), { kind: "untouched" });
      } finally {
        dp.close();
      }
    });

    test("Local policy: a local socket sees the INT scope (all backends), as Cilium's socket LB", () => {
      const dp = open();
      try {
        const seen = new Set<string>();
        for (let cookie = 1n; cookie <= 50n; cookie++) {
          const r = socketConnect(dp, req(6, 80, cookie));
          assert.equal(r.kind, "backend");
          if (r.kind === "backend") seen.add(r.address);
        }
        assert.deepEqual([...seen].sort(), backendAddresses([3, 4]));
      } finally {
        dp.close();
      }
    });

    test("affinity: every socket of one client gets the backend its first one got", () => {
      const dp = open();
      try {
        for (const client of [1, 2, 3].map((i) => fam.client.replace(/5$/, String(i)))) {
          const first = socketConnect(dp, req(4, 80, 1n, { client }));
          assert.equal(first.kind, "backend");
          for (let cookie = 2n; cookie <= 30n; cookie++)
            assert.deepEqual(socketConnect(dp, req(4, 80, cookie, { client })), first, client);
        }
      } finally {
        dp.close();
      }
    });

    test("getpeername/recvmsg: the socket that was translated sees its frontend; others and stale entries do not", () => {
      const dp = open();
      try {
        const r = socketConnect(dp, req(3, 53, 42n, { protocol: "udp" }));
        assert.equal(r.kind, "backend");
        if (r.kind !== "backend") return;
        assert.deepEqual(socketPeer(dp, 42n, r.address, r.port), {
          address: fam.frontend(3),
          port: 53,
          translated: true,
        });
        assert.deepEqual(socketPeer(dp, 43n, r.address, r.port), {
          address: r.address,
          port: r.port,
          translated: false,
        });
        // The frontend goes away: its reverse entries no longer translate.
        dp.apply([{ kind: "revnat-delete", id: fam.idBase + 3, family: fam.name }]);
        assert.equal(socketPeer(dp, 42n, r.address, r.port).translated, false);
      } finally {
        dp.close();
      }
    });

    test("a UDP socket's reverse entry follows its latest frontend, also when the backend is the same", () => {
      // Two UDP frontends with one backend each, the same one: the socket's entry (cookie, backend)
      // is kept while it still says the frontend asked, and rewritten when another frontend asks.
      const dp = openEmulated();
      try {
        dp.configure(NODE);
        dp.apply(
          sockOps(fam, [
            { key: fe(fam.frontend(10), 53, "UDP"), revNatId: 1, backendIds: [2] },
            { key: fe(fam.frontend(11), 53, "UDP"), revNatId: 2, backendIds: [2] },
          ]),
        );
        const peerAfter = (n: number) => {
          const r = socketConnect(dp, req(n, 53, 9n, { protocol: "udp" }));
          assert.equal(r.kind, "backend");
          if (r.kind !== "backend") return null;
          return socketPeer(dp, 9n, r.address, r.port).address;
        };
        assert.equal(peerAfter(10), fam.frontend(10));
        assert.equal(peerAfter(10), fam.frontend(10)); // unchanged: kept
        assert.equal(peerAfter(11), fam.frontend(11)); // changed: rewritten
        assert.equal(peerAfter(10), fam.frontend(10));
      } finally {
        dp.close();
      }
    });
  });
}

test("an AF_INET6 socket to ::ffff:a.b.c.d gets the IPv4 backend an AF_INET socket gets, mapped, and sees the frontend mapped", () => {
  const dp = open();
  try {
    const mapped = (a: string) => `::ffff:${a}`;
    for (let cookie = 1n; cookie <= 20n; cookie++) {
      const four: SocketRequest = {
        cookie,
        source: null,
        client: "0.0.0.9",
        address: SOCK_V4.frontend(2),
        port: 80,
        protocol: "tcp",
      };
      // An unbound AF_INET6 socket's client, folded to 32 bits, is the AF_INET one's.
      const six = { ...four, client: "::9", address: mapped(four.address) };
      const r4 = socketConnect(dp, four);
      const r6 = socketConnect(dp, six);
      assert.equal(r4.kind, "backend");
      assert.deepEqual(r6, r4.kind === "backend" ? { ...r4, address: mapped(r4.address) } : r4);
      if (r6.kind === "backend")
        assert.deepEqual(socketPeer(dp, cookie, r6.address, r6.port), {
          address: six.address,
          port: 80,
          translated: true,
        });
    }
    // A mapped source is the IPv4 source: the IPv4 frontend's source ranges apply to it.
    const ranged = { cookie: 1n, client: "::", address: mapped(SOCK_V4.frontend(5)), port: 80 } as const;
    assert.deepEqual(socketConnect(dp, { ...ranged, source: mapped(SOCK_V4.outside), protocol: "tcp" }), {
      kind: "refused",
      errno: "EPERM",
    });
    assert.equal(
      socketConnect(dp, { ...ranged, source: mapped(SOCK_V4.inside), protocol: "tcp" }).kind,
      "backend",
    );
  } finally {
    dp.close();
  }
});

test("hostile input is refused with the value named", () => {
  const dp = open();
  try {
    const base: SocketRequest = {
      cookie: 1n,
      source: null,
      client: SOCK_V4.client,
      address: "198.18.200.1",
      port: 80,
      protocol: "tcp",
    };
    assert.throws(
      () => socketConnect(dp, { ...base, address: "198.18.200.1; rm" }),
      /address "198.18.200.1; rm" is not an IPv4 or IPv6 address/,
    );
    assert.throws(() => socketConnect(dp, { ...base, port: 70000 }), /port 70000 is not a port/);
    // A socket has one family: an AF_INET6 request takes IPv6 sources and clients only.
    assert.throws(
      () => socketConnect(dp, { ...base, address: SOCK_V6.frontend(1) }),
      /client "198.18.5.5" is not an IPv6 address/,
    );
    assert.throws(
      () => socketConnect(dp, { ...base, source: "2001:db8::9" }),
      /source "2001:db8::9" is not an IPv4 address/,
    );
    assert.throws(() => socketPeer(dp, 1n, "2001:db8::/64", 80), /"2001:db8::\/64" is not an IPv4 or IPv6/);
  } finally {
    dp.close();
  }
});
