// Dual-stack and IPv6 objects, validated as the API server validates them: each rule of a Service's
// clusterIP, clusterIPs, ipFamilies and ipFamilyPolicy (src/k8s/cluster-ips.ts), the IP and CIDR forms
// it accepts for a new object (src/k8s/ip-forms.ts), and the IP parts of EndpointSlices and legacy
// Endpoints. Each rule has a valid and an invalid case; an invalid one names the field, quotes the
// value and says what is wrong. Property tests: every valid dual-stack combination reads, every
// broken one is refused at the field broken, and hostile values never crash the check.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { pino } from "pino";
import { stringify } from "yaml";
import { ClusterState } from "../src/agent/cluster-state.js";
import type { KubernetesObject } from "@kubernetes/client-node";
import { ValidationError, formatIssue, type ValidationIssue } from "../src/errors.js";
import { cidrProblem, endpointIPProblem, ipFamily, ipProblem } from "../src/k8s/ip-forms.js";
import { checkObjects, readObjects } from "../src/k8s/read.js";
import type { SourceObject } from "../src/k8s/documents.js";
import { assertIssuesWellFormed } from "./helpers/issues.js";
import { service, slice, writeTemp } from "./helpers/manifests.js";

const quiet = pino({ level: "silent" });

/** The issues of validating these objects in memory (none when they are all valid). */
function issuesOf(objects: unknown[]): ValidationIssue[] {
  const sources: SourceObject[] = objects.map((object, i) => ({ file: "m.yaml", doc: String(i), object }));
  try {
    checkObjects(sources, { log: quiet });
    return [];
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err.issues;
  }
}

/** A Service with a dual-stack spec (type ClusterIP, one port, no clusterIP unless given). */
const svc = (spec: object, status?: object) =>
  service({ spec: { clusterIP: undefined, ...spec }, ...(status ? { status } : {}) });

const V4 = "10.96.0.10";
const V6 = "fd00::10";
const dual = { clusterIP: V4, clusterIPs: [V4, V6], ipFamilies: ["IPv4", "IPv6"] };

describe("IP forms as the API server accepts them for a new object", () => {
  const ips: [string, string | null, "IPv4" | "IPv6" | null][] = [
    ["10.96.0.10", null, "IPv4"],
    ["2001:db8::1", null, "IPv6"],
    ["2001:DB8:0:0::0001", null, "IPv6"], // not canonical, still valid in these fields
    ["1:2:3:4:5:6:7:8", null, "IPv6"],
    ["::1.2.3.4", null, "IPv6"], // IPv4-compatible (not mapped): IPv6
    ["1:2:3:4:5:6:1.2.3.4", null, "IPv6"],
    ["010.96.0.10", "must not have leading 0s", null],
    ["00001::", "must not have leading 0s", null],
    ["::ffff:10.1.2.3", 'must not be an IPv4-mapped IPv6 address (use "10.1.2.3")', null],
    ["::FFFF:a01:203", 'must not be an IPv4-mapped IPv6 address (use "10.1.2.3")', null],
    ["fe80::1%eth0", "is not a valid IP address", null], // a zone is no address
    ["1::2::3", "is not a valid IP address", null],
    ["1:2:3:4:5:6:7:8::", "is not a valid IP address", null], // "::" standing for no group
    ["10.96.0.300", "is not a valid IP address", null],
    [" 10.96.0.10", "is not a valid IP address", null],
    ["[::1]", "is not a valid IP address", null],
    ["", "is not a valid IP address", null],
  ];
  for (const [ip, problem, family] of ips)
    it(`${JSON.stringify(ip)}: ${problem ?? `valid, ${family}`}`, () => {
      assert.equal(ipProblem(ip), problem);
      if (problem === null) assert.equal(ipFamily(ip), family);
    });

  it("a number or a list is no IP address", () => {
    for (const v of [10, ["10.0.0.1"], null, undefined])
      assert.equal(ipProblem(v), "is not a valid IP address");
  });

  it("accepts exactly the IPv6 texts ipaddr.js reads, less zones, mapped IPv4 and leading zeros", () => {
    // ipaddr.js is the independent reader here; the differences are the API server's strict rules.
    const oracle = (s: string): boolean => {
      const last = s.slice(s.lastIndexOf(":") + 1); // an embedded IPv4 address, if any
      if (!s.includes(":") || s.includes("%") || !ipaddr.IPv6.isValid(s)) return false;
      if (last.includes(".") && /(^|\.)0\d/.test(last)) return false;
      // ipaddr.js reads "::a.b.c.d" (IPv4-compatible) as mapped; Go's parser, the API server's, does not.
      return /^::[0-9]+\./.test(s) || !ipaddr.IPv6.parse(s).isIPv4MappedAddress();
    };
    const unit = fc.constantFrom(
      ..."0123456789abcdefABCDEF:.%",
      "::",
      "ffff",
      "0000",
      "00000",
      "255",
      "1.2.3.4",
    );
    const check = (s: string) => (ipProblem(s) === null && s.includes(":")) === oracle(s);
    fc.assert(fc.property(fc.ipV6(), check), { numRuns: 3000 });
    fc.assert(fc.property(fc.string({ unit, maxLength: 14 }), check), { numRuns: 20000 });
  });

  it("every IPv4 address in dotted-quad form is IPv4, its mapped IPv6 form is refused", () => {
    fc.assert(
      fc.property(fc.ipV4(), (s) => {
        assert.equal(ipProblem(s), null);
        assert.equal(ipFamily(s), "IPv4");
        assert.equal(ipProblem(`::ffff:${s}`), `must not be an IPv4-mapped IPv6 address (use "${s}")`);
      }),
    );
  });

  const special: [string, string | null][] = [
    ["0.0.0.0", "may not be unspecified (0.0.0.0)"],
    ["::", "may not be unspecified (::)"],
    ["127.0.0.5", "may not be in the loopback range (127.0.0.0/8, ::1/128)"],
    ["::1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"],
    ["169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"],
    ["febf::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"],
    ["224.0.0.251", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"],
    ["ff12::1", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"],
    ["fec0::1", null],
    ["224.0.1.1", null], // global multicast passes, as in the API server
    ["10.0.0.0", null],
    ["2001:db8::", null],
  ];
  for (const [ip, problem] of special)
    it(`as an endpoint ${ip}: ${problem ?? "fine"}`, () => assert.equal(endpointIPProblem(ip), problem));

  const cidrs: [unknown, string | null][] = [
    ["10.0.0.0/8", null],
    [" 198.51.100.0/24 ", null], // trimmed, as the API server and kube-proxy trim
    ["2001:db8::/32", null],
    ["2001:DB8:0::/48", null],
    ["::/0", null],
    ["10.0.0.1/8", 'must not have bits set beyond the prefix length (use "10.0.0.0/8")'],
    ["2001:db8::1/32", 'must not have bits set beyond the prefix length (use "2001:db8::/32")'],
    ["10.0.0.0/08", "must not have leading 0s in IP or prefix length"],
    ["010.0.0.0/8", "must not have leading 0s in IP or prefix length"],
    ["::ffff:10.0.0.0/104", "must not have an IPv4-mapped IPv6 address"],
    ["10.0.0.0/33", "is not a valid CIDR (for example 10.9.8.0/24 or 2001:db8::/64)"],
    ["2001:db8::/129", "is not a valid CIDR (for example 10.9.8.0/24 or 2001:db8::/64)"],
    ["2001:db8::", "is not a valid CIDR (for example 10.9.8.0/24 or 2001:db8::/64)"],
    ["fe80::/10%eth0", "is not a valid CIDR (for example 10.9.8.0/24 or 2001:db8::/64)"],
    [24, "is not a valid CIDR (for example 10.9.8.0/24 or 2001:db8::/64)"],
  ];
  for (const [cidr, problem] of cidrs)
    it(`CIDR ${JSON.stringify(cidr)}: ${problem ?? "valid"}`, () => assert.equal(cidrProblem(cidr), problem));
});

interface Case {
  name: string;
  objects: unknown[];
  field: string;
  value: string;
  message: string | RegExp;
}

const slice6 = (addresses: unknown[], extra: object = {}) =>
  slice({ addressType: "IPv6", endpoints: [{ addresses, ...extra }] });

const legacy = (ip: string) => ({
  apiVersion: "v1",
  kind: "Endpoints",
  metadata: { name: "web", namespace: "shop" },
  subsets: [{ addresses: [{ ip }], ports: [{ name: "http", port: 8080 }] }],
});

const REQUIRE = "must be 'RequireDualStack' or 'PreferDualStack' when multiple";

const invalid: Case[] = [
  {
    name: "an unknown ipFamilyPolicy",
    objects: [svc({ ...dual, ipFamilyPolicy: "DualStack" })],
    field: "spec.ipFamilyPolicy",
    value: '"DualStack"',
    message: "must be one of SingleStack, PreferDualStack, RequireDualStack",
  },
  {
    name: "an unknown IP family",
    objects: [svc({ clusterIP: V4, ipFamilies: ["IPv5"] })],
    field: "spec.ipFamilies[0]",
    value: '"IPv5"',
    message: "must be one of IPv4, IPv6",
  },
  {
    name: "a family listed twice",
    objects: [svc({ clusterIP: V4, ipFamilies: ["IPv4", "IPv4"], ipFamilyPolicy: "PreferDualStack" })],
    field: "spec.ipFamilies[1]",
    value: '"IPv4"',
    message: "duplicate value (each family may be listed once)",
  },
  {
    name: "three families (the third repeats one: at most two)",
    objects: [svc({ ...dual, ipFamilies: ["IPv4", "IPv6", "IPv4"], ipFamilyPolicy: "RequireDualStack" })],
    field: "spec.ipFamilies[2]",
    value: '"IPv4"',
    message: "duplicate value (each family may be listed once)",
  },
  {
    name: "three cluster IPs",
    objects: [svc({ ...dual, clusterIPs: [V4, V6, "10.96.0.11"], ipFamilyPolicy: "RequireDualStack" })],
    field: "spec.clusterIPs",
    value: '["10.96.0.10","fd00::10","10.96.0.11"]',
    message: "may only hold up to 2 values",
  },
  {
    name: "two cluster IPs of one family",
    objects: [svc({ clusterIP: V4, clusterIPs: [V4, "10.96.0.11"], ipFamilyPolicy: "PreferDualStack" })],
    field: "spec.clusterIPs",
    value: '["10.96.0.10","10.96.0.11"]',
    message: "may specify no more than one IP for each IP family",
  },
  {
    name: "clusterIPs[0] other than clusterIP",
    objects: [svc({ ...dual, clusterIP: "10.96.0.11", ipFamilyPolicy: "RequireDualStack" })],
    field: "spec.clusterIPs",
    value: '["10.96.0.10","fd00::10"]',
    message: "first value must match `clusterIP`",
  },
  {
    name: "clusterIPs without clusterIP",
    objects: [svc({ clusterIPs: [V4, V6], ipFamilyPolicy: "RequireDualStack" })],
    field: "spec.clusterIPs",
    value: '["10.96.0.10","fd00::10"]',
    message: "must be empty when `clusterIP` is not specified",
  },
  {
    name: "None beside an address",
    objects: [svc({ clusterIP: "None", clusterIPs: ["None", V6], ipFamilyPolicy: "RequireDualStack" })],
    field: "spec.clusterIPs",
    value: '["None","fd00::10"]',
    message: "'None' must be the first and only value",
  },
  {
    name: "None second",
    objects: [svc({ clusterIP: V4, clusterIPs: [V4, "None"], ipFamilyPolicy: "RequireDualStack" })],
    field: "spec.clusterIPs[1]",
    value: '"None"',
    message: "is not a valid IP address",
  },
  {
    name: "an IPv4 clusterIP under ipFamilies [IPv6]",
    objects: [svc({ clusterIP: V4, ipFamilies: ["IPv6"] })],
    field: "spec.clusterIP",
    value: '"10.96.0.10"',
    message: "expected an IPv6 value as indicated by `ipFamilies[0]`",
  },
  {
    name: "cluster IPs in the other order than their families",
    objects: [
      svc({
        clusterIP: V6,
        clusterIPs: [V6, V4],
        ipFamilies: ["IPv4", "IPv6"],
        ipFamilyPolicy: "RequireDualStack",
      }),
    ],
    field: "spec.clusterIPs[1]",
    value: '"10.96.0.10"',
    message: "expected an IPv6 value as indicated by `ipFamilies[1]`",
  },
  {
    name: "SingleStack with two cluster IPs",
    objects: [svc({ clusterIP: V4, clusterIPs: [V4, V6], ipFamilyPolicy: "SingleStack" })],
    field: "spec.ipFamilyPolicy",
    value: '"SingleStack"',
    message: `${REQUIRE} cluster IPs are specified`,
  },
  {
    name: "SingleStack with two families",
    objects: [svc({ clusterIP: V4, ipFamilies: ["IPv4", "IPv6"], ipFamilyPolicy: "SingleStack" })],
    field: "spec.ipFamilyPolicy",
    value: '"SingleStack"',
    message: `${REQUIRE} IP families are specified`,
  },
  {
    name: "two families and no policy (SingleStack by default)",
    objects: [svc({ clusterIP: V4, ipFamilies: ["IPv4", "IPv6"] })],
    field: "spec.ipFamilyPolicy",
    value: "nothing",
    message: `${REQUIRE} IP families are specified (unset, it is SingleStack)`,
  },
  {
    name: "a headless Service with a selector, two families and no policy",
    objects: [svc({ clusterIP: "None", ipFamilies: ["IPv6", "IPv4"], selector: { app: "web" } })],
    field: "spec.ipFamilyPolicy",
    value: "nothing",
    message: `${REQUIRE} IP families are specified (unset, it is SingleStack)`,
  },
  ...(
    [
      ["spec.clusterIPs", { clusterIP: V4, clusterIPs: [V4] }, '["10.96.0.10"]'],
      ["spec.clusterIP", { clusterIP: V4 }, '"10.96.0.10"'],
      ["spec.ipFamilies", { ipFamilies: ["IPv4"] }, '["IPv4"]'],
      ["spec.ipFamilyPolicy", { ipFamilyPolicy: "SingleStack" }, '"SingleStack"'],
    ] as const
  ).map(([field, spec, value]): Case => ({
    name: `an ExternalName Service with ${field}`,
    objects: [svc({ type: "ExternalName", externalName: "db.example.com", ...spec })],
    field,
    value,
    message: "may not be set for ExternalName services",
  })),
  {
    name: "a headless NodePort Service",
    objects: [svc({ type: "NodePort", clusterIP: "None" })],
    field: "spec.clusterIP",
    value: '"None"',
    message: "may not be set to 'None' for NodePort services",
  },
  {
    name: "a clusterIP with leading zeros",
    objects: [svc({ clusterIP: "010.96.0.10" })],
    field: "spec.clusterIP",
    value: '"010.96.0.10"',
    message: "must not have leading 0s",
  },
  {
    name: "an IPv4-mapped IPv6 secondary cluster IP",
    objects: [
      svc({ clusterIP: V6, clusterIPs: [V6, "::ffff:10.96.0.10"], ipFamilyPolicy: "RequireDualStack" }),
    ],
    field: "spec.clusterIPs[1]",
    value: '"::ffff:10.96.0.10"',
    message: 'must not be an IPv4-mapped IPv6 address (use "10.96.0.10")',
  },
  ...(
    [
      ["fe80::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"],
      ["::1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"],
      ["::", "may not be unspecified (::)"],
      ["ff02::fb", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"],
      ["2001:db8::7%eth0", "is not a valid IP address"],
    ] as const
  ).map(([ip, message]): Case => ({
    name: `externalIP ${ip}`,
    objects: [svc({ clusterIP: V4, externalIPs: ["2001:db8::5", ip] })],
    field: "spec.externalIPs[1]",
    value: JSON.stringify(ip),
    message,
  })),
  {
    name: "an LB ingress IP with a zone",
    objects: [
      svc({ type: "LoadBalancer", clusterIP: V4 }, { loadBalancer: { ingress: [{ ip: "2001:db8::9%1" }] } }),
    ],
    field: "status.loadBalancer.ingress[0].ip",
    value: '"2001:db8::9%1"',
    message: "is not a valid IP address",
  },
  {
    name: "an IPv6 source range with host bits",
    objects: [
      svc({
        type: "LoadBalancer",
        clusterIP: V4,
        loadBalancerSourceRanges: ["2001:db8::/32", "2001:db8::1/32"],
      }),
    ],
    field: "spec.loadBalancerSourceRanges[1]",
    value: '"2001:db8::1/32"',
    message: 'must not have bits set beyond the prefix length (use "2001:db8::/32")',
  },
  {
    name: "an IPv4 address in an IPv6 slice",
    objects: [slice6(["fd00::1:5", "10.0.1.5"])],
    field: "endpoints[0].addresses[1]",
    value: '"10.0.1.5"',
    message: "is not a valid IPv6 address",
  },
  {
    name: "an IPv4-mapped address in an IPv6 slice",
    objects: [slice6(["::ffff:10.0.1.5"])],
    field: "endpoints[0].addresses[0]",
    value: '"::ffff:10.0.1.5"',
    message: 'must not be an IPv4-mapped IPv6 address (use "10.0.1.5")',
  },
  {
    name: "a link-local address in an IPv6 slice",
    objects: [slice6(["fe80::5"])],
    field: "endpoints[0].addresses[0]",
    value: '"fe80::5"',
    message: "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
  },
  {
    name: "a loopback address in an IPv4 slice",
    objects: [slice({ endpoints: [{ addresses: ["127.0.0.1"] }] })],
    field: "endpoints[0].addresses[0]",
    value: '"127.0.0.1"',
    message: "may not be in the loopback range (127.0.0.0/8, ::1/128)",
  },
  {
    name: "an endpoint with 101 addresses",
    objects: [slice6(Array.from({ length: 101 }, (_, i) => `fd00::${(i + 1).toString(16)}`))],
    field: "endpoints[0].addresses",
    value: "101",
    message: "must have at most 100 items",
  },
  {
    name: "a slice with 1001 endpoints",
    objects: [
      slice({
        addressType: "IPv6",
        endpoints: Array.from({ length: 1001 }, (_, i) => ({
          addresses: [`fd00::1:${(i + 1).toString(16)}`],
        })),
      }),
    ],
    field: "endpoints",
    value: "1001",
    message: "must have at most 1000 items",
  },
  {
    name: "a loopback IPv6 address in legacy Endpoints",
    objects: [legacy("::1")],
    field: "subsets[0].addresses[0].ip",
    value: '"::1"',
    message: "may not be in the loopback range (127.0.0.0/8, ::1/128)",
  },
];

describe("dual-stack rules: an invalid object names the field, quotes the value, says what is wrong", () => {
  for (const c of invalid)
    it(c.name, () => {
      const issues = issuesOf(c.objects);
      const hit = issues.find((i) => i.field === c.field);
      assert.ok(hit, `no issue at ${c.field}; got ${JSON.stringify(issues)}`);
      assert.equal(hit.value, c.value);
      if (typeof c.message === "string") assert.equal(hit.message, c.message);
      else assert.match(hit.message, c.message);
      const line = formatIssue(hit);
      assert.ok(line.includes(`${c.field}: ${hit.message} (got ${c.value})`), line);
    });

  it("a bad address stops the family checks, as the API server stops (one issue, not three)", () => {
    const issues = issuesOf([
      svc({ clusterIP: V4, clusterIPs: [V4, "fd00::x"], ipFamilies: ["IPv4", "IPv4"] }),
    ]);
    assert.deepEqual(
      issues.map((i) => i.field),
      ["spec.ipFamilies[1]", "spec.clusterIPs[1]"],
    );
  });
});

const valid: [string, unknown[]][] = [
  [
    "an IPv6-only Service",
    [svc({ clusterIP: V6, clusterIPs: [V6], ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack" })],
  ],
  ["a dual-stack Service, IPv4 first", [svc({ ...dual, ipFamilyPolicy: "RequireDualStack" })]],
  [
    "a dual-stack Service, IPv6 first",
    [
      svc({
        clusterIP: V6,
        clusterIPs: [V6, V4],
        ipFamilies: ["IPv6", "IPv4"],
        ipFamilyPolicy: "PreferDualStack",
      }),
    ],
  ],
  ["clusterIP alone, its family listed", [svc({ clusterIP: V6, ipFamilies: ["IPv6"] })]],
  [
    "PreferDualStack, one address so far, two families",
    [svc({ clusterIP: V4, ipFamilies: ["IPv4", "IPv6"], ipFamilyPolicy: "PreferDualStack" })],
  ],
  ["RequireDualStack with one address so far", [svc({ clusterIP: V4, ipFamilyPolicy: "RequireDualStack" })]],
  [
    "more families than addresses, matched where both are given",
    [
      svc({
        clusterIP: V6,
        clusterIPs: [V6],
        ipFamilies: ["IPv6", "IPv4"],
        ipFamilyPolicy: "RequireDualStack",
      }),
    ],
  ],
  ["nothing allocated yet", [svc({ ipFamilyPolicy: "PreferDualStack" })]],
  [
    "headless without a selector: two families, no policy",
    [svc({ clusterIP: "None", ipFamilies: ["IPv4", "IPv6"] })],
  ],
  [
    "headless listed as clusterIPs [None]",
    [svc({ clusterIP: "None", clusterIPs: ["None"], ipFamilies: ["IPv6"], selector: { app: "web" } })],
  ],
  ["a non-canonical IPv6 clusterIP", [svc({ clusterIP: "FD00:0:0::10" })]],
  ["an ExternalName Service", [svc({ type: "ExternalName", externalName: "db.example.com", ports: [] })]],
  [
    "IPv6 externalIPs, LB ingress and source ranges",
    [
      svc(
        {
          ...dual,
          type: "LoadBalancer",
          ipFamilyPolicy: "RequireDualStack",
          externalIPs: ["2001:db8::5", "192.0.2.5"],
          loadBalancerSourceRanges: ["2001:db8::/32", "198.51.100.0/24"],
        },
        { loadBalancer: { ingress: [{ ip: "2001:db8::9" }, { ip: "192.0.2.9" }] } },
      ),
    ],
  ],
  [
    "an LB ingress IP may be any address (no endpoint rule there)",
    [svc({ type: "LoadBalancer", clusterIP: V4 }, { loadBalancer: { ingress: [{ ip: "::1" }] } })],
  ],
  ["an IPv6 slice", [slice6(["fd00::1:5", "2001:db8::1:5"])]],
  [
    "a slice of 1000 endpoints",
    [
      slice({
        endpoints: Array.from({ length: 1000 }, (_, i) => ({ addresses: [`10.1.${i >> 8}.${i & 255}`] })),
      }),
    ],
  ],
  ["legacy Endpoints with an IPv6 address", [legacy("fd00::1:5")]],
];

describe("dual-stack objects the API server accepts are read", () => {
  for (const [name, objects] of valid) it(name, () => assert.deepEqual(issuesOf(objects), []));

  it("legacy Endpoints' IPv6 addresses become an IPv6 slice beside the IPv4 one", () => {
    const ep = legacy("10.0.1.5");
    (ep.subsets[0]!.addresses as { ip: string }[]).push({ ip: "fd00::1:5" });
    const file = writeTemp("legacy.yaml", stringify(ep));
    const { legacySlices } = readObjects([file], { log: quiet });
    assert.deepEqual(
      legacySlices.map((s) => [s.metadata?.name, s.addressType, s.endpoints.map((e) => e.addresses[0])]),
      [
        ["web-legacy-0", "IPv4", ["10.0.1.5"]],
        ["web-legacy-0-ipv6", "IPv6", ["fd00::1:5"]],
      ],
    );
  });

  it("the agent skips an invalid dual-stack update and keeps serving the last valid version", () => {
    const s = new ClusterState(quiet);
    const event = (object: unknown) => ({
      resource: "services" as const,
      type: "update" as const,
      object: object as KubernetesObject,
      receivedAt: 0,
    });
    assert.deepEqual(s.apply(event(svc({ clusterIP: V4 }))).issues, []);
    const bad = s.apply(event(svc({ clusterIP: V4, clusterIPs: [V4, V6], ipFamilyPolicy: "SingleStack" })));
    assert.equal(bad.issues[0]?.field, "spec.ipFamilyPolicy");
    assert.equal(s.ports("shop/web")[0]?.clusterIP, V4);
  });
});

// ---- properties ----

const v4 = fc.ipV4();
const v6 = fc.ipV6().filter((s) => ipProblem(s) === null && ipFamily(s) === "IPv6");
const families = fc.constantFrom(["IPv4"], ["IPv6"], ["IPv4", "IPv6"], ["IPv6", "IPv4"]);

/** A dual-stack spec the API server accepts: addresses in family order, fields given or left out. */
const validSpec = fc
  .record({
    families,
    v4,
    v6,
    given: fc.nat(2),
    listFamilies: fc.boolean(),
    asList: fc.boolean(),
    policy: fc.constantFrom<string | undefined>(
      undefined,
      "SingleStack",
      "PreferDualStack",
      "RequireDualStack",
    ),
    type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer"),
  })
  .map((r) => {
    const ips = r.families.map((f) => (f === "IPv4" ? r.v4 : r.v6)).slice(0, r.given);
    const twoOfSomething = ips.length === 2 || (r.listFamilies && r.families.length === 2);
    const policy =
      twoOfSomething && (r.policy ?? "SingleStack") === "SingleStack" ? "PreferDualStack" : r.policy;
    return {
      type: r.type,
      ...(ips.length > 0 ? { clusterIP: ips[0] } : {}),
      ...(ips.length === 2 || (ips.length === 1 && r.asList) ? { clusterIPs: ips } : {}),
      ...(r.listFamilies ? { ipFamilies: r.families } : {}),
      ...(policy ? { ipFamilyPolicy: policy } : {}),
    } as Record<string, unknown>;
  });

/** One rule broken, and the field that must be named. */
const breaks: [string, (s: Record<string, unknown>) => [Record<string, unknown>, string] | null][] = [
  [
    "SingleStack with two addresses",
    (s) =>
      (s.clusterIPs as string[] | undefined)?.length === 2
        ? [{ ...s, ipFamilyPolicy: "SingleStack" }, "spec.ipFamilyPolicy"]
        : null,
  ],
  [
    "families in the other order",
    (s) => {
      const ips = s.clusterIPs as string[] | undefined;
      if (ips?.length !== 2) return null;
      const fams = ips.map((ip) => ipFamily(ip)!).reverse();
      return [{ ...s, ipFamilies: fams }, "spec.clusterIPs[0]"];
    },
  ],
  [
    "a family twice",
    (s) => [{ ...s, ipFamilies: ["IPv6", "IPv6"], ipFamilyPolicy: "PreferDualStack" }, "spec.ipFamilies[1]"],
  ],
  [
    "two addresses of one family",
    (s) =>
      s.clusterIP && s.clusterIP !== "None"
        ? [
            {
              ...s,
              clusterIPs: [s.clusterIP, s.clusterIP],
              ipFamilies: undefined,
              ipFamilyPolicy: "RequireDualStack",
            },
            "spec.clusterIPs",
          ]
        : null,
  ],
  [
    "clusterIPs without clusterIP",
    (s) =>
      (s.clusterIPs as string[] | undefined)?.length
        ? [{ ...s, clusterIP: undefined }, "spec.clusterIPs"]
        : null,
  ],
  ["an unknown policy", (s) => [{ ...s, ipFamilyPolicy: "BothStacks" }, "spec.ipFamilyPolicy"]],
  [
    "an ExternalName with families",
    (s) => [
      { ...s, type: "ExternalName", externalName: "db.example.com", ipFamilies: ["IPv4"] },
      "spec.ipFamilies",
    ],
  ],
];

const HOSTILE: unknown[] = [
  "None",
  "",
  " ",
  "IPv4",
  "IPv6",
  "ipv6",
  "SingleStack",
  "RequireDualStack",
  "fd00::1%eth0",
  "::ffff:10.0.0.1",
  "010.0.0.1",
  "FE80::1",
  "::",
  "::1",
  "2001:db8::/32",
  "10.0.0.1/8",
  "1:2:3:4:5:6:7:8:9",
  `x" -j ACCEPT\n#`,
  "\u202e\u0000",
  "a".repeat(500),
  0,
  -1,
  1e300,
  true,
  null,
  {},
  [],
  [[]],
  { ip: "10.0.0.1" },
];
const hostile = fc.oneof(
  fc.constantFrom(...HOSTILE),
  fc.string({ maxLength: 60 }),
  fc.array(fc.oneof(fc.constantFrom(...HOSTILE), v4, v6, fc.string({ maxLength: 20 })), { maxLength: 4 }),
);

describe("dual-stack properties", () => {
  it("every dual-stack spec the API server accepts is read", () => {
    fc.assert(
      fc.property(validSpec, (spec) => assert.deepEqual(issuesOf([svc(spec)]), [])),
      { numRuns: 1000 },
    );
  });

  for (const [name, mutate] of breaks)
    it(`${name}: refused, at the field broken`, () => {
      fc.assert(
        fc.property(validSpec, (spec) => {
          const broken = mutate(spec);
          fc.pre(broken !== null);
          const [bad, field] = broken!;
          const issues = issuesOf([svc(bad)]);
          assertIssuesWellFormed(issues);
          assert.ok(
            issues.some((i) => i.field === field),
            `${field} not named: ${JSON.stringify(issues)}`,
          );
        }),
        { numRuns: 300 },
      );
    });

  it("hostile values in every dual-stack field: issues, never a crash", () => {
    const fields = [
      "type",
      "clusterIP",
      "clusterIPs",
      "ipFamilies",
      "ipFamilyPolicy",
      "externalIPs",
      "loadBalancerSourceRanges",
      "selector",
    ];
    const spec = fc.dictionary(fc.constantFrom(...fields), hostile, { maxKeys: 5 });
    const ingress = fc.array(fc.record({ ip: hostile }), { maxLength: 2 });
    fc.assert(
      fc.property(spec, ingress, fc.array(hostile, { maxLength: 3 }), (s, ing, addrs) => {
        const objects = [
          svc(s, { loadBalancer: { ingress: ing } }),
          slice6(addrs),
          legacy(String(addrs[0] ?? "")),
        ];
        assertIssuesWellFormed(issuesOf(objects));
      }),
      { numRuns: 2000 },
    );
  });
});
