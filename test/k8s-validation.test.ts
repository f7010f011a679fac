// Bad input: every structural mistake is reported with its file, document, object, field and value,
// all of a run's mistakes together.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { ValidationError } from "../src/errors.js";
import { readObjects } from "../src/k8s/read.js";
import { service, slice, writeTemp } from "./helpers/manifests.js";

function issuesOf(objects: object[]): ValidationError["issues"] {
  const file = writeTemp("bad.yaml", objects.map((o) => stringify(o)).join("---\n"));
  try {
    readObjects([file]);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    for (const i of err.issues) assert.equal(i.file, file);
    return err.issues;
  }
  assert.fail("the input was accepted");
}

interface Case {
  name: string;
  objects: object[];
  object: string;
  field: string;
  value?: string;
}

const svc = service;
const withPort = (port: object) => service({ spec: { ports: [port] } });

const cases: Case[] = [
  {
    name: "unparsable clusterIP",
    objects: [svc({ spec: { clusterIP: "10.96.0.300" } })],
    object: "shop/web",
    field: "spec.clusterIP",
    value: '"10.96.0.300"',
  },
  {
    name: "port 0",
    objects: [withPort({ port: 0 })],
    object: "shop/web",
    field: "spec.ports[0].port",
    value: "0",
  },
  {
    name: "port 65536",
    objects: [withPort({ port: 65536 })],
    object: "shop/web",
    field: "spec.ports[0].port",
    value: "65536",
  },
  {
    name: "port as text",
    objects: [withPort({ port: "http" })],
    object: "shop/web",
    field: "spec.ports[0].port",
    value: '"http"',
  },
  {
    name: "port missing",
    objects: [withPort({ name: "x" })],
    object: "shop/web",
    field: "spec.ports[0].port",
  },
  {
    name: "fractional port",
    objects: [withPort({ port: 80.5 })],
    object: "shop/web",
    field: "spec.ports[0].port",
    value: "80.5",
  },
  {
    name: "duplicate port name",
    objects: [
      svc({
        spec: {
          ports: [
            { name: "a", port: 80 },
            { name: "a", port: 81 },
          ],
        },
      }),
    ],
    object: "shop/web",
    field: "spec.ports[1].name",
    value: '"a"',
  },
  {
    name: "duplicate port and protocol",
    objects: [
      svc({
        spec: {
          ports: [
            { name: "a", port: 80 },
            { name: "b", port: 80 },
          ],
        },
      }),
    ],
    object: "shop/web",
    field: "spec.ports[1].port",
    value: "80",
  },
  {
    name: "protocol ICMP",
    objects: [withPort({ port: 80, protocol: "ICMP" })],
    object: "shop/web",
    field: "spec.ports[0].protocol",
    value: '"ICMP"',
  },
  {
    name: "lower-case protocol",
    objects: [withPort({ port: 80, protocol: "tcp" })],
    object: "shop/web",
    field: "spec.ports[0].protocol",
    value: '"tcp"',
  },
  {
    name: "nodePort 70000",
    objects: [svc({ spec: { type: "NodePort", ports: [{ port: 80, nodePort: 70000 }] } })],
    object: "shop/web",
    field: "spec.ports[0].nodePort",
    value: "70000",
  },
  {
    name: "targetPort 0",
    objects: [withPort({ port: 80, targetPort: 0 })],
    object: "shop/web",
    field: "spec.ports[0].targetPort",
    value: "0",
  },
  {
    name: "unknown service type",
    objects: [svc({ spec: { type: "Ingress" } })],
    object: "shop/web",
    field: "spec.type",
    value: '"Ingress"',
  },
  {
    name: "bad externalIP",
    objects: [svc({ spec: { externalIPs: ["1.2.3"] } })],
    object: "shop/web",
    field: "spec.externalIPs[0]",
    value: '"1.2.3"',
  },
  {
    name: "bad source range",
    objects: [svc({ spec: { type: "LoadBalancer", loadBalancerSourceRanges: ["10.0.0.0/33"] } })],
    object: "shop/web",
    field: "spec.loadBalancerSourceRanges[0]",
    value: '"10.0.0.0/33"',
  },
  {
    name: "bad externalTrafficPolicy",
    objects: [svc({ spec: { externalTrafficPolicy: "Global" } })],
    object: "shop/web",
    field: "spec.externalTrafficPolicy",
    value: '"Global"',
  },
  {
    name: "bad internalTrafficPolicy",
    objects: [svc({ spec: { internalTrafficPolicy: "Node" } })],
    object: "shop/web",
    field: "spec.internalTrafficPolicy",
    value: '"Node"',
  },
  {
    name: "bad sessionAffinity",
    objects: [svc({ spec: { sessionAffinity: "Cookie" } })],
    object: "shop/web",
    field: "spec.sessionAffinity",
    value: '"Cookie"',
  },
  {
    name: "affinity timeout 0",
    objects: [
      svc({
        spec: { sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } },
      }),
    ],
    object: "shop/web",
    field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
    value: "0",
  },
  {
    name: "bad LB ingress IP",
    objects: [
      svc({ spec: { type: "LoadBalancer" }, status: { loadBalancer: { ingress: [{ ip: "lb.example" }] } } }),
    ],
    object: "shop/web",
    field: "status.loadBalancer.ingress[0].ip",
    value: '"lb.example"',
  },
  {
    name: "service without name",
    objects: [svc({ metadata: { name: undefined } })],
    object: "shop/<unnamed>",
    field: "metadata.name",
  },
  {
    name: "service without spec",
    objects: [{ apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "shop" } }],
    object: "shop/web",
    field: "spec",
  },
  {
    name: "ports not a list",
    objects: [svc({ spec: { ports: { port: 80 } } })],
    object: "shop/web",
    field: "spec.ports",
  },
  {
    name: "Maglev size not prime",
    objects: [svc({ metadata: { annotations: { "maplb.io/maglev-table-size": "16384" } } })],
    object: "shop/web",
    field: 'metadata.annotations["maplb.io/maglev-table-size"]',
    value: '"16384"',
  },
  {
    name: "unknown algorithm",
    objects: [svc({ metadata: { annotations: { "maplb.io/lb-algorithm": "roundrobin" } } })],
    object: "shop/web",
    field: 'metadata.annotations["maplb.io/lb-algorithm"]',
    value: '"roundrobin"',
  },
  {
    name: "Service apiVersion v2",
    objects: [{ ...svc(), apiVersion: "v2" }],
    object: "shop/web",
    field: "apiVersion",
    value: '"v2"',
  },
  {
    name: "slice without service-name label",
    objects: [slice({ metadata: { labels: {} } })],
    object: "shop/web-abc",
    field: 'metadata.labels["kubernetes.io/service-name"]',
  },
  {
    name: "slice with bad address",
    objects: [slice({ endpoints: [{ addresses: ["10.0.1.500"] }] })],
    object: "shop/web-abc",
    field: "endpoints[0].addresses[0]",
    value: '"10.0.1.500"',
  },
  {
    name: "IPv6 address in IPv4 slice",
    objects: [slice({ endpoints: [{ addresses: ["fd00::1"] }] })],
    object: "shop/web-abc",
    field: "endpoints[0].addresses[0]",
    value: '"fd00::1"',
  },
  {
    name: "slice endpoint without addresses",
    objects: [slice({ endpoints: [{ addresses: [] }] })],
    object: "shop/web-abc",
    field: "endpoints[0].addresses",
  },
  {
    name: "slice port 99999",
    objects: [slice({ ports: [{ name: "http", port: 99999 }] })],
    object: "shop/web-abc",
    field: "ports[0].port",
    value: "99999",
  },
  {
    name: "slice protocol HTTP",
    objects: [slice({ ports: [{ name: "http", port: 80, protocol: "HTTP" }] })],
    object: "shop/web-abc",
    field: "ports[0].protocol",
    value: '"HTTP"',
  },
  {
    name: "slice duplicate port name",
    objects: [
      slice({
        ports: [
          { name: "http", port: 80 },
          { name: "http", port: 81 },
        ],
      }),
    ],
    object: "shop/web-abc",
    field: "ports[1].name",
    value: '"http"',
  },
  {
    name: "slice condition not boolean",
    objects: [slice({ endpoints: [{ addresses: ["10.0.1.5"], conditions: { ready: "yes" } }] })],
    object: "shop/web-abc",
    field: "endpoints[0].conditions.ready",
    value: '"yes"',
  },
  {
    name: "slice bad addressType",
    objects: [slice({ addressType: "IPv5" })],
    object: "shop/web-abc",
    field: "addressType",
    value: '"IPv5"',
  },
  {
    name: "slice apiVersion v1beta1",
    objects: [{ ...slice(), apiVersion: "discovery.k8s.io/v1beta1" }],
    object: "shop/web-abc",
    field: "apiVersion",
  },
  {
    name: "legacy Endpoints bad ip",
    objects: [
      {
        apiVersion: "v1",
        kind: "Endpoints",
        metadata: { name: "web", namespace: "shop" },
        subsets: [{ addresses: [{ ip: "x" }], ports: [{ port: 80 }] }],
      },
    ],
    object: "shop/web",
    field: "subsets[0].addresses[0].ip",
    value: '"x"',
  },
  {
    name: "legacy Endpoints port missing",
    objects: [
      {
        apiVersion: "v1",
        kind: "Endpoints",
        metadata: { name: "web", namespace: "shop" },
        subsets: [{ addresses: [{ ip: "10.0.0.1" }], ports: [{ name: "p" }] }],
      },
    ],
    object: "shop/web",
    field: "subsets[0].ports[0].port",
  },
  {
    name: "object without kind",
    objects: [{ apiVersion: "v1", metadata: { name: "web", namespace: "shop" } }],
    object: "shop/web",
    field: "kind",
  },
];

describe("validation names the object, the field and the bad value", () => {
  for (const c of cases) {
    it(c.name, () => {
      const issues = issuesOf(c.objects);
      const hit = issues.find((i) => i.object === c.object && i.field === c.field);
      assert.ok(hit, `no issue for ${c.object} ${c.field}; got ${JSON.stringify(issues)}`);
      if (c.value !== undefined) assert.equal(hit.value, c.value);
      assert.equal(hit.doc, "0");
      const message = new ValidationError(issues).message;
      assert.ok(message.includes(c.object) && message.includes(c.field), message);
    });
  }
  it("has at least 25 cases", () => assert.ok(cases.length >= 25));
});

describe("a run reports all its errors together", () => {
  it("collects problems from several objects and documents", () => {
    const issues = issuesOf([
      svc({ spec: { clusterIP: "nope", ports: [{ port: 0 }] } }),
      slice({ metadata: { labels: {} } }),
    ]);
    assert.deepEqual(
      issues.map((i) => [i.doc, i.field]),
      [
        ["0", "spec.clusterIP"],
        ["0", "spec.ports[0].port"],
        ["1", 'metadata.labels["kubernetes.io/service-name"]'],
      ],
    );
  });

  it("names the item of a kind: List", () => {
    const list = { apiVersion: "v1", kind: "List", items: [svc(), svc({ spec: { clusterIP: "bad" } })] };
    const issues = issuesOf([list]);
    assert.equal(issues[0]?.doc, "0.items[1]");
  });
});
