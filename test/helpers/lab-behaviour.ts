// The lab's end-to-end behaviour, one suite run once per proxy: real TCP and UDP between network
// namespaces, through maplb's BPF datapath or kube-proxy's rules. The same assertions hold for both
// (that is the parity), except where the designs differ on purpose; those cases say so:
//   - SNAT: kube-proxy masquerades external traffic to externalTrafficPolicy=Cluster services (the
//     node's address); maplb only when the backend is on another node, so a local one sees the client.
//   - Which backend a ClientIP-affine client sticks to: Maglev over the flow hash against iptables'
//     random choice; both keep every client on one backend.
// With family IPv6 the lab is dual-stack and every probe goes to the Services' IPv6 frontends: the
// same outcomes over IPv6 (kube-proxy's IPv6 proxier, ip6tables or the ip6 nft table; maplb's lb6
// maps).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { openKernel } from "../../src/datapath/kernel.js";
import { labDown, labScale, labUp, requireLab } from "../../src/lab/lab.js";
import { nodePinDir } from "../../src/lab/proxy/maplb.js";
import { podNs } from "../../src/lab/network.js";
import type { AttachMode } from "../../src/cli/commands/attach.js";
import { labPrefix, type LabProxy, type LabState } from "../../src/lab/state.js";
import { hostOf } from "../../src/lab/host-port.js";
import { podIp } from "../../src/lab/plan.js";
import type { IpFamily } from "../../src/model/types.js";
import {
  Hold,
  backendIps,
  byBackend,
  downOnExit,
  labBlocker,
  probe,
  targetOf,
  type ProbeSpec,
} from "./lab-run.js";
import { writeLabScenario } from "./lab-scenario.js";
import { chiSquareUniformP } from "./lab-stats.js";

const sorted = (m: Map<string, number>) => [...m.keys()].sort();

/**
 * @param tag a short prefix; the lab's name adds this process's pid, so runs of the test suite that
 *   overlap (two checkouts, two engineers) never share a lab.
 */
export function describeLabBehaviour(
  proxy: LabProxy,
  tag: string,
  opts: {
    attach?: AttachMode;
    socketLb?: boolean;
    family?: IpFamily;
    /** Cases known not to hold yet, by the start of their title, with the reason: they still run,
     * and node:test reports them as TODO, not as passes. */
    todo?: Record<string, string>;
  } = {},
): void {
  const attach = opts.attach ?? "tc";
  const socketLb = opts.socketLb ?? false;
  const family = opts.family ?? "IPv4";
  const dualStack = family === "IPv6";
  const labName = `${tag}${process.pid.toString(36)}`;
  const skip = labBlocker(proxy);
  const title = `namespace lab, --proxy ${proxy}${proxy === "maplb" ? ` --attach ${attach}` : ""}${socketLb ? " --socket-lb" : ""}${dualStack ? " --dual-stack, over IPv6" : ""}`;
  describe(title, { skip: skip ?? false }, () => {
    let state: LabState;
    const todo = (title: string) => {
      const reason = Object.entries(opts.todo ?? {}).find(([start]) => title.startsWith(start))?.[1];
      return reason ? { todo: reason } : {};
    };
    /** The probe aimed at the family's frontends. */
    const at = (spec: ProbeSpec): ProbeSpec => ({ family, ...spec });
    /** Addresses of the family: the backends' pods, ext-1, a node's and its pod gateway. */
    const backends = (service: string, node?: string) => backendIps(state, service, node, family);
    const ext1 = () => (dualStack ? state.plan.externals[0]!.ip6! : state.plan.externals[0]!.ip);
    const nodeAddrs = (n: LabState["plan"]["nodes"][number]) =>
      dualStack ? [n.ip6!, n.gateway6!] : [n.ip, n.gateway];

    before(async () => {
      downOnExit(labName);
      state = await labUp({
        name: labName,
        scenario: writeLabScenario(),
        proxy,
        attach,
        socketLb,
        ...(dualStack ? { dualStack } : {}),
      });
    });
    after(() => {
      labDown({ name: labName });
    });

    it("every frontend reaches every backend: 600 new connections each, spread passes chi-square (p > 0.001), replies from the frontend", async () => {
      const all = backends("default/web");
      for (const spec of [
        { from: "client-1", target: "default/web", frontend: "cluster-ip" as const },
        { from: "ext-1", target: "default/web", frontend: "node-port" as const },
        { from: "ext-1", target: "default/web", frontend: "load-balancer" as const },
        { from: "ext-1", target: "default/web", frontend: "external-ip" as const },
      ]) {
        const results = await probe(state, at(spec), 600);
        const what = `${spec.frontend} from ${spec.from}`;
        assert.equal(
          results.filter((r) => r.ok).length,
          600,
          `${what}: ${JSON.stringify(results.find((r) => !r.ok))}`,
        );
        const address = targetOf(state, at(spec)).address;
        assert.ok(
          results.every((r) => r.remote === address),
          `${what}: every answer comes from ${address}`,
        );
        const counts = byBackend(results);
        assert.deepEqual(sorted(counts), all, what);
        const p = chiSquareUniformP([...counts.values()]);
        assert.ok(p > 0.001, `${what}: spread ${JSON.stringify([...counts])} has chi-square p = ${p}`);
      }
    });

    if (socketLb) describeSocketLb(() => state);

    it("UDP through a service: every datagram answered from the frontend address, both backends used", async () => {
      const all = backends("default/udp-echo");
      for (const spec of [
        { from: "client-1", target: "default/udp-echo", frontend: "cluster-ip" as const },
        { from: "ext-1", target: "default/udp-echo", frontend: "node-port" as const },
      ]) {
        const results = await probe(state, at(spec), 60);
        const address = targetOf(state, at(spec)).address;
        assert.equal(
          results.filter((r) => r.ok).length,
          60,
          `${spec.frontend}: ${JSON.stringify(results.find((r) => !r.ok))}`,
        );
        assert.ok(
          results.every((r) => r.remote === address),
          `${spec.frontend}: replies from ${address}`,
        );
        assert.deepEqual(sorted(byBackend(results)), all);
      }
    });

    it("session affinity ClientIP keeps each client on one backend", async () => {
      for (const from of ["client-1", "client-2"]) {
        const results = await probe(state, at({ from, target: "default/sticky" }), 40);
        assert.equal(results.filter((r) => r.ok).length, 40);
        assert.equal(byBackend(results).size, 1, `${from}: ${JSON.stringify([...byBackend(results)])}`);
      }
    });

    it("externalTrafficPolicy=Local: only the node's own backends, and they see the client's address", async () => {
      for (const [node, frontend] of [
        ["node-a", "node-port"],
        ["node-b", "node-port"],
        ["node-a", "load-balancer"], // the load balancer's traffic enters at the edge node
      ] as const) {
        const results = await probe(
          state,
          at({ from: "ext-1", target: "default/local", frontend, node }),
          40,
        );
        assert.equal(results.filter((r) => r.ok).length, 40, `${frontend} on ${node}`);
        assert.deepEqual(
          sorted(byBackend(results)),
          backends("default/local", node),
          `${frontend} on ${node}`,
        );
        assert.ok(
          results.every((r) => hostOf(r.answer!.client) === ext1()),
          "the backend sees the client",
        );
      }
    });

    const clusterPolicy = `externalTrafficPolicy=Cluster: the backend sees ${proxy === "maplb" ? "the client, or the node when it runs on another node (maplb SNATs only then)" : "the node (kube-proxy masquerades)"}`;
    it(clusterPolicy, todo(clusterPolicy), async () => {
      const results = await probe(
        state,
        at({ from: "ext-1", target: "default/web", frontend: "load-balancer" }),
        30,
      );
      assert.equal(results.filter((r) => r.ok).length, 30);
      // Masquerading takes the address of the interface towards the backend: the node's or its pod gateway.
      const edge = state.plan.nodes[0]!;
      const onEdge = backends("default/web", edge.name);
      for (const r of results) {
        const seen = hostOf(r.answer!.client);
        const expected =
          proxy !== "maplb"
            ? nodeAddrs(edge)
            : onEdge.includes(r.answer!.ip)
              ? [ext1()]
              : nodeAddrs(edge).slice(0, 1);
        assert.ok(expected.includes(seen), `${r.answer!.ip} saw ${seen}`);
      }
    });

    it("loadBalancerSourceRanges let the listed source in and keep the other out", async () => {
      const inside = await probe(state, at({ from: "ext-1", target: "default/fenced" }), 20);
      assert.equal(inside.filter((r) => r.ok).length, 20);
      const outside = await probe(state, at({ from: "ext-2", target: "default/fenced" }), 5, 500);
      assert.equal(outside.filter((r) => r.ok).length, 0, JSON.stringify(outside));
    });

    // Over IPv6 the first SYN's ICMPv6 error comes back while the client's connect() still holds its
    // socket (the lab's veths hand it over at once); Linux drops it there (nstat's
    // TcpExtLockDroppedIcmps counts it) and the SYN it retransmits after 1 s is the one refused. So the
    // bound there is one retransmission later; a drop instead of a refusal would still time out.
    const refusedWithin = dualStack ? 2000 : 1000;
    const noEndpoints = `a service with no endpoints fails a connection attempt within ${refusedWithin / 1000} s`;
    it(noEndpoints, todo(noEndpoints), async () => {
      const [r] = await probe(state, at({ target: "default/empty" }), 1, 3000);
      assert.equal(r!.ok, false);
      assert.ok(r!.ms < refusedWithin, `failed with ${r!.error} after ${r!.ms} ms`);
      assert.equal(r!.error, "ECONNREFUSED", "an ICMP port unreachable (maplb) or a REJECT (kube-proxy)");
    });

    it("cluster DNS answers <svc>.<ns>.svc.cluster.local and short names through the search path", () => {
      const ns = podNs(
        labPrefix(labName),
        state.plan.pods.find((p) => p.name === "client-1")!,
      );
      const lookup = (name: string) =>
        spawnSync("ip", ["netns", "exec", ns, "getent", "hosts", name], {
          encoding: "utf8",
          timeout: 10_000,
        }).stdout.split(/\s+/)[0];
      const web = state.plan.services.find((s) => s.metadata?.name === "web")!.spec!.clusterIP;
      assert.equal(lookup("web"), web);
      assert.equal(lookup("web.default"), web);
      assert.equal(lookup("web.default.svc.cluster.local"), web);
      assert.equal(lookup("kube-dns.kube-system"), "198.19.0.10");
      assert.equal(lookup("no-such-service"), "");
    });

    it("scaling 1 → 5 → 2: keep-alive connections stay on their backend until it is removed; new ones never reach a removed backend", async () => {
      const svc = "default/scaled";
      const target = { target: svc };
      const one = backends(svc);
      assert.equal(one.length, 1);
      const holds: Hold[] = [new Hold(state, at(target), 100, 60_000)];
      try {
        assert.ok(await holds[0]!.until((r) => r.length >= 2, 5000), "the keep-alive connection answers");
        await labScale({ name: labName, service: svc, replicas: 5 });
        state = requireLab(labName);
        const five = backends(svc);
        assert.equal(five.length, 5);
        assert.deepEqual(sorted(byBackend(await probe(state, at(target), 100))), five);

        // More keep-alive connections, until one sits on a pod that will go (the newest three).
        const staying = five.filter((ip) =>
          ["scaled-1", "scaled-2"].includes(state.plan.pods.find((p) => podIp(p, family) === ip)!.name),
        );
        for (let i = 1; i < 12; i++) {
          const h = new Hold(state, at({ from: i % 2 ? "client-2" : "client-1", ...target }), 100, 60_000);
          holds.push(h);
          assert.ok(await h.until((r) => r.length >= 2, 5000), "the keep-alive connection answers");
          const firsts = holds.map((x) => x.results[0]!.answer!.ip);
          if (firsts.some((ip) => staying.includes(ip)) && firsts.some((ip) => !staying.includes(ip))) break;
        }
        for (const h of holds) {
          const ips = new Set(h.results.map((r) => r.answer?.ip));
          assert.equal(ips.size, 1, "a keep-alive connection stays on one backend while the service grows");
        }
        await labScale({ name: labName, service: svc, replicas: 2 });
        state = requireLab(labName);
        // Requests already on their way when the pods went may still have been answered by them.
        await new Promise((r) => setTimeout(r, 300));
        const marks = holds.map((h) => h.results.length);
        assert.deepEqual(backends(svc), [...staying].sort());
        await Promise.all(holds.map((h, i) => h.until((r) => r.length >= marks[i]! + 15, 8000)));
        for (const h of holds) {
          const before = h.results[0]!.answer!.ip;
          const later = h.since(0).slice(marks[holds.indexOf(h)]!);
          if (staying.includes(before)) {
            assert.ok(
              later.every((r) => r.ok && r.answer!.ip === before && r.conn === 1),
              `stays on ${before}: ${JSON.stringify(later.slice(0, 3))}`,
            );
          } else {
            const answered = later.filter((r) => r.ok);
            assert.ok(answered.length > 0, "the client reconnects");
            assert.ok(
              answered.every((r) => staying.includes(r.answer!.ip) && r.conn! > 1),
              `moved off ${before}: ${JSON.stringify(answered.slice(0, 3))}`,
            );
          }
        }
        const after = byBackend(await probe(state, at(target), 100));
        assert.deepEqual(
          sorted(after),
          [...staying].sort(),
          "new connections reach only the remaining backends",
        );
      } finally {
        await Promise.all(holds.map((h) => h.stop()));
      }
    });
  });
}

/** Total DNATs on every node's per-packet datapath. */
function nodeDnats(state: LabState): bigint {
  let total = 0n;
  for (const node of state.plan.nodes) {
    const dp = openKernel({ pinDir: nodePinDir(state.name, node), mustExist: true });
    try {
      total += dp.stats().verdicts.DNAT;
    } finally {
      dp.close();
    }
  }
  return total;
}

/** What only socket LB does: pods' flows are never NATed per packet, hairpins, getpeername. */
function describeSocketLb(lab: () => LabState): void {
  it("socket LB: a pod's TCP and UDP to a ClusterIP are translated at the socket, no packet DNATed; getpeername and recvmsg show the Service", async () => {
    const state = lab();
    const before = nodeDnats(state);
    for (const [target, n] of [
      ["default/web", 60],
      ["default/udp-echo", 20],
    ] as const) {
      const results = await probe(state, { from: "client-1", target, frontend: "cluster-ip" }, n);
      const address = targetOf(state, { from: "client-1", target, frontend: "cluster-ip" }).address;
      assert.equal(results.filter((r) => r.ok && r.remote === address).length, n, target);
      assert.deepEqual(sorted(byBackend(results)), backendIps(state, target));
    }
    assert.equal(nodeDnats(state), before, "no packet of the pods' flows met the per-packet DNAT");
  });

  it("socket LB: hairpin: a backend pod reaches its own Service, itself among the backends", async () => {
    const state = lab();
    const self = state.plan.pods.find((p) => p.role !== "client" && p.services.includes("default/web"))!;
    const results = await probe(
      state,
      { from: self.name, target: "default/web", frontend: "cluster-ip" },
      60,
    );
    assert.equal(results.filter((r) => r.ok).length, 60, JSON.stringify(results.find((r) => !r.ok)));
    assert.ok(
      byBackend(results).has(self.ip),
      `${self.ip} answers itself: ${JSON.stringify([...byBackend(results)])}`,
    );
  });
}
