// The ServiceModel built from manifests: what is read, what is skipped, how endpoints are resolved.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { readModel } from "../src/k8s/read.js";
import { selectEndpoints } from "../src/model/endpoints.js";
import type { ServicePort } from "../src/model/types.js";
import { SCENARIOS, service, slice, writeTemp } from "./helpers/manifests.js";

const modelOf = (objects: object[], name = "m.yaml") =>
  readModel([writeTemp(name, objects.map((o) => stringify(o)).join("---\n"))]);

const onlyPort = (objects: object[]): ServicePort => {
  const { ports } = modelOf(objects);
  assert.equal(ports.length, 1);
  return ports[0]!;
};

describe("reading manifests", () => {
  it("reads every seed scenario into service ports", () => {
    // One file at a time: they are four clusters, and two of them use NodePort 30080.
    const ids = readdirSync(SCENARIOS)
      .flatMap((f) => readModel([join(SCENARIOS, f)]).ports.map((p) => p.id))
      .sort();
    assert.deepEqual(ids, [
      "default/go-app:/TCP",
      "default/hoge-prod:/TCP",
      "default/httpd-serv:/TCP",
      "default/nginx-serv:/TCP",
      "default/nginx-svc:tcp/TCP",
      "ingress-nginx/ingress-nginx-controller:http/TCP",
      "ingress-nginx/ingress-nginx-controller:https/TCP",
      "nginx/nginx:http/TCP",
      "nginx/nginx:metrics/TCP",
    ]);
  });

  it("ignores Deployments, Pods and other kinds", () => {
    const deploy = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: { replicas: "x" },
    };
    const p = onlyPort([
      deploy,
      service(),
      slice(),
      { apiVersion: "v1", kind: "Pod", metadata: { name: "p" } },
    ]);
    assert.equal(p.endpoints.length, 1);
  });

  it("reads JSON and kind: List, as kubectl get -o json prints", () => {
    const list = { apiVersion: "v1", kind: "List", items: [service(), slice()] };
    const { ports } = readModel([writeTemp("list.json", JSON.stringify(list))]);
    assert.equal(ports[0]?.endpoints[0]?.ip, "10.0.1.5");
  });

  it("converts legacy Endpoints when a Service has no EndpointSlice", () => {
    const ep = {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "web", namespace: "shop" },
      subsets: [
        {
          addresses: [{ ip: "10.0.2.1", nodeName: "n2" }],
          notReadyAddresses: [{ ip: "10.0.2.2" }],
          ports: [{ name: "http", port: 8080 }],
        },
      ],
    };
    const p = onlyPort([service(), ep]);
    assert.deepEqual(
      p.endpoints.map((e) => [e.ip, e.port, e.ready, e.nodeName]),
      [
        ["10.0.2.1", 8080, true, "n2"],
        ["10.0.2.2", 8080, false, null],
      ],
    );
  });

  it("prefers real EndpointSlices over legacy Endpoints", () => {
    const ep = {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "web", namespace: "shop" },
      subsets: [{ addresses: [{ ip: "10.9.9.9" }], ports: [{ name: "http", port: 8080 }] }],
    };
    assert.deepEqual(
      onlyPort([service(), slice(), ep]).endpoints.map((e) => e.ip),
      ["10.0.1.5"],
    );
  });

  it("accepts headless and ExternalName services and builds no frontends", () => {
    const headless = service({ spec: { clusterIP: "None" } });
    const ext = service({
      metadata: { name: "db" },
      spec: { type: "ExternalName", externalName: "db.example", clusterIP: undefined },
    });
    assert.deepEqual(modelOf([headless, ext]).ports, []);
  });

  it("an IPv4-only Service ignores IPv6 slices", () => {
    const v6 = slice({
      metadata: { name: "web-v6" },
      addressType: "IPv6",
      endpoints: [{ addresses: ["fd00::5"] }],
    });
    assert.deepEqual(
      onlyPort([service(), slice(), v6]).endpoints.map((e) => e.ip),
      ["10.0.1.5"],
    );
  });

  it("accepts nodePort 3001, outside the API server's range, as kube-proxy does", () => {
    assert.equal(
      onlyPort([service({ spec: { type: "NodePort", ports: [{ name: "http", port: 80, nodePort: 3001 }] } })])
        .nodePort,
      3001,
    );
  });

  it("matches slice ports by name and protocol", () => {
    const s = slice({ ports: [{ name: "http", port: 8080, protocol: "UDP" }] });
    assert.deepEqual(onlyPort([service(), s]).endpoints, []);
  });

  it("deduplicates ip:port across slices (a non-terminating entry wins) and sorts as strings", () => {
    const a = slice({
      endpoints: [
        { addresses: ["10.0.1.2"], conditions: { ready: false, terminating: true } },
        { addresses: ["10.0.1.10"] },
      ],
    });
    const b = slice({
      metadata: { name: "web-def" },
      endpoints: [{ addresses: ["10.0.1.2"], conditions: { ready: true } }],
    });
    const eps = onlyPort([service(), a, b]).endpoints;
    assert.deepEqual(
      eps.map((e) => `${e.ip}:${e.port}/${e.terminating}`),
      ["10.0.1.10:8080/false", "10.0.1.2:8080/false"],
    );
  });

  it("reads policies, affinity and the maplb annotations", () => {
    const p = onlyPort([
      service({
        metadata: { annotations: { "maplb.io/lb-algorithm": "random", "maplb.io/maglev-table-size": "251" } },
        spec: {
          type: "LoadBalancer",
          ports: [{ name: "http", port: 80, nodePort: 30000 }],
          externalTrafficPolicy: "Local",
          healthCheckNodePort: 32000,
          sessionAffinity: "ClientIP",
          loadBalancerSourceRanges: [" 192.0.2.0/24 "],
        },
        status: { loadBalancer: { ingress: [{ ip: "198.51.100.7" }, { hostname: "lb.example" }] } },
      }),
    ]);
    assert.equal(p.algorithm, "random");
    assert.equal(p.maglevTableSize, 251);
    assert.equal(p.affinityTimeoutSeconds, 10800);
    assert.equal(p.healthCheckNodePort, 32000);
    assert.deepEqual(p.loadBalancerIPs, ["198.51.100.7"]);
    assert.deepEqual(p.loadBalancerSourceRanges, ["192.0.2.0/24"]);
  });
});

describe("endpoint selection (kube-proxy's rules)", () => {
  const eps = [
    { addresses: ["10.0.0.1"], conditions: { ready: true }, nodeName: "n1" },
    { addresses: ["10.0.0.2"], conditions: { ready: true }, nodeName: "n2" },
    {
      addresses: ["10.0.0.3"],
      conditions: { ready: false, serving: true, terminating: true },
      nodeName: "n1",
    },
  ];
  const ips = (l: { ip: string }[]) => l.map((e) => e.ip);

  it("cluster endpoints are the ready ones; local ones are local and ready", () => {
    const sel = selectEndpoints(onlyPort([service(), slice({ endpoints: eps })]), "n1");
    assert.deepEqual(ips(sel.cluster), ["10.0.0.1", "10.0.0.2"]);
    assert.deepEqual(ips(sel.local), ["10.0.0.1"]);
    assert.equal(sel.useCluster, true);
    assert.equal(sel.useLocal, false);
  });

  it("falls back to serving-and-terminating endpoints when none is ready", () => {
    const notReady = eps.map((e) => ({ ...e, conditions: { ...e.conditions, ready: false } }));
    const sel = selectEndpoints(onlyPort([service(), slice({ endpoints: notReady })]), "n1");
    assert.deepEqual(ips(sel.cluster), ["10.0.0.3"]);
    assert.deepEqual(ips(sel.local), ["10.0.0.3"]);
  });

  it("externalTrafficPolicy=Local uses both sets for an externally accessible port", () => {
    const p = onlyPort([
      service({
        spec: {
          type: "NodePort",
          externalTrafficPolicy: "Local",
          ports: [{ name: "http", port: 80, nodePort: 30001 }],
        },
      }),
      slice({ endpoints: eps }),
    ]);
    const sel = selectEndpoints(p, "n2");
    assert.deepEqual([sel.useCluster, sel.useLocal], [true, true]);
    assert.deepEqual(ips(sel.local), ["10.0.0.2"]);
  });

  it("internalTrafficPolicy=Local uses only local endpoints", () => {
    const p = onlyPort([service({ spec: { internalTrafficPolicy: "Local" } }), slice({ endpoints: eps })]);
    const sel = selectEndpoints(p, "n3");
    assert.deepEqual([sel.useCluster, sel.useLocal, sel.local.length], [false, true, 0]);
  });
});

describe("dual-stack and IPv6 Services", () => {
  const v6slice = slice({
    metadata: { name: "web-v6" },
    addressType: "IPv6",
    endpoints: [{ addresses: ["fd00:1::5"], conditions: { ready: true }, nodeName: "n1" }],
  });
  const dual = (spec: object = {}, status?: object) =>
    service({
      spec: {
        type: "LoadBalancer",
        ipFamilyPolicy: "PreferDualStack",
        ipFamilies: ["IPv6", "IPv4"],
        clusterIP: "fd00:96::10",
        clusterIPs: ["fd00:96::10", "10.96.0.10"],
        externalIPs: ["198.18.0.7", "2001:db8::7"],
        ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP", nodePort: 30080 }],
        ...spec,
      },
      ...(status ? { status } : {}),
    });

  it("builds one port per family, each with its own family's addresses and endpoints", () => {
    const status = { loadBalancer: { ingress: [{ ip: "2001:db8::9" }, { ip: "198.18.0.9" }] } };
    const { ports } = modelOf([dual({}, status), slice(), v6slice]);
    assert.deepEqual(
      ports.map((p) => [
        p.id,
        p.family,
        p.clusterIP,
        p.externalIPs,
        p.loadBalancerIPs,
        p.endpoints.map((e) => e.ip),
      ]),
      [
        ["shop/web:http/TCP", "IPv4", "10.96.0.10", ["198.18.0.7"], ["198.18.0.9"], ["10.0.1.5"]],
        ["shop/web:http/TCP/IPv6", "IPv6", "fd00:96::10", ["2001:db8::7"], ["2001:db8::9"], ["fd00:1::5"]],
      ],
    );
    // Everything else is the Service's, alike in both halves (kube-proxy's service port name too).
    assert.deepEqual(
      ports.map((p) => [p.spn, p.nodePort, p.type]),
      [
        ["shop/web:http", 30080, "LoadBalancer"],
        ["shop/web:http", 30080, "LoadBalancer"],
      ],
    );
  });

  it("gives each family's half only that family's source ranges, as kube-proxy's proxiers", () => {
    const ranges = dual({ loadBalancerSourceRanges: ["198.18.0.0/24", " 2001:db8::/64", "198.18.9.0/24"] });
    assert.deepEqual(
      modelOf([ranges]).ports.map((p) => [p.family, p.loadBalancerSourceRanges]),
      [
        ["IPv4", ["198.18.0.0/24", "198.18.9.0/24"]],
        ["IPv6", ["2001:db8::/64"]],
      ],
    );
  });

  it("takes a family's cluster IP from clusterIPs at that family's index in ipFamilies", () => {
    // SingleStack IPv6: the IPv4 slice is there, but the Service has no IPv4 half to use it.
    const single = dual({ ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv6"], clusterIPs: ["fd00:96::10"] });
    assert.deepEqual(
      modelOf([single, slice(), v6slice]).ports.map((p) => [p.id, p.clusterIP]),
      [["shop/web:http/TCP/IPv6", "fd00:96::10"]],
    );
  });

  it("reads an IPv6 Service written before dual-stack (clusterIP alone) as IPv6", () => {
    const old = service({ spec: { clusterIP: "fd00:96::10" } });
    const p = onlyPort([old, slice(), v6slice]);
    assert.deepEqual(
      [p.id, p.family, p.endpoints.map((e) => e.ip)],
      ["shop/web:http/TCP/IPv6", "IPv6", ["fd00:1::5"]],
    );
  });

  it("splits legacy Endpoints by family, as the mirroring controller does", () => {
    const ep = {
      apiVersion: "v1",
      kind: "Endpoints",
      metadata: { name: "web", namespace: "shop" },
      subsets: [
        { addresses: [{ ip: "10.9.9.9" }, { ip: "fd00:9::9" }], ports: [{ name: "http", port: 8080 }] },
      ],
    };
    assert.deepEqual(
      modelOf([dual(), ep]).ports.map((p) => [p.family, p.endpoints.map((e) => `${e.ip} ${e.port}`)]),
      [
        ["IPv4", ["10.9.9.9 8080"]],
        ["IPv6", ["fd00:9::9 8080"]],
      ],
    );
  });

  it("leaves an ingress with ipMode Proxy to the load balancer, as kube-proxy does", () => {
    const status = {
      loadBalancer: { ingress: [{ ip: "198.18.0.9", ipMode: "Proxy" }, { ip: "198.18.0.10" }] },
    };
    const v4 = modelOf([dual({}, status), slice()]).ports.find((p) => p.family === "IPv4")!;
    assert.deepEqual(v4.loadBalancerIPs, ["198.18.0.10"]);
  });
});
