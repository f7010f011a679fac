// Bad input: every structural mistake is reported with its file, document, object, field and value,
// all of a run's mistakes together.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { MaplbError, ValidationError } from "../src/errors.js";
import { parseManifest } from "../src/k8s/documents.js";
import { readModel, readObjects } from "../src/k8s/read.js";
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
  /** The document the issue is in, when not the first. */
  doc?: string;
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
  // Names as the API server checks them; a hostile one is reported escaped, on one line.
  {
    name: "Service name with a quote and a newline (rule injection)",
    objects: [svc({ metadata: { name: 'web" -j ACCEPT\n-A KUBE-SERVICES -j ACCEPT' } })],
    object: 'shop/web\\" -j ACCEPT\\n-A KUBE-SERVICES -j ACCEPT',
    field: "metadata.name",
    value: '"web\\" -j ACCEPT\\n-A KUBE-SERVICES -j ACCEPT"',
  },
  {
    name: "Service name that is not a DNS-1035 label (starts with a digit)",
    objects: [svc({ metadata: { name: "1web" } })],
    object: "shop/1web",
    field: "metadata.name",
    value: '"1web"',
  },
  {
    name: "Service name of 64 characters",
    objects: [svc({ metadata: { name: "a".repeat(64) } })],
    object: `shop/${"a".repeat(64)}`,
    field: "metadata.name",
  },
  {
    name: "empty Service name",
    objects: [svc({ metadata: { name: "" } })],
    object: "shop/<unnamed>",
    field: "metadata.name",
    value: '""',
  },
  {
    name: "Service name as a number",
    objects: [svc({ metadata: { name: 7 } })],
    object: "shop/<unnamed>",
    field: "metadata.name",
    value: "7",
  },
  {
    name: "namespace as a number",
    objects: [svc({ metadata: { namespace: 42 } })],
    object: "<bad namespace>/web",
    field: "metadata.namespace",
    value: "42",
  },
  {
    name: "namespace as a list",
    objects: [svc({ metadata: { namespace: ["shop"] } })],
    object: "<bad namespace>/web",
    field: "metadata.namespace",
    value: '["shop"]',
  },
  {
    name: "namespace with upper case",
    objects: [svc({ metadata: { namespace: "Shop" } })],
    object: "Shop/web",
    field: "metadata.namespace",
    value: '"Shop"',
  },
  {
    name: "port name with a newline",
    objects: [withPort({ name: "p\nx", port: 80 })],
    object: "shop/web",
    field: "spec.ports[0].name",
    value: '"p\\nx"',
  },
  {
    name: "port name with upper case",
    objects: [withPort({ name: "HTTP", port: 80 })],
    object: "shop/web",
    field: "spec.ports[0].name",
    value: '"HTTP"',
  },
  {
    name: "unnamed port of a two-port Service",
    objects: [svc({ spec: { ports: [{ name: "a", port: 80 }, { port: 81 }] } })],
    object: "shop/web",
    field: "spec.ports[1].name",
  },
  {
    name: "targetPort name that is not an IANA service name",
    objects: [withPort({ port: 80, targetPort: "http--alt" })],
    object: "shop/web",
    field: "spec.ports[0].targetPort",
    value: '"http--alt"',
  },
  {
    name: "label value of the wrong type",
    objects: [svc({ metadata: { labels: { app: 3 } } })],
    object: "shop/web",
    field: 'metadata.labels["app"]',
    value: "3",
  },
  {
    name: "control characters escaped in the value (DEL, C1, bidi override)",
    objects: [svc({ metadata: { name: "a\u007fb\u0085c\u202ed" } })],
    object: "shop/a\\u007fb\\u0085c\\u202ed",
    field: "metadata.name",
    value: '"a\\u007fb\\u0085c\\u202ed"',
  },
  {
    name: "slice name that is not a DNS-1123 subdomain",
    objects: [slice({ metadata: { name: "Web_abc" } })],
    object: "shop/Web_abc",
    field: "metadata.name",
    value: '"Web_abc"',
  },
  {
    name: "slice port name with a quote",
    objects: [slice({ ports: [{ name: 'h"p', port: 80 }] })],
    object: "shop/web-abc",
    field: "ports[0].name",
    value: '"h\\"p"',
  },
  {
    name: "slice service-name label with a newline",
    objects: [slice({ metadata: { labels: { "kubernetes.io/service-name": "web\nx" } } })],
    object: "shop/web-abc",
    field: 'metadata.labels["kubernetes.io/service-name"]',
    value: '"web\\nx"',
  },
  {
    name: "slice nodeName with a space",
    objects: [slice({ endpoints: [{ addresses: ["10.0.1.5"], nodeName: "node a" }] })],
    object: "shop/web-abc",
    field: "endpoints[0].nodeName",
    value: '"node a"',
  },
  {
    name: "slice targetRef name as a number",
    objects: [slice({ endpoints: [{ addresses: ["10.0.1.5"], targetRef: { kind: "Pod", name: 5 } }] })],
    object: "shop/web-abc",
    field: "endpoints[0].targetRef.name",
    value: "5",
  },
  {
    name: "two Services with the same name",
    objects: [svc(), svc({ spec: { clusterIP: "10.96.0.11" } })],
    object: "shop/web",
    field: "metadata.name",
    value: '"web"',
    doc: "1",
  },
  {
    name: "two slices with the same name",
    objects: [slice(), slice()],
    object: "shop/web-abc",
    field: "metadata.name",
    doc: "1",
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
      assert.equal(hit.doc, c.doc ?? "0");
      const message = new ValidationError(issues).message;
      assert.ok(message.includes(c.object) && message.includes(c.field), message);
    });
  }
  it("has at least 45 cases", () => assert.ok(cases.length >= 45));
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

describe("a hostile value cannot break the message", () => {
  it("prints one line per issue, whatever the name holds", () => {
    const issues = issuesOf([
      svc({ metadata: { name: "a\nb\r\u2028c" } }),
      withPort({ name: "x\ny", port: 80 }),
    ]);
    const lines = new ValidationError(issues).message.split(/[\n\r\u2028\u2029]/);
    assert.equal(lines.length, issues.length + 1, lines.join("|"));
  });

  it("a Service and its legacy Endpoints may share a name; two namespaces may too", () => {
    const file = writeTemp(
      "ok.yaml",
      [
        svc(),
        svc({ metadata: { namespace: "other" } }),
        { apiVersion: "v1", kind: "Endpoints", metadata: { name: "web", namespace: "shop" } },
      ]
        .map((o) => stringify(o))
        .join("---\n"),
    );
    assert.equal(readObjects([file]).services.length, 2);
  });

  it("a missing or empty namespace is default", () => {
    const file = writeTemp("ns.yaml", stringify(svc({ metadata: { namespace: "" } })));
    assert.equal(readObjects([file]).services[0]?.metadata?.namespace, "default");
  });
});

/** The issues readModel finds across objects (frontend conflicts, Maglev sizes). */
function modelIssuesOf(objects: object[]): ValidationError["issues"] {
  const file = writeTemp("bad.yaml", objects.map((o) => stringify(o)).join("---\n"));
  try {
    readModel([file]);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail("the input was accepted");
}

describe("problems across objects", () => {
  const named = (name: string, spec: object = {}, metadata: object = {}) =>
    svc({ metadata: { name, ...metadata }, spec });

  it("two Services on one ClusterIP and port", () => {
    const [i, ...rest] = modelIssuesOf([named("a"), named("b")]);
    assert.equal(rest.length, 0);
    assert.equal(i?.object, "shop/b");
    assert.equal(i?.field, "spec.clusterIP");
    assert.equal(i?.doc, "1");
    assert.match(i!.message, /frontend 10\.96\.0\.10:80\/TCP is already taken by Service shop\/a \(.* doc 0/);
  });

  it("the later document is the one named, whatever the names' order", () => {
    const issues = modelIssuesOf([named("z"), named("a")]);
    assert.deepEqual(
      issues.map((i) => [i.object, i.doc]),
      [["shop/a", "1"]],
    );
    assert.match(issues[0]!.message, /already taken by Service shop\/z/);
  });

  it("an externalIP that is another Service's ClusterIP, on the same port", () => {
    const issues = modelIssuesOf([
      named("a"),
      named("b", { clusterIP: "10.96.0.11", externalIPs: ["10.96.0.10"] }),
    ]);
    assert.deepEqual(
      issues.map((i) => [i.object, i.field]),
      [["shop/b", "spec.externalIPs[0]"]],
    );
  });

  it("two Services on one NodePort", () => {
    const np = (name: string, ip: string) =>
      named(name, { type: "NodePort", clusterIP: ip, ports: [{ name: "http", port: 80, nodePort: 30080 }] });
    const issues = modelIssuesOf([np("a", "10.96.0.10"), np("b", "10.96.0.11")]);
    assert.deepEqual(
      issues.map((i) => [i.object, i.field, i.value]),
      [["shop/b", "spec.ports[0].nodePort", '"NodePort 30080/TCP"']],
    );
  });

  it("the same port number on another protocol, or another IP, is no conflict", () => {
    const file = writeTemp(
      "ok.yaml",
      [
        named("a"),
        named("b", { ports: [{ name: "dns", port: 80, protocol: "UDP" }] }),
        named("c", { clusterIP: "10.96.0.11" }),
      ]
        .map((o) => stringify(o))
        .join("---\n"),
    );
    assert.equal(readModel([file]).ports.length, 3);
  });

  it("a Maglev table smaller than the backends, with a size to use", () => {
    const eps = Array.from({ length: 10 }, (_, i) => ({ addresses: [`10.0.1.${i + 1}`] }));
    const issues = modelIssuesOf([
      named("web", {}, { annotations: { "maplb.io/maglev-table-size": "3" } }),
      slice({ endpoints: eps }),
    ]);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.field, 'metadata.annotations["maplb.io/maglev-table-size"]');
    assert.match(issues[0]!.message, /smaller than the 10 backends of port shop\/web:http\/TCP.*"1009"/);
  });

  it("the same size with random backend choice is fine", () => {
    const eps = Array.from({ length: 10 }, (_, i) => ({ addresses: [`10.0.1.${i + 1}`] }));
    const file = writeTemp(
      "ok.yaml",
      [
        named(
          "web",
          {},
          { annotations: { "maplb.io/maglev-table-size": "3", "maplb.io/lb-algorithm": "random" } },
        ),
        slice({ endpoints: eps }),
      ]
        .map((o) => stringify(o))
        .join("---\n"),
    );
    assert.equal(readModel([file]).ports[0]?.endpoints.length, 10);
  });
});

/** The MaplbError parseManifest throws for `text`. */
function parseError(text: string | Uint8Array): MaplbError {
  try {
    parseManifest("m.yaml", text);
  } catch (err) {
    assert.ok(err instanceof MaplbError, `expected a MaplbError, got ${String(err)}`);
    assert.equal(err.code, "E_INPUT");
    return err;
  }
  assert.fail("the text was accepted");
}

describe("YAML errors name the file, document and line", () => {
  const laughs = [
    'a: &a ["x","x","x","x","x","x","x","x","x"]',
    ...["b", "c", "d", "e", "f", "g"].map((k, i) => {
      const prev = "abcdefg"[i]!;
      return `${k}: &${k} [${Array(9).fill(`*${prev}`).join(",")}]`;
    }),
  ].join("\n");
  const cases: [string, string | Uint8Array, RegExp][] = [
    ["an alias bomb", laughs, /^m\.yaml doc 0 line 2 column \d+: .*aliases expand too far/],
    [
      "an undefined alias",
      "kind: Service\nmetadata: *nope\n",
      /^m\.yaml doc 0 line 2 .*alias \*nope has no anchor/,
    ],
    [
      "an alias into another document",
      "metadata: &m {name: a}\n---\nkind: Service\nmetadata: *m\n",
      /^m\.yaml doc 1 line 4 .*alias \*m has no anchor/,
    ],
    ["a duplicate key", "kind: Service\nkind: Service\n", /^m\.yaml doc 0 line 2 .*unique/],
    ["a tab as indentation", "metadata:\n\tname: x\n", /^m\.yaml doc 0 line 2 .*Tabs/],
    ["bad indentation", "kind: Service\n  metadata: x\n bad\n", /^m\.yaml doc 0 line \d+ /],
    ["an unclosed flow mapping", "metadata: {name: a\n", /^m\.yaml doc 0 line \d+ /],
    [
      "bytes that are not UTF-8",
      Buffer.from("kind: Service\nmetadata: {name: \xff}\n", "latin1"),
      /^m\.yaml line 2: not valid UTF-8/,
    ],
  ];
  for (const [name, text, message] of cases) it(name, () => assert.match(parseError(text).message, message));

  it("YAML 1.1 sets, timestamps and binaries are not mappings or strings", () => {
    const file = writeTemp(
      "tags.yaml",
      "%YAML 1.1\n---\napiVersion: v1\nkind: Service\n" +
        "metadata: {name: !!binary aGVsbG8=, namespace: !!timestamp 2001-12-14}\nspec: !!set {a, b}\n",
    );
    try {
      readObjects([file]);
      assert.fail("accepted");
    } catch (err) {
      assert.ok(err instanceof ValidationError, String(err));
      assert.deepEqual(
        err.issues.map((i) => [i.field, i.message]),
        [
          ["metadata.name", "must be a string"],
          ["metadata.namespace", "must be a string"],
          ["spec", "must be an object"],
        ],
      );
    }
  });

  it("a few aliases, as real manifests use them, still read", () => {
    const objs = parseManifest("m.yaml", "x: &p {port: 80}\ny: [*p, *p]\n");
    assert.deepEqual(objs[0]?.object, { x: { port: 80 }, y: [{ port: 80 }, { port: 80 }] });
  });
});
