// compile(): frontends, scopes and flags per traffic policy, backends and their states.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compile } from "../src/compile/compiler.js";
import { compileServicePort, type IdSource } from "../src/compile/service-port.js";
import {
  Algorithm,
  BackendFlag,
  frontendKeyString,
  type LbTables,
  Scope,
  type ServicePortTables,
  SvcFlag,
} from "../src/compile/tables.js";
import type { ServicePort } from "../src/model/types.js";
import { endpoint, nodeConfig, servicePort, terminating } from "./helpers/model-factory.js";

const node = nodeConfig();

function only(tables: LbTables): ServicePortTables {
  assert.equal(tables.services.size, 1);
  return [...tables.services.values()][0]!;
}

function compileOne(p: ServicePort, n = node): ServicePortTables {
  return only(compile({ ports: [p] }, n));
}

/** frontend key string → the backend addresses its slots name, in slot order. */
function slotsByFrontend(t: ServicePortTables): Record<string, string[]> {
  const addr = new Map(t.backends.map((b) => [b.id, b.address]));
  return Object.fromEntries(
    t.frontends.map((f) => [frontendKeyString(f.key), f.slots.map((id) => addr.get(id)!)]),
  );
}

const local = (ip: string) => endpoint(ip, { nodeName: "node-a" });
const remote = (ip: string) => endpoint(ip, { nodeName: "node-b" });

describe("frontends", () => {
  it("ClusterIP: one EXT frontend on clusterIP:port with every ready endpoint, in kube-proxy's order", () => {
    const t = compileOne(
      servicePort({ endpoints: [endpoint("10.0.1.10"), endpoint("10.0.1.2"), endpoint("10.0.1.3")] }),
    );
    assert.deepEqual(slotsByFrontend(t), { "10.96.0.10:80/TCP": ["10.0.1.10", "10.0.1.2", "10.0.1.3"] });
    const f = t.frontends[0]!;
    assert.equal(f.master.count, 3);
    assert.equal(f.master.flags, 0);
    assert.equal(f.master.algorithm, Algorithm.maglev);
    assert.equal(f.master.maglevSize, 251);
    assert.deepEqual(t.revNat, [{ id: f.master.revNatId, address: "10.96.0.10", port: 80 }]);
  });

  it("NodePort: the ClusterIP, each node IP and the 0.0.0.0 wildcard, all flagged NODEPORT but the ClusterIP", () => {
    const t = compileOne(
      servicePort({ type: "NodePort", nodePort: 30080 }),
      nodeConfig({ nodeIPs: ["192.0.2.10", "192.0.2.11"] }),
    );
    assert.deepEqual(
      t.frontends.map((f) => [frontendKeyString(f.key), f.master.flags]),
      [
        ["10.96.0.10:80/TCP", 0],
        ["192.0.2.10:30080/TCP", SvcFlag.NODEPORT],
        ["192.0.2.11:30080/TCP", SvcFlag.NODEPORT],
        ["0.0.0.0:30080/TCP", SvcFlag.NODEPORT],
      ],
    );
    assert.equal(new Set(t.revNat.map((r) => r.id)).size, 4, "one rev-NAT id per frontend address:port");
  });

  it("LoadBalancer and externalIPs: EXTERNAL frontends on the service port; an IP listed twice is one frontend", () => {
    const t = compileOne(
      servicePort({
        type: "LoadBalancer",
        nodePort: 31000,
        loadBalancerIPs: ["203.0.113.5"],
        externalIPs: ["198.51.100.7", "203.0.113.5"],
      }),
    );
    const external = t.frontends
      .filter((f) => f.master.flags & SvcFlag.EXTERNAL)
      .map((f) => frontendKeyString(f.key));
    assert.deepEqual(external, ["203.0.113.5:80/TCP", "198.51.100.7:80/TCP"]);
  });

  it("UDP gets frontends; SCTP is accepted but builds nothing", () => {
    assert.equal(compileOne(servicePort({ protocol: "UDP" })).frontends[0]!.key.protocol, "UDP");
    assert.equal(compile({ ports: [servicePort({ protocol: "SCTP" })] }, node).services.size, 0);
  });

  it("a headless service (no clusterIP) builds nothing", () => {
    assert.equal(compile({ ports: [servicePort({ clusterIP: null })] }, node).services.size, 0);
  });
});

describe("traffic policies", () => {
  const eps = [local("10.0.1.1"), remote("10.0.2.1"), remote("10.0.2.2")];

  it("ITP=Local: the ClusterIP reads only local endpoints", () => {
    const t = compileOne(servicePort({ internalTrafficPolicy: "Local", endpoints: eps }));
    assert.deepEqual(slotsByFrontend(t), { "10.96.0.10:80/TCP": ["10.0.1.1"] });
    assert.deepEqual(
      t.backends.map((b) => b.address),
      ["10.0.1.1"],
      "remote endpoints are not backends here",
    );
  });

  it("ETP=Cluster: every external frontend reads the cluster endpoints in one scope", () => {
    const t = compileOne(servicePort({ type: "NodePort", nodePort: 30080, endpoints: eps }));
    assert.ok(t.frontends.every((f) => f.key.scope === Scope.EXT && f.slots.length === 3));
  });

  it("ETP=Local: external frontends get EXT = local endpoints and INT = cluster endpoints, flagged TWO_SCOPES", () => {
    const t = compileOne(
      servicePort({
        type: "LoadBalancer",
        nodePort: 30080,
        loadBalancerIPs: ["203.0.113.5"],
        externalTrafficPolicy: "Local",
        endpoints: eps,
      }),
    );
    assert.deepEqual(slotsByFrontend(t), {
      "10.96.0.10:80/TCP": ["10.0.1.1", "10.0.2.1", "10.0.2.2"],
      "192.0.2.10:30080/TCP": ["10.0.1.1"],
      "192.0.2.10:30080/TCP/int": ["10.0.1.1", "10.0.2.1", "10.0.2.2"],
      "0.0.0.0:30080/TCP": ["10.0.1.1"],
      "0.0.0.0:30080/TCP/int": ["10.0.1.1", "10.0.2.1", "10.0.2.2"],
      "203.0.113.5:80/TCP": ["10.0.1.1"],
      "203.0.113.5:80/TCP/int": ["10.0.1.1", "10.0.2.1", "10.0.2.2"],
    });
    const clusterIP = t.frontends[0]!;
    assert.equal(clusterIP.master.flags & SvcFlag.TWO_SCOPES, 0, "the ClusterIP is not external");
    for (const f of t.frontends.slice(1)) assert.ok(f.master.flags & SvcFlag.TWO_SCOPES);
    // Both scopes of a frontend share its rev-NAT id: replies go back to the same address.
    const ids = new Map<string, Set<number>>();
    for (const f of t.frontends) {
      const k = `${f.key.address}:${f.key.port}`;
      ids.set(k, (ids.get(k) ?? new Set()).add(f.master.revNatId));
    }
    assert.ok([...ids.values()].every((s) => s.size === 1));
    // Two backend sets, two Maglev tables.
    assert.deepEqual(t.maglev.map((m) => m.name).sort(), ["cluster", "local"]);
  });

  it("ETP=Local and ITP=Local: pod traffic to external frontends still reaches every endpoint (INT scope)", () => {
    // kube-proxy: UsesClusterEndpoints() = !ITPLocal || externallyAccessible, for this short circuit.
    const t = compileOne(
      servicePort({
        type: "NodePort",
        nodePort: 30080,
        externalTrafficPolicy: "Local",
        internalTrafficPolicy: "Local",
        endpoints: eps,
      }),
    );
    const slots = slotsByFrontend(t);
    assert.deepEqual(slots["10.96.0.10:80/TCP"], ["10.0.1.1"]);
    assert.deepEqual(slots["0.0.0.0:30080/TCP"], ["10.0.1.1"]);
    assert.deepEqual(slots["0.0.0.0:30080/TCP/int"], ["10.0.1.1", "10.0.2.1", "10.0.2.2"]);
  });

  it("ETP=Local with no local endpoint: EXT has count 0 (the datapath drops), INT still has the cluster", () => {
    const t = compileOne(
      servicePort({
        type: "NodePort",
        nodePort: 30080,
        externalTrafficPolicy: "Local",
        endpoints: [remote("10.0.2.1")],
      }),
    );
    const ext = t.frontends.find((f) => f.key.address === "0.0.0.0" && f.key.scope === Scope.EXT)!;
    assert.equal(ext.master.count, 0);
    assert.equal(ext.master.maglevSize, 0, "no Maglev table for an empty set");
    assert.equal(
      t.frontends.find((f) => f.key.address === "0.0.0.0" && f.key.scope === Scope.INT)!.master.count,
      1,
    );
  });

  it("no endpoints at all: every frontend still has a master, with count 0", () => {
    const t = compileOne(servicePort({ type: "NodePort", nodePort: 30080, endpoints: [] }));
    assert.equal(t.frontends.length, 3);
    assert.ok(t.frontends.every((f) => f.master.count === 0 && f.slots.length === 0));
    assert.deepEqual(t.backends, []);
  });

  it("loadBalancerSourceRanges: SOURCE_RANGE only on LoadBalancer frontends, one entry per CIDR", () => {
    const t = compileOne(
      servicePort({
        type: "LoadBalancer",
        nodePort: 30080,
        loadBalancerIPs: ["203.0.113.5"],
        externalIPs: ["198.51.100.7"],
        loadBalancerSourceRanges: ["192.0.2.0/24", "198.18.0.0/15", "192.0.2.0/24"],
      }),
    );
    const flagged = t.frontends.filter((f) => f.master.flags & SvcFlag.SOURCE_RANGE);
    assert.deepEqual(
      flagged.map((f) => f.key.address),
      ["203.0.113.5"],
    );
    assert.deepEqual(t.sourceRanges, [
      { revNatId: flagged[0]!.master.revNatId, cidr: "192.0.2.0/24" },
      { revNatId: flagged[0]!.master.revNatId, cidr: "198.18.0.0/15" },
    ]);
  });

  it("ClientIP affinity: AFFINITY and the timeout on every master", () => {
    const t = compileOne(servicePort({ type: "NodePort", nodePort: 30080, affinityTimeoutSeconds: 600 }));
    assert.ok(
      t.frontends.every((f) => f.master.flags & SvcFlag.AFFINITY && f.master.affinityTimeout === 600),
    );
    const none = compileOne(servicePort());
    assert.equal(none.frontends[0]!.master.affinityTimeout, 0);
  });

  it("random: no Maglev table, algorithm random", () => {
    const t = compileOne(servicePort({ algorithm: "random" }));
    assert.deepEqual(t.maglev, []);
    assert.equal(t.frontends[0]!.master.algorithm, Algorithm.random);
    assert.equal(t.frontends[0]!.master.maglevSize, 0);
  });
});

describe("backends", () => {
  it("terminating endpoints that are not selected stay as TERMINATING backends in no slot", () => {
    const t = compileOne(servicePort({ endpoints: [remote("10.0.1.1"), terminating("10.0.1.2")] }));
    assert.deepEqual(slotsByFrontend(t), { "10.96.0.10:80/TCP": ["10.0.1.1"] });
    assert.deepEqual(
      t.backends.map((b) => [b.address, b.flags]),
      [
        ["10.0.1.1", 0],
        ["10.0.1.2", BackendFlag.TERMINATING | BackendFlag.LOCAL],
      ],
    );
  });

  it("backends on this node are flagged LOCAL (no SNAT to them), the others and those without a node not", () => {
    const t = compileOne(
      servicePort({
        endpoints: [local("10.0.1.1"), remote("10.0.1.2"), endpoint("10.0.1.3", { nodeName: null })],
      }),
    );
    assert.deepEqual(
      t.backends.map((b) => [b.address, b.flags]),
      [
        ["10.0.1.1", BackendFlag.LOCAL],
        ["10.0.1.2", 0],
        ["10.0.1.3", 0],
      ],
    );
    // Locality is the node's: compiled for node-b, the flags swap.
    const onB = compileOne(
      servicePort({ endpoints: [local("10.0.1.1"), remote("10.0.1.2")] }),
      nodeConfig({ nodeName: "node-b" }),
    );
    assert.deepEqual(
      onB.backends.map((b) => b.flags),
      [0, BackendFlag.LOCAL],
    );
  });

  it("when nothing is ready, serving terminating endpoints are selected (kube-proxy's fallback) and not flagged", () => {
    const t = compileOne(
      servicePort({ endpoints: [terminating("10.0.1.1"), terminating("10.0.1.2", { serving: false })] }),
    );
    assert.deepEqual(slotsByFrontend(t), { "10.96.0.10:80/TCP": ["10.0.1.1"] });
    assert.deepEqual(
      t.backends.map((b) => [b.address, b.flags & BackendFlag.TERMINATING]),
      [
        ["10.0.1.1", 0],
        ["10.0.1.2", BackendFlag.TERMINATING],
      ],
    );
  });

  it("endpoints that are neither ready nor terminating are not backends", () => {
    const t = compileOne(
      servicePort({
        endpoints: [endpoint("10.0.1.1"), endpoint("10.0.1.2", { ready: false, serving: false })],
      }),
    );
    assert.deepEqual(
      t.backends.map((b) => b.address),
      ["10.0.1.1"],
    );
  });

  it("backends belong to their service port: the same pod behind two services has two ids", () => {
    const a = servicePort({ name: "a", clusterIP: "10.96.0.1", endpoints: [endpoint("10.0.1.1")] });
    const b = servicePort({ name: "b", clusterIP: "10.96.0.2", endpoints: [endpoint("10.0.1.1")] });
    const tables = compile({ ports: [a, b] }, node);
    const ids = [...tables.services.values()].map((t) => t.backends[0]!.id);
    assert.equal(new Set(ids).size, 2);
  });
});

describe("frontend conflicts", () => {
  it("two service ports on one address:port: the first keeps it, the second gets no rows for it", () => {
    const a = servicePort({ name: "a", externalIPs: ["198.51.100.7"], clusterIP: "10.96.0.1" });
    const b = servicePort({ name: "b", externalIPs: ["198.51.100.7"], clusterIP: "10.96.0.2" });
    const tables = compile({ ports: [a, b] }, node);
    const owners = [...tables.services.values()].flatMap((t) =>
      t.frontends.filter((f) => f.key.address === "198.51.100.7").map(() => t.id),
    );
    assert.deepEqual(owners, [a.id]);
  });
});

describe("compileServicePort", () => {
  it("is pure given its id source and previous tables; backends keep their previous ids", () => {
    let next = 100;
    const ids: IdSource = { revNatId: () => 7, newBackendId: () => next++, maglevOffset: () => 0 };
    const p = servicePort();
    const first = compileServicePort(p, node, ids);
    assert.deepEqual(compileServicePort(p, node, ids, first), first);
    const grown = servicePort({ endpoints: [...p.endpoints, endpoint("10.0.1.3")] });
    assert.deepEqual(
      compileServicePort(grown, node, ids, first).backends.map((b) => b.id),
      [100, 101, 102],
      "the old two keep 100 and 101; the new one gets a fresh id",
    );
  });

  it("rejects a Maglev table size that is not prime, naming the service port", () => {
    assert.throws(
      () => compileOne(servicePort({ maglevTableSize: 1000 })),
      /shop\/web:http\/TCP.*prime.*1000/,
    );
  });
});
