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
import { buildFrame6, checksumValid6 } from "../src/datapath/packet6.js";
import { ipv4ToInt } from "../src/util/ip.js";
import { TARGETS } from "./helpers/datapath-targets.js";

const PORTS: PortRange = { min: 61000, max: 61999 };

/**
 * One family's node and Services: the same scenario over IPv4 and over IPv6, so the cases that
 * show when SNAT applies run on both (snat.h is compiled once per family).
 */
interface Fixture {
  family: "IPv4" | "IPv6";
  nodeIP: string;
  node: NodeSettings;
  /** The settings without an SNAT address of this family, and without a cluster CIDR. */
  noSnat: NodeSettings;
  noClusterCidr: NodeSettings;
  pod: string; // a backend on this node, and a client of its own Service
  otherPod: string; // a pod that is not a backend
  outside: string; // outside the cluster CIDR
  local: BackendEntry;
  remote: BackendEntry;
  remote2: BackendEntry;
  clusterIP: FrontendKey;
  nodePort: FrontendKey;
  nodePortLocalBackend: FrontendKey;
  etpLocal: FrontendKey;
  clusterIPRemote: FrontendKey;
  dns: FrontendKey;
  setup: MapOp[];
}

function fixture(
  family: Fixture["family"],
  a: {
    node: string;
    cidr: string;
    pod: string;
    otherPod: string;
    outside: string;
    remote: (i: number) => string;
  },
  frontend: (i: number) => string,
  externalIP: string,
): Fixture {
  const cidr = family === "IPv4" ? { clusterCIDR: a.cidr } : { clusterCIDR: null, clusterCIDR6: a.cidr };
  const snat = family === "IPv4" ? { snatIP: a.node } : { snatIP6: a.node };
  const node: NodeSettings = { nodeIPs: [a.node], hashSeed: 0x5eed, snatPorts: PORTS, ...cidr, ...snat };
  const local = backend(1, a.pod, BackendFlag.LOCAL);
  const remote = backend(2, a.remote(2));
  const f = {
    clusterIP: fe(frontend(10), 80),
    nodePort: fe(a.node, 30080),
    nodePortLocalBackend: fe(a.node, 30081),
    etpLocal: fe(externalIP, 80),
    etpLocalInt: fe(externalIP, 80, Scope.INT),
    clusterIPRemote: fe(frontend(11), 80),
  };
  return {
    family,
    nodeIP: a.node,
    node,
    noSnat: { ...node, snatIP: null, snatIP6: null },
    noClusterCidr: { ...node, clusterCIDR: null, clusterCIDR6: null },
    pod: a.pod,
    otherPod: a.otherPod,
    outside: a.outside,
    local,
    remote,
    remote2: backend(3, a.remote(3)),
    ...f,
    dns: { ...fe(frontend(12), 53), protocol: "UDP" },
    setup: [
      ...service(f.clusterIP, local, 1),
      ...service(f.nodePort, remote, 2, SvcFlag.NODEPORT),
      ...service(f.nodePortLocalBackend, local, 3, SvcFlag.NODEPORT),
      ...service(f.etpLocal, remote, 4, SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES),
      ...service(f.etpLocalInt, remote, 4, SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES),
      ...service(f.clusterIPRemote, remote, 5),
    ],
  };
}

const V4 = fixture(
  "IPv4",
  {
    node: "192.168.1.11",
    cidr: "10.0.0.0/16",
    pod: "10.0.1.1",
    otherPod: "10.0.0.5",
    outside: "192.0.2.1",
    remote: (i) => `10.0.2.${i}`,
  },
  (i) => `10.96.0.${i}`,
  "203.0.113.2",
);
const V6 = fixture(
  "IPv6",
  {
    node: "2001:db8:ff::11",
    cidr: "2001:db8::/48",
    pod: "2001:db8:0:1::1",
    otherPod: "2001:db8::5",
    outside: "2001:db8:beef::1",
    remote: (i) => `2001:db8:0:2::${i}`,
  },
  (i) => `2001:db8:96::${i}`,
  "2001:db8:113::2",
);

// The IPv4-only cases below use the IPv4 fixture by these names.
const {
  nodeIP: NODE_IP,
  node: NODE,
  pod: POD,
  outside: OUTSIDE,
  local: LOCAL,
  remote: REMOTE,
  remote2: REMOTE2,
} = V4;
const { clusterIP: CLUSTER_IP, nodePort: NODE_PORT, setup: SETUP } = V4;

function backend(id: number, address: string, flags = 0): BackendEntry {
  return { id, address, port: 8080, protocol: "TCP", flags };
}

function fe(address: string, port: number, scope: Scope = Scope.EXT): FrontendKey {
  return { address, port, protocol: "TCP", scope };
}

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

const isIPv6 = (spec: FrameSpec) => spec.src.includes(":");
const build = (spec: FrameSpec) => (isIPv6(spec) ? buildFrame6(spec) : buildFrame(spec));
const checksums = (frame: Uint8Array, spec: FrameSpec) =>
  isIPv6(spec) ? { ip: true, l4: checksumValid6(frame) } : checksumsValid(frame); // IPv6: no IP checksum

/** Runs one frame; returns the result and the frame as it came out. */
function run(dp: Datapath, spec: FrameSpec): { result: PacketResult; out: Uint8Array } {
  const frame = build(spec);
  const [result] = dp.process([frame]);
  return { result: result!, out: frame };
}

/** The frame must come out exactly as `want` would be built (and so with correct checksums). */
function assertOut(got: { result: PacketResult; out: Uint8Array }, verdict: string, want: FrameSpec) {
  assert.deepEqual(got.result, { verdict, reason: "OK" });
  assert.equal(Buffer.from(got.out).toString("hex"), Buffer.from(build(want)).toString("hex"));
  assert.deepEqual(checksums(got.out, want), { ip: true, l4: true });
}

/** The request, source-NATed to nodeIP:port and DNATed to `to`; then the reply, back to the client. */
function assertSnatRoundTrip(
  dp: Datapath,
  spec: FrameSpec,
  to: BackendEntry,
  port: number,
  nodeIP = NODE_IP,
) {
  const snated = { ...spec, src: nodeIP, sport: port, dst: to.address, dport: to.port };
  assertOut(run(dp, spec), "DNAT", snated);
  assertOut(run(dp, spec), "DNAT", snated); // established: the same translation
  const reply = { ...spec, src: to.address, sport: to.port, dst: nodeIP, dport: port, tcpFlags: 0x12 };
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

    for (const fx of [V4, V6]) {
      const withFixture = (settings: NodeSettings, body: (dp: Datapath) => void) => () => {
        const dp = target.open();
        try {
          dp.configure(settings);
          dp.apply(fx.setup);
          body(dp);
        } finally {
          dp.close();
        }
      };
      const roundTrip = (dp: Datapath, spec: FrameSpec, to: BackendEntry) =>
        assertSnatRoundTrip(dp, spec, to, snatPort(spec), fx.nodeIP);

      describe(fx.family, () => {
        test(
          "hairpin: a pod reaching itself through its ClusterIP gets the node's address, and the reply comes back from the frontend",
          withFixture(fx.node, (dp) => roundTrip(dp, tcp(fx.pod, 40000, fx.clusterIP), fx.local)),
        );

        test(
          // IPv6 requires a UDP checksum (RFC 8200 8.1): only IPv4 has one of zero.
          "hairpin over UDP (IPv4 without a checksum: both rewrites keep it at zero)",
          withFixture(fx.node, (dp) => {
            const b: BackendEntry = { ...fx.local, id: 7, protocol: "UDP", port: 53 };
            dp.apply(service(fx.dns, b, 7));
            const noUdpChecksum = fx.family === "IPv4";
            roundTrip(dp, { ...tcp(fx.pod, 40000, fx.dns), proto: "UDP", noUdpChecksum }, b);
          }),
        );

        test(
          "a NodePort (externalTrafficPolicy=Cluster) whose backend is on another node: SNAT from outside and from a pod",
          withFixture(fx.node, (dp) => {
            for (const client of [fx.outside, fx.otherPod])
              roundTrip(dp, tcp(client, 40001, fx.nodePort), fx.remote);
          }),
        );

        test(
          "no SNAT where the reply comes back anyway or policy Local keeps the client",
          withFixture(fx.node, (dp) => {
            assertNoSnat(dp, tcp(fx.outside, 40002, fx.nodePortLocalBackend), fx.local); // backend on this node
            assertNoSnat(dp, tcp(fx.outside, 40003, fx.etpLocal), fx.remote); // ETP=Local, EXT scope
            assertNoSnat(dp, tcp(fx.otherPod, 40004, fx.etpLocal), fx.remote); // ETP=Local, INT scope
            assertNoSnat(dp, tcp(fx.otherPod, 40005, fx.clusterIPRemote), fx.remote); // pod -> ClusterIP
            assertNoSnat(dp, tcp(fx.otherPod, 40006, fx.clusterIP), fx.local);
          }),
        );

        test(
          "a ClusterIP from outside the cluster CIDR (kube-proxy's `! -s CLUSTERCIDR`) to a backend on another node",
          withFixture(fx.node, (dp) => {
            roundTrip(dp, tcp(fx.outside, 40007, fx.clusterIPRemote), fx.remote);
            // Without a cluster CIDR kube-proxy writes no such rule, and maplb does not SNAT either.
            dp.configure(fx.noClusterCidr);
            assertNoSnat(dp, tcp(fx.outside, 40008, fx.clusterIPRemote), fx.remote);
          }),
        );

        test(
          "without an SNAT address of the family nothing is source-NATed (the hairpin is DNAT only)",
          withFixture(fx.noSnat, (dp) => {
            assertNoSnat(dp, tcp(fx.pod, 40009, fx.clusterIP), fx.local);
            assertNoSnat(dp, tcp(fx.outside, 40010, fx.nodePort), fx.remote);
          }),
        );
      });
    }

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
