// Socket-level LB on the emulated datapath: the translation the cgroup hooks make, as an FFI call.
// The hooks call the packet pipeline's own lookup and choice (datapath/sock.h), so a socket gets
// the backend a packet of the same flow would get; these tests hold them to that, and to the
// socket-only rules: refusal at connect, source ranges, the INT scope, the reverse entry.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openEmulated, type EmulatedDatapath } from "../src/datapath/emulated.js";
import { buildFrame, parseFrame } from "../src/datapath/packet.js";
import { socketConnect, socketHashPort, socketPeer, type SocketRequest } from "../src/datapath/socket-lb.js";
import { fe } from "./helpers/datapath-targets.js";
import { SOCK_FRONTENDS, sockBackend, sockOps } from "./helpers/socket-lb.js";

const NODE = { nodeIPs: ["198.18.1.1"], clusterCIDR: "198.18.0.0/16", hashSeed: 7 };

function open(): EmulatedDatapath {
  const dp = openEmulated();
  dp.configure(NODE);
  dp.apply(sockOps());
  dp.setClock(1_000_000_000n);
  return dp;
}

const req = (
  address: string,
  port: number,
  cookie: bigint,
  over: Partial<SocketRequest> = {},
): SocketRequest => ({
  cookie,
  source: null,
  client: "198.18.5.5",
  address,
  port,
  protocol: "tcp",
  ...over,
});

const backendAddresses = (ids: number[]) => ids.map((id) => sockBackend(id).address);

test("a socket gets the backend a packet of the same flow gets (random, Maglev, UDP)", () => {
  const sock = open();
  const pkt = open();
  try {
    for (const f of SOCK_FRONTENDS.slice(0, 3)) {
      const seen = new Set<string>();
      for (let cookie = 1n; cookie <= 200n; cookie++) {
        const protocol = f.key.protocol === "UDP" ? "udp" : "tcp";
        const r = socketConnect(sock, req(f.key.address, f.key.port, cookie * 7919n, { protocol }));
        assert.equal(r.kind, "backend", `${f.key.address} cookie ${cookie}`);
        if (r.kind !== "backend") continue;
        const frame = buildFrame({
          src: "198.18.5.5",
          dst: f.key.address,
          sport: socketHashPort(cookie * 7919n),
          dport: f.key.port,
          proto: f.key.protocol as "TCP" | "UDP",
        });
        const [res] = pkt.process([frame]);
        assert.equal(res!.verdict, "DNAT");
        const out = parseFrame(frame)!;
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
    assert.deepEqual(socketConnect(dp, req("198.18.200.7", 80, 1n)), {
      kind: "refused",
      errno: "ECONNREFUSED",
    });
    assert.deepEqual(socketConnect(dp, req("198.18.0.2", 8080, 1n)), { kind: "untouched" });
    assert.deepEqual(socketConnect(dp, req("198.18.200.1", 81, 1n)), { kind: "untouched" });
    // The TCP frontend is not a UDP one.
    assert.deepEqual(socketConnect(dp, req("198.18.200.1", 80, 1n, { protocol: "udp" })), {
      kind: "untouched",
    });
  } finally {
    dp.close();
  }
});

test("source ranges: a bound source is checked at connect (EPERM outside); an unbound one is left to the per-packet path", () => {
  const dp = open();
  try {
    const inside = socketConnect(dp, req("198.18.200.5", 80, 3n, { source: "198.18.201.9" }));
    assert.equal(inside.kind, "backend");
    assert.deepEqual(socketConnect(dp, req("198.18.200.5", 80, 3n, { source: "198.18.202.9" })), {
      kind: "refused",
      errno: "EPERM",
    });
    assert.deepEqual(socketConnect(dp, req("198.18.200.5", 80, 3n)), { kind: "untouched" });
  } finally {
    dp.close();
  }
});

test("Local policy: a local socket sees the INT scope (all backends), as Cilium's socket LB", () => {
  const dp = open();
  try {
    const seen = new Set<string>();
    for (let cookie = 1n; cookie <= 50n; cookie++) {
      const r = socketConnect(dp, req("198.18.200.6", 80, cookie));
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
    for (const client of ["198.18.5.1", "198.18.5.2", "198.18.5.3"]) {
      const first = socketConnect(dp, req("198.18.200.4", 80, 1n, { client }));
      assert.equal(first.kind, "backend");
      for (let cookie = 2n; cookie <= 30n; cookie++)
        assert.deepEqual(socketConnect(dp, req("198.18.200.4", 80, cookie, { client })), first, client);
    }
  } finally {
    dp.close();
  }
});

test("getpeername/recvmsg: the socket that was translated sees its frontend; others and stale entries do not", () => {
  const dp = open();
  try {
    const r = socketConnect(dp, req("198.18.200.3", 53, 42n, { protocol: "udp" }));
    assert.equal(r.kind, "backend");
    if (r.kind !== "backend") return;
    assert.deepEqual(socketPeer(dp, 42n, r.address, r.port), {
      address: "198.18.200.3",
      port: 53,
      translated: true,
    });
    assert.deepEqual(socketPeer(dp, 43n, r.address, r.port), {
      address: r.address,
      port: r.port,
      translated: false,
    });
    // The frontend goes away: its reverse entries no longer translate.
    dp.apply([{ kind: "revnat-delete", id: 3 }]);
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
      sockOps([
        { key: fe("198.18.210.1", 53, "UDP"), revNatId: 1, backendIds: [2] },
        { key: fe("198.18.210.2", 53, "UDP"), revNatId: 2, backendIds: [2] },
      ]),
    );
    const peerAfter = (address: string) => {
      const r = socketConnect(dp, req(address, 53, 9n, { protocol: "udp" }));
      assert.equal(r.kind, "backend");
      if (r.kind !== "backend") return null;
      return socketPeer(dp, 9n, r.address, r.port).address;
    };
    assert.equal(peerAfter("198.18.210.1"), "198.18.210.1");
    assert.equal(peerAfter("198.18.210.1"), "198.18.210.1"); // unchanged: kept
    assert.equal(peerAfter("198.18.210.2"), "198.18.210.2"); // changed: rewritten
    assert.equal(peerAfter("198.18.210.1"), "198.18.210.1");
  } finally {
    dp.close();
  }
});

test("hostile input is refused with the value named", () => {
  const dp = open();
  try {
    assert.throws(
      () => socketConnect(dp, req("198.18.200.1; rm", 80, 1n)),
      /address "198.18.200.1; rm" is not an IPv4/,
    );
    assert.throws(() => socketConnect(dp, req("198.18.200.1", 70000, 1n)), /port 70000 is not a port/);
  } finally {
    dp.close();
  }
});
