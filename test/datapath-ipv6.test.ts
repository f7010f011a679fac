// Golden IPv6 packets, as datapath-golden.test.ts does for IPv4: each case puts IPv6 frontends in
// the lb6 maps, sends frames built from scratch, and checks the verdict, the reason and the exact
// bytes that come out (a rewritten frame must equal the same frame built with the new addresses,
// checksums computed afresh). Every case runs on both targets.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Scope, SvcFlag } from "../src/compile/tables.js";
import type { Datapath, PacketResult } from "../src/datapath/datapath.js";
import { TcpFlag } from "../src/datapath/packet.js";
import {
  buildFrame6,
  buildIcmp6,
  checksumValid6,
  fragment6,
  Icmp6Type,
  NextHeader,
  parseFrame6,
  type Frame6Spec,
} from "../src/datapath/packet6.js";
import { TARGETS } from "./helpers/datapath-targets.js";
import { putNodeAddr6, putService6, setClusterCidr6, type Backend6 } from "./helpers/lb6-maps.js";

const FRONTEND = "2001:db8:96::10";
const CLIENT = "2001:db8:0:1::5";
const B1: Backend6 = { id: 1, address: "2001:db8:1::1", port: 8080 };
const B2: Backend6 = { id: 2, address: "2001:db8:1::2", port: 8080 };
const NODE6 = "2001:db8:ff::11";

const tcp = (sport: number, extra: Partial<Frame6Spec> = {}): Frame6Spec => ({
  src: CLIENT,
  dst: FRONTEND,
  sport,
  dport: 80,
  proto: "TCP",
  ...extra,
});
const udp = (sport: number, extra: Partial<Frame6Spec> = {}): Frame6Spec => ({
  ...tcp(sport, extra),
  proto: "UDP",
  ...extra,
});

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Runs one frame; returns the result and the frame as it came out. */
function send(dp: Datapath, frame: Uint8Array): PacketResult & { out: Uint8Array } {
  const out = Uint8Array.from(frame);
  const [r] = dp.process([out]);
  return { ...r!, out };
}

/** The frame must come out as `expected` built afresh, with a valid checksum. */
function expectRewrite(dp: Datapath, spec: Frame6Spec, expected: Frame6Spec, verdict: "DNAT" | "REVNAT") {
  const r = send(dp, buildFrame6(spec));
  assert.deepEqual([r.verdict, r.reason], [verdict, "OK"]);
  assert.equal(hex(r.out), hex(buildFrame6(expected)));
  assert.ok(checksumValid6(r.out), "the L4 checksum, recomputed over the new pseudo-header");
}

function expectUntouched(dp: Datapath, frame: Uint8Array, verdict: string, reason: string) {
  const r = send(dp, frame);
  assert.deepEqual([r.verdict, r.reason], [verdict, reason]);
  assert.equal(hex(r.out), hex(frame), "untouched");
}

const clusterIp = (dp: Datapath, backends = [B1], extra: Partial<Parameters<typeof putService6>[1]> = {}) =>
  putService6(dp, { address: FRONTEND, port: 80, backends, revNatId: 7, ...extra });

/** A UDP payload whose checksum, to the backend, sums to zero: sent as 0xffff, never as 0. */
function zeroSumPayload(to: Backend6): Uint8Array {
  for (let n = 0; n < 65536; n++) {
    const payload = Uint8Array.of(n >> 8, n & 0xff);
    const frame = buildFrame6(udp(40000, { dst: to.address, dport: to.port, payload }));
    if (parseFrame6(frame)!.l4Checksum === 0xffff) return payload;
  }
  throw new Error("no such payload");
}

for (const target of TARGETS) {
  describe(`IPv6 golden packets: ${target.name}`, { skip: target.skip }, () => {
    const withDp = (fn: (dp: Datapath) => void) => () => {
      const dp = target.open();
      try {
        dp.configure({ nodeIPs: [], clusterCIDR: null, hashSeed: 0x5eed });
        fn(dp);
      } finally {
        dp.close();
      }
    };

    it(
      "TCP to a ClusterIP: DNAT to the backend, then the reply reverse-NATed, checksums right",
      withDp((dp) => {
        clusterIp(dp);
        expectRewrite(dp, tcp(40000), tcp(40000, { dst: B1.address, dport: 8080 }), "DNAT");
        const reply = { src: B1.address, dst: CLIENT, sport: 8080, dport: 40000, proto: "TCP" as const };
        expectRewrite(
          dp,
          { ...reply, tcpFlags: TcpFlag.SYN | TcpFlag.ACK },
          { ...reply, src: FRONTEND, sport: 80, tcpFlags: TcpFlag.SYN | TcpFlag.ACK },
          "REVNAT",
        );
        const s = dp.stats();
        assert.equal(s.verdicts.DNAT, 1n);
        assert.deepEqual(
          s.backends.get(1),
          { packets: 1n, bytes: 74n },
          "one id space: lb4_backend_stats counts it",
        );
      }),
    );

    it(
      "UDP: DNAT keeps a valid checksum, and one that sums to zero is sent as 0xffff",
      withDp((dp) => {
        clusterIp(dp, [B1], { proto: "UDP" });
        const payload = zeroSumPayload(B1);
        expectRewrite(
          dp,
          udp(40000, { payload }),
          udp(40000, { dst: B1.address, dport: 8080, payload }),
          "DNAT",
        );
      }),
    );

    it(
      "extension headers (hop-by-hop, destination options, routing) are walked to the ports",
      withDp((dp) => {
        clusterIp(dp);
        const ext = [
          { type: NextHeader.HOP },
          { type: NextHeader.DEST, length: 16 },
          { type: NextHeader.ROUTING },
        ];
        expectRewrite(dp, tcp(40001, { ext }), tcp(40001, { ext, dst: B1.address, dport: 8080 }), "DNAT");
        const ah = [{ type: NextHeader.AUTH, length: 12 }];
        expectRewrite(
          dp,
          tcp(40002, { ext: ah }),
          tcp(40002, { ext: ah, dst: B1.address, dport: 8080 }),
          "DNAT",
        );
      }),
    );

    it(
      "a chain longer than the parser walks passes untouched",
      withDp((dp) => {
        clusterIp(dp);
        const ext = [
          NextHeader.HOP,
          NextHeader.DEST,
          NextHeader.ROUTING,
          NextHeader.DEST,
          NextHeader.DEST,
        ].map((type) => ({ type }) as const);
        expectUntouched(dp, buildFrame6(tcp(40003, { ext })), "PASS", "EXT_HDR_CHAIN");
      }),
    );

    it(
      "fragments: the first is balanced and records its ports; a later one follows; an untracked one passes",
      withDp((dp) => {
        clusterIp(dp, [B1], { proto: "UDP" });
        const payload = new Uint8Array(64).map((_, i) => i);
        const [first, second] = fragment6(buildFrame6(udp(40010, { payload })), 32, 0xabcdef01);
        const [wantFirst, wantSecond] = fragment6(
          buildFrame6(udp(40010, { payload, dst: B1.address, dport: 8080 })),
          32,
          0xabcdef01,
        );
        let r = send(dp, first);
        assert.deepEqual([r.verdict, r.reason], ["DNAT", "OK"]);
        assert.equal(hex(r.out), hex(wantFirst));
        r = send(dp, second);
        assert.deepEqual([r.verdict, r.reason], ["DNAT", "OK"]);
        assert.equal(hex(r.out), hex(wantSecond), "only the address changes: no L4 header here");
        const [, stray] = fragment6(buildFrame6(udp(40011, { payload })), 32, 0x1234);
        expectUntouched(dp, stray, "PASS", "FRAGMENT");
      }),
    );

    it(
      "neighbour discovery, echo and MLD to a frontend's address pass untouched",
      withDp((dp) => {
        clusterIp(dp);
        const base = { src: CLIENT, dst: FRONTEND, sport: 0, dport: 0, proto: "TCP" as const };
        for (const type of [Icmp6Type.NEIGHBOR_SOLICIT, Icmp6Type.NEIGHBOR_ADVERT, Icmp6Type.ECHO_REQUEST])
          expectUntouched(dp, buildIcmp6({ ...base, type, body: new Uint8Array(20) }), "PASS", "NOT_TCP_UDP");
        const mld = buildIcmp6({
          ...base,
          dst: "ff02::16",
          type: Icmp6Type.MLD2_REPORT,
          ext: [{ type: NextHeader.HOP }],
        });
        expectUntouched(dp, mld, "PASS", "NOT_TCP_UDP");
        // An ICMPv6 error quoting a tracked flow is not translated yet: it passes untouched.
        send(dp, buildFrame6(tcp(40020)));
        const quote = buildFrame6(tcp(40020, { dst: B1.address, dport: 8080 })).subarray(14);
        const error = buildIcmp6({
          ...base,
          src: B1.address,
          dst: CLIENT,
          type: Icmp6Type.DEST_UNREACH,
          body: Uint8Array.from([0, 0, 0, 0, ...quote]),
        });
        expectUntouched(dp, error, "PASS", "NOT_TCP_UDP");
      }),
    );

    it(
      "a frame cut at any byte is never read past its end: it passes, untouched",
      withDp((dp) => {
        clusterIp(dp);
        const whole = buildFrame6(tcp(40030, { ext: [{ type: NextHeader.HOP }, { type: NextHeader.DEST }] }));
        // Target limits: BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
        const from = target.name === "kernel" ? 14 : 0;
        for (let len = from; len < whole.length; len++) {
          const cut = whole.slice(0, len);
          const r = send(dp, cut);
          assert.equal(r.verdict, "PASS", `cut at ${len}: ${r.reason}`);
          assert.equal(hex(r.out), hex(cut), `cut at ${len}`);
        }
        // The same cuts with the payload length saying so: the walk itself meets the end, in an
        // extension header or in the TCP header (dropped once the ports name the frontend).
        for (let len = 14 + 40; len < whole.length; len++) {
          const cut = whole.slice(0, len);
          new DataView(cut.buffer).setUint16(18, len - 14 - 40);
          const r = send(dp, cut);
          const inTcp = len >= whole.length - 20 + 4;
          assert.deepEqual(
            [r.verdict, r.reason],
            inTcp ? ["DROP", "TRUNC_L4"] : ["PASS", len >= whole.length - 20 ? "TRUNC_L4" : "TRUNC_EXT_HDR"],
            `cut at ${len}`,
          );
          assert.equal(hex(r.out), hex(cut), `cut at ${len}`);
        }
      }),
    );

    it(
      "a truncated TCP header to a frontend is dropped (its ports say it is ours); elsewhere it passes",
      withDp((dp) => {
        clusterIp(dp);
        const frame = buildFrame6(tcp(40031));
        const cut = frame.slice(0, frame.length - 4);
        new DataView(cut.buffer).setUint16(18, 16); // payload length: 16 of TCP's 20 bytes
        expectUntouched(dp, cut, "DROP", "TRUNC_L4");
        const other = buildFrame6(tcp(40031, { dst: "2001:db8:96::99" })).slice(0, frame.length - 4);
        new DataView(other.buffer).setUint16(18, 16);
        expectUntouched(dp, other, "PASS", "TRUNC_L4");
      }),
    );

    it(
      "NodePort wildcard (::): balanced only for the node's own IPv6 addresses",
      withDp((dp) => {
        putService6(dp, { address: "::", port: 30080, backends: [B1], revNatId: 8, flags: SvcFlag.NODEPORT });
        putNodeAddr6(dp, NODE6);
        const spec = tcp(40040, { dst: NODE6, dport: 30080 });
        expectRewrite(dp, spec, { ...spec, dst: B1.address, dport: 8080 }, "DNAT");
        const reply = { src: B1.address, dst: CLIENT, sport: 8080, dport: 40040, proto: "TCP" as const };
        expectRewrite(dp, reply, { ...reply, src: NODE6, sport: 30080 }, "REVNAT");
        expectUntouched(
          dp,
          buildFrame6(tcp(40041, { dst: "2001:db8:ff::12", dport: 30080 })),
          "PASS",
          "NO_SERVICE",
        );
      }),
    );

    it(
      "source ranges: a client outside every range is dropped, one inside balanced",
      withDp((dp) => {
        clusterIp(dp, [B1], { flags: SvcFlag.SOURCE_RANGE, sourceRanges: ["2001:db8:0:1::/64"] });
        expectRewrite(dp, tcp(40050), tcp(40050, { dst: B1.address, dport: 8080 }), "DNAT");
        const outside = buildFrame6(tcp(40051, { src: "2001:db8:0:2::5" }));
        expectUntouched(dp, outside, "DROP", "SOURCE_RANGE");
      }),
    );

    it(
      "Local traffic policy: cluster sources (IPv6 cluster CIDR) use the INT scope",
      withDp((dp) => {
        const flags = SvcFlag.TWO_SCOPES;
        clusterIp(dp, [B1], { flags });
        clusterIp(dp, [B2], { flags, scope: Scope.INT });
        setClusterCidr6(dp, "2001:db8::/48");
        expectRewrite(dp, tcp(40060), tcp(40060, { dst: B2.address, dport: 8080 }), "DNAT");
        const outside = "2001:db9::5";
        expectRewrite(
          dp,
          tcp(40061, { src: outside }),
          tcp(40061, { src: outside, dst: B1.address, dport: 8080 }),
          "DNAT",
        );
      }),
    );

    it(
      "ClientIP affinity and Maglev: every port of one client goes to one backend; without affinity, both get flows",
      withDp((dp) => {
        const maglev = { offset: 5, rows: [1, 2, 1, 2, 2, 1, 2] };
        clusterIp(dp, [B1, B2], {
          algorithm: "maglev",
          maglev,
          flags: SvcFlag.AFFINITY,
          affinityTimeout: 60,
        });
        const dsts = new Set<string>();
        for (let port = 41000; port < 41020; port++) {
          const r = send(dp, buildFrame6(tcp(port)));
          assert.equal(r.verdict, "DNAT");
          dsts.add(parseFrame6(r.out)!.dst);
        }
        assert.equal(dsts.size, 1, [...dsts].join());
        // Without affinity, Maglev spreads the clients' flows over both backends.
        putService6(dp, {
          address: FRONTEND,
          port: 81,
          backends: [B1, B2],
          revNatId: 9,
          algorithm: "maglev",
          maglev: { offset: 20, rows: maglev.rows },
        });
        const spread = new Set<string>();
        for (let port = 42000; port < 42040; port++)
          spread.add(parseFrame6(send(dp, buildFrame6(tcp(port, { dport: 81 }))).out)!.dst);
        assert.deepEqual([...spread].sort(), [B1.address, B2.address]);
      }),
    );

    it(
      "conntrack: an established flow keeps its backend when the service changes; an RST closes it",
      withDp((dp) => {
        clusterIp(dp, [B1]);
        expectRewrite(dp, tcp(40070), tcp(40070, { dst: B1.address, dport: 8080 }), "DNAT");
        clusterIp(dp, [B2]);
        expectRewrite(
          dp,
          tcp(40070, { tcpFlags: TcpFlag.ACK }),
          tcp(40070, { tcpFlags: TcpFlag.ACK, dst: B1.address, dport: 8080 }),
          "DNAT",
        );
        expectRewrite(dp, tcp(40071), tcp(40071, { dst: B2.address, dport: 8080 }), "DNAT");
        expectRewrite(
          dp,
          tcp(40070, { tcpFlags: TcpFlag.RST }),
          tcp(40070, { tcpFlags: TcpFlag.RST, dst: B1.address, dport: 8080 }),
          "DNAT",
        );
        // A new SYN on the closed tuple is balanced anew, to the service's backend now.
        expectRewrite(dp, tcp(40070), tcp(40070, { dst: B2.address, dport: 8080 }), "DNAT");
      }),
    );

    it(
      "a frontend without backends drops (no ICMPv6 answer yet)",
      withDp((dp) => {
        clusterIp(dp, []);
        expectUntouched(dp, buildFrame6(tcp(40080)), "DROP", "NO_BACKEND");
      }),
    );
  });
}
