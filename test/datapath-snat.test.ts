// Source NAT where kube-proxy masquerades (native/datapath/snat.h), packet by packet on both targets:
// which flows get the node's address and an allocated port, their replies translated back to
// client <- frontend, port collisions and exhaustion, an evicted port reservation, and the flows that
// keep their client address (policy Local, a backend on this node, pod traffic to a ClusterIP); TCP
// close reaching both entries of a SNATed flow. The UDP idle timeout and the close timeout run on
// the emulated target only, whose clock the test sets.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Algorithm,
  BackendFlag,
  Scope,
  SvcFlag,
  type BackendEntry,
  type FrontendKey,
  type MapOp,
} from "../src/compile/tables.js";
import { CT_REPLY } from "../src/datapath/abi.js";
import { encode } from "../src/datapath/codec.js";
import type { Datapath, NodeSettings, PacketResult, PortRange } from "../src/datapath/datapath.js";
import { openEmulated } from "../src/datapath/emulated.js";
import { flowHash, snatPortCandidate } from "../src/datapath/flow-hash.js";
import { PROTO_NUMBER } from "../src/datapath/map-writes.js";
import { buildFrame, checksumsValid, TcpFlag, type FrameSpec } from "../src/datapath/packet.js";
import { ipv4ToInt } from "../src/util/ip.js";
import { TARGETS } from "./helpers/datapath-targets.js";

const NODE_IP = "192.168.1.11";
const PORTS: PortRange = { min: 61000, max: 61999 };
const NODE: NodeSettings = {
  nodeIPs: [NODE_IP],
  clusterCIDR: "10.0.0.0/16",
  hashSeed: 0x5eed,
  snatIP: NODE_IP,
  snatPorts: PORTS,
};

const POD = "10.0.1.1"; // a backend on this node, and a client of its own Service
const OTHER_POD = "10.0.0.5"; // a pod that is not a backend
const OUTSIDE = "192.0.2.1"; // outside the cluster CIDR
const LOCAL = backend(1, POD, BackendFlag.LOCAL);
const REMOTE = backend(2, "10.0.2.2");
const REMOTE2 = backend(3, "10.0.2.3");

function backend(id: number, address: string, flags = 0): BackendEntry {
  return { id, address, port: 8080, protocol: "TCP", flags };
}

const fe = (address: string, port: number, scope: Scope = Scope.EXT): FrontendKey => ({
  address,
  port,
  protocol: "TCP",
  scope,
});

/** One frontend whose only slot is `b` (random algorithm): every flow goes to it. */
function service(key: FrontendKey, b: BackendEntry, revNatId: number, flags = 0): MapOp[] {
  return [
    { kind: "backend-upsert", backend: b },
    { kind: "slot-upsert", key, slot: 1, backendId: b.id, revNatId },
    { kind: "revnat-upsert", entry: { id: revNatId, address: key.address, port: key.port } },
    {
      kind: "master-upsert",
      key,
      master: {
        count: 1,
        revNatId,
        flags,
        algorithm: Algorithm.random,
        affinityTimeout: 0,
        maglevOffset: 0,
        maglevSize: 0,
      },
    },
  ];
}

const CLUSTER_IP = fe("10.96.0.10", 80);
const NODE_PORT = fe(NODE_IP, 30080);
const NODE_PORT_LOCAL_BACKEND = fe(NODE_IP, 30081);
const ETP_LOCAL = fe("203.0.113.2", 80);
const ETP_LOCAL_INT = fe("203.0.113.2", 80, Scope.INT);
const CLUSTER_IP_REMOTE = fe("10.96.0.11", 80);
const SETUP: MapOp[] = [
  ...service(CLUSTER_IP, LOCAL, 1),
  ...service(NODE_PORT, REMOTE, 2, SvcFlag.NODEPORT),
  ...service(NODE_PORT_LOCAL_BACKEND, LOCAL, 3, SvcFlag.NODEPORT),
  ...service(ETP_LOCAL, REMOTE, 4, SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES),
  ...service(ETP_LOCAL_INT, REMOTE, 4, SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES),
  ...service(CLUSTER_IP_REMOTE, REMOTE, 5),
];

const tcp = (src: string, sport: number, dst: FrontendKey, extra: Partial<FrameSpec> = {}): FrameSpec => ({
  src,
  sport,
  dst: dst.address,
  dport: dst.port,
  proto: "TCP",
  ...extra,
});

/** The port SNAT gives a flow when its first `taken` candidates are taken. */
const snatPort = (spec: FrameSpec, taken = 0, ports = PORTS) =>
  snatPortCandidate(flowHash(spec, NODE.hashSeed), taken, ports);

/** Runs one frame; returns the result and the frame as it came out. */
function run(dp: Datapath, spec: FrameSpec): { result: PacketResult; out: Uint8Array } {
  const frame = buildFrame(spec);
  const [result] = dp.process([frame]);
  return { result: result!, out: frame };
}

/** The frame must come out exactly as `want` would be built (and so with correct checksums). */
function assertOut(got: { result: PacketResult; out: Uint8Array }, verdict: string, want: FrameSpec) {
  assert.deepEqual(got.result, { verdict, reason: "OK" });
  assert.equal(Buffer.from(got.out).toString("hex"), Buffer.from(buildFrame(want)).toString("hex"));
  assert.deepEqual(checksumsValid(got.out), { ip: true, l4: true });
}

/** The request, source-NATed to NODE_IP:port and DNATed to `to`; then the reply, back to the client. */
function assertSnatRoundTrip(dp: Datapath, spec: FrameSpec, to: BackendEntry, port: number) {
  const snated = { ...spec, src: NODE_IP, sport: port, dst: to.address, dport: to.port };
  assertOut(run(dp, spec), "DNAT", snated);
  assertOut(run(dp, spec), "DNAT", snated); // established: the same translation
  const reply = { ...spec, src: to.address, sport: to.port, dst: NODE_IP, dport: port, tcpFlags: 0x12 };
  assertOut(run(dp, reply), "REVNAT", {
    ...reply,
    src: spec.dst,
    sport: spec.dport,
    dst: spec.src,
    dport: spec.sport,
  });
}

/** Plain DNAT: the backend sees the client. */
function assertNoSnat(dp: Datapath, spec: FrameSpec, to: BackendEntry) {
  assertOut(run(dp, spec), "DNAT", { ...spec, dst: to.address, dport: to.port });
}

/** A REPLY conntrack entry backend -> node:port, as another flow's reservation of that port. */
function takePort(dp: Datapath, b: BackendEntry, port: number) {
  const key = encode("ct4_key", {
    saddr: ipv4ToInt(b.address),
    daddr: ipv4ToInt(NODE_IP),
    sport: b.port,
    dport: port,
    proto: PROTO_NUMBER.TCP,
    direction: CT_REPLY,
  });
  dp.maps.update("ct4", key, encode("ct4_entry", { backend_id: 99, snat_addr: ipv4ToInt("10.0.9.9") }));
  return key;
}

for (const target of TARGETS) {
  describe(`SNAT where kube-proxy masquerades: ${target.name}`, { skip: target.skip }, () => {
    const withDatapath = (settings: NodeSettings, body: (dp: Datapath) => void) => () => {
      const dp = target.open();
      try {
        dp.configure(settings);
        dp.apply(SETUP);
        body(dp);
      } finally {
        dp.close();
      }
    };

    test(
      "hairpin: a pod reaching itself through its ClusterIP gets the node's address, and the reply comes back from the frontend",
      withDatapath(NODE, (dp) => {
        const spec = tcp(POD, 40000, CLUSTER_IP);
        assertSnatRoundTrip(dp, spec, LOCAL, snatPort(spec));
      }),
    );

    test(
      "hairpin over UDP without a checksum: both rewrites keep it at zero",
      withDatapath(NODE, (dp) => {
        const dns = { ...fe("10.96.0.12", 53), protocol: "UDP" as const };
        const b: BackendEntry = { ...LOCAL, id: 7, protocol: "UDP", port: 53 };
        dp.apply(service(dns, b, 7));
        const spec: FrameSpec = { ...tcp(POD, 40000, dns), proto: "UDP", noUdpChecksum: true };
        assertSnatRoundTrip(dp, spec, b, snatPort(spec));
      }),
    );

    test(
      "a NodePort (externalTrafficPolicy=Cluster) whose backend is on another node: SNAT from outside and from a pod",
      withDatapath(NODE, (dp) => {
        for (const client of [OUTSIDE, OTHER_POD]) {
          const spec = tcp(client, 40001, NODE_PORT);
          assertSnatRoundTrip(dp, spec, REMOTE, snatPort(spec));
        }
      }),
    );

    test(
      "no SNAT where the reply comes back anyway or policy Local keeps the client",
      withDatapath(NODE, (dp) => {
        assertNoSnat(dp, tcp(OUTSIDE, 40002, NODE_PORT_LOCAL_BACKEND), LOCAL); // backend on this node
        assertNoSnat(dp, tcp(OUTSIDE, 40003, ETP_LOCAL), REMOTE); // ETP=Local, EXT scope
        assertNoSnat(dp, tcp(OTHER_POD, 40004, ETP_LOCAL), REMOTE); // ETP=Local, INT scope
        assertNoSnat(dp, tcp(OTHER_POD, 40005, CLUSTER_IP_REMOTE), REMOTE); // pod -> ClusterIP
        assertNoSnat(dp, tcp(OTHER_POD, 40006, CLUSTER_IP), LOCAL);
      }),
    );

    test(
      "a ClusterIP from outside the cluster CIDR (kube-proxy's `! -s CLUSTERCIDR`) to a backend on another node",
      withDatapath(NODE, (dp) => {
        const spec = tcp(OUTSIDE, 40007, CLUSTER_IP_REMOTE);
        assertSnatRoundTrip(dp, spec, REMOTE, snatPort(spec));
        // Without a cluster CIDR kube-proxy writes no such rule, and maplb does not SNAT either.
        dp.configure({ ...NODE, clusterCIDR: null });
        assertNoSnat(dp, tcp(OUTSIDE, 40008, CLUSTER_IP_REMOTE), REMOTE);
      }),
    );

    test(
      "without an SNAT address nothing is source-NATed (the hairpin is DNAT only)",
      withDatapath({ ...NODE, snatIP: null }, (dp) => {
        assertNoSnat(dp, tcp(POD, 40009, CLUSTER_IP), LOCAL);
        assertNoSnat(dp, tcp(OUTSIDE, 40010, NODE_PORT), REMOTE);
      }),
    );

    test(
      "port allocation: a taken port is skipped for the next candidate; ports are per backend",
      withDatapath(NODE, (dp) => {
        const spec = tcp(OUTSIDE, 40011, NODE_PORT);
        takePort(dp, REMOTE, snatPort(spec, 0));
        takePort(dp, REMOTE, snatPort(spec, 1));
        assert.notEqual(snatPort(spec, 2), snatPort(spec, 0));
        assertSnatRoundTrip(dp, spec, REMOTE, snatPort(spec, 2));
        // The same port is free towards another backend.
        dp.apply(service(NODE_PORT, REMOTE2, 2, SvcFlag.NODEPORT));
        const other = tcp(OUTSIDE, 40012, NODE_PORT);
        takePort(dp, REMOTE2, snatPort(other, 1)); // not the first: the first must still be given
        assertSnatRoundTrip(dp, other, REMOTE2, snatPort(other, 0));
      }),
    );

    test(
      "every port taken: the new flow is dropped with SNAT_NO_PORT and counted; flows to other backends still go",
      withDatapath({ ...NODE, snatPorts: { min: 62000, max: 62000 } }, (dp) => {
        const one = { min: 62000, max: 62000 };
        const first = tcp(OUTSIDE, 40013, NODE_PORT);
        assertSnatRoundTrip(dp, first, REMOTE, snatPort(first, 0, one));
        const second = run(dp, tcp(OUTSIDE, 40014, NODE_PORT));
        assert.deepEqual(second.result, { verdict: "DROP", reason: "SNAT_NO_PORT" });
        assert.equal(dp.stats().reasons.SNAT_NO_PORT, 1n);
        assertSnatRoundTrip(dp, tcp(POD, 40015, CLUSTER_IP), LOCAL, 62000); // another backend
      }),
    );

    test(
      "an established flow whose port reservation was evicted puts it back, unless another flow took the port",
      withDatapath({ ...NODE, snatPorts: { min: 62000, max: 62000 } }, (dp) => {
        const a = tcp(OUTSIDE, 40016, NODE_PORT);
        assertSnatRoundTrip(dp, a, REMOTE, 62000);
        const reservation = takePort(dp, REMOTE, 62000); // its key, overwritten with a stranger
        dp.maps.delete("ct4", reservation); // as an LRU eviction would
        assertSnatRoundTrip(dp, a, REMOTE, 62000); // restored: the reply finds the client again
        dp.maps.delete("ct4", reservation);
        const b = tcp(OUTSIDE, 40017, NODE_PORT);
        assertSnatRoundTrip(dp, b, REMOTE, 62000); // b takes the free port
        // a may not send from b's port: it is balanced anew, and finds no port.
        assert.deepEqual(run(dp, a).result, { verdict: "DROP", reason: "SNAT_NO_PORT" });
        const replyToB = { ...b, src: REMOTE.address, sport: 8080, dst: NODE_IP, dport: 62000 };
        assertOut(run(dp, replyToB), "REVNAT", {
          ...replyToB,
          src: b.dst,
          sport: b.dport,
          dst: b.src,
          dport: b.sport,
        });
      }),
    );

    test(
      "TCP close on a SNATed flow reaches both its entries: a SYN on the closed tuple is balanced anew, with its port freed and given again",
      withDatapath({ ...NODE, snatPorts: { min: 62000, max: 62000 } }, (dp) => {
        const a = tcp(OUTSIDE, 40018, NODE_PORT);
        const fromBackend = (b: BackendEntry, flags: number): FrameSpec => ({
          ...a,
          src: b.address,
          sport: b.port,
          dst: NODE_IP,
          dport: 62000,
          tcpFlags: flags,
        });
        const toClient = (spec: FrameSpec): FrameSpec => ({
          ...spec,
          src: a.dst,
          sport: a.dport,
          dst: a.src,
          dport: a.sport,
        });
        // FINs both ways: the client's reaches the reservation (keyed backend -> node:port), so the
        // SYN that follows finds the flow closed and frees its port for itself.
        assertSnatRoundTrip(dp, a, REMOTE, 62000);
        const fin = { ...a, tcpFlags: TcpFlag.FIN | TcpFlag.ACK };
        assertOut(run(dp, fin), "DNAT", {
          ...fin,
          src: NODE_IP,
          sport: 62000,
          dst: REMOTE.address,
          dport: 8080,
        });
        const finBack = fromBackend(REMOTE, TcpFlag.FIN | TcpFlag.ACK);
        assertOut(run(dp, finBack), "REVNAT", toClient(finBack));
        assertSnatRoundTrip(dp, a, REMOTE, 62000);
        assert.deepEqual(run(dp, tcp(OUTSIDE, 40019, NODE_PORT)).result, {
          verdict: "DROP",
          reason: "SNAT_NO_PORT",
        });
        // An RST from the backend reaches the client's entry (found through the client the
        // reservation records): the next SYN goes to the slot's new backend.
        const rst = fromBackend(REMOTE, TcpFlag.RST);
        assertOut(run(dp, rst), "REVNAT", toClient(rst));
        dp.apply(service(NODE_PORT, REMOTE2, 2, SvcFlag.NODEPORT));
        assertSnatRoundTrip(dp, a, REMOTE2, 62000);
      }),
    );
  });
}

test("a UDP flow's port lapses after 120 s without a packet, renewed by each packet either way; a TCP flow's does not (emulated: the clock is set by the test)", () => {
  const dp = openEmulated();
  const second = 1_000_000_000n;
  try {
    dp.configure({ ...NODE, snatPorts: { min: 62000, max: 62000 } });
    const udp = { ...NODE_PORT, protocol: "UDP" as const };
    const b: BackendEntry = { ...REMOTE, id: 8, protocol: "UDP" };
    dp.apply([...SETUP, ...service(udp, b, 8, SvcFlag.NODEPORT)]);
    const flow = (sport: number): FrameSpec => ({ ...tcp(OUTSIDE, sport, udp), proto: "UDP" });
    const reply = (spec: FrameSpec): FrameSpec => ({
      ...spec,
      src: b.address,
      sport: 8080,
      dst: NODE_IP,
      dport: 62000,
    });

    dp.setClock(1000n * second);
    const a = flow(40100);
    assertSnatRoundTrip(dp, a, b, 62000);
    dp.setClock(1100n * second);
    assert.equal(run(dp, reply(a)).result.verdict, "REVNAT"); // a reply renews the port too
    dp.setClock(1200n * second); // idle 100 s since the reply
    assert.deepEqual(run(dp, flow(40101)).result, { verdict: "DROP", reason: "SNAT_NO_PORT" });
    dp.setClock(1321n * second); // idle 121 s: lapsed, and another flow gets the port
    const c = flow(40102);
    assertSnatRoundTrip(dp, c, b, 62000);
    assert.deepEqual(run(dp, a).result, { verdict: "DROP", reason: "SNAT_NO_PORT" }, "a lost its port");

    // TCP: idle or not, the port stays with the flow.
    const t = tcp(OUTSIDE, 40103, NODE_PORT);
    assertSnatRoundTrip(dp, t, REMOTE, 62000);
    dp.setClock(100_000n * second);
    assert.deepEqual(run(dp, tcp(OUTSIDE, 40104, NODE_PORT)).result, {
      verdict: "DROP",
      reason: "SNAT_NO_PORT",
    });
    assertSnatRoundTrip(dp, t, REMOTE, 62000);
  } finally {
    dp.close();
  }
});

test("a closed SNATed TCP flow's port is freed after the close timeout, as conntrack ages it (emulated: the clock is set by the test)", () => {
  const dp = openEmulated();
  const second = 1_000_000_000n;
  try {
    dp.configure({ ...NODE, snatPorts: { min: 62000, max: 62000 } });
    dp.apply(SETUP);
    const a = tcp(OUTSIDE, 40200, NODE_PORT);
    const b = tcp(OUTSIDE, 40201, NODE_PORT);
    const noPort = { verdict: "DROP", reason: "SNAT_NO_PORT" };
    dp.setClock(1000n * second);
    assertSnatRoundTrip(dp, a, REMOTE, 62000);
    const fin = { ...a, tcpFlags: TcpFlag.FIN | TcpFlag.ACK };
    assert.equal(run(dp, fin).result.verdict, "DNAT");
    const finBack = { ...fin, src: REMOTE.address, sport: 8080, dst: NODE_IP, dport: 62000 };
    assert.equal(run(dp, finBack).result.verdict, "REVNAT"); // closed at 1000 s
    dp.setClock(1009n * second);
    assert.deepEqual(run(dp, b).result, noPort, "within the close timeout the port is still a's");
    assertOut(run(dp, { ...a, tcpFlags: TcpFlag.ACK }), "DNAT", {
      ...a,
      tcpFlags: TcpFlag.ACK,
      src: NODE_IP,
      sport: 62000,
      dst: REMOTE.address,
      dport: 8080,
    }); // the last ACK
    dp.setClock(1011n * second);
    assertSnatRoundTrip(dp, b, REMOTE, 62000);
    assert.deepEqual(run(dp, { ...a, tcpFlags: TcpFlag.ACK }).result, noPort, "a is gone");
  } finally {
    dp.close();
  }
});
