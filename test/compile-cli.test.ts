// `maplb compile` as a user runs it: filters, JSON that parses, and errors as exit codes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { SCENARIOS, service, slice, writeTemp } from "./helpers/manifests.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;

function maplb(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAPLB, ...args], {
    encoding: "utf8",
    env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("maplb compile", () => {
  it("--service keeps one Service: its ports and nothing else", () => {
    const r = maplb(["compile", "-f", SCENARIOS, "--service", "nginx/nginx", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { servicePorts: { id: string }[]; totals: { servicePorts: number } };
    assert.deepEqual(
      out.servicePorts.map((p) => p.id),
      ["nginx/nginx:http/TCP", "nginx/nginx:metrics/TCP"],
    );
    assert.equal(out.totals.servicePorts, 2);
  });

  it("--node-ip adds a NodePort frontend per node address, next to the wildcard", () => {
    const args = ["compile", "-f", `${SCENARIOS}/seed-000-pod-to-pod.yaml`];
    const one = maplb([...args, "--node-ip", "192.0.2.10"]).stdout;
    const two = maplb([...args, "--node-ip", "192.0.2.10", "--node-ip", "192.0.2.11"]).stdout;
    assert.match(one, /192\.0\.2\.10:30090\/TCP/);
    assert.doesNotMatch(one, /192\.0\.2\.11:30090/);
    assert.match(two, /192\.0\.2\.11:30090\/TCP/);
    assert.match(two, /0\.0\.0\.0:30090\/TCP/);
  });

  it("a missing file is a usage error with one line on stderr and no stack trace", () => {
    const r = maplb(["compile", "-f", "/nonexistent/manifests.yaml"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^maplb: cannot read \/nonexistent\/manifests\.yaml/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it("a bad --node-ip is refused by name", () => {
    const r = maplb(["compile", "-f", SCENARIOS, "--node-ip", "300.1.1.1"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--node-ip expects an IPv4 or IPv6 address, got "300\.1\.1\.1"/);
  });

  it("--cluster-cidr takes one CIDR, or one of each family joined by ',', as kube-proxy's flag", () => {
    const args = ["compile", "-f", `${SCENARIOS}/seed-000-pod-to-pod.yaml`, "--cluster-cidr"];
    for (const ok of ["10.0.0.0/8", "fd00::/48", "10.0.0.0/8,fd00::/48", "fd00::/48,10.0.0.0/8"])
      assert.equal(maplb([...args, ok]).code, 0, ok);
    for (const bad of ["10.0.0.0/8,10.1.0.0/16", "fd00::/129", "10.0.0.0/8,fd00::/48,fd01::/48", "fd00::"]) {
      const r = maplb([...args, bad]);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /--cluster-cidr expects a CIDR, or an IPv4 and an IPv6 CIDR joined by ','/);
    }
  });
});

/** A manifest file of these documents (strings are written as they are, objects as YAML). */
function manifest(...docs: (string | object)[]): string {
  return writeTemp("m.yaml", docs.map((d) => (typeof d === "string" ? d : stringify(d))).join("---\n"));
}

/** Exit 2 with one `maplb:` message matching `message`, and no stack trace. */
function assertInputError(args: string[], message: RegExp): string {
  const r = maplb(args);
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^maplb: /);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  return r.stderr;
}

describe("bad manifests are exit 2 with file and field, never a stack trace (issue 11)", () => {
  const svc = (name: string, spec: object = {}, metadata: object = {}) =>
    service({ metadata: { name, ...metadata }, spec });
  const laughs = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    .concat(
      ["b", "c", "d", "e", "f"].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcde"[i]}`).join(",")}]`),
    )
    .join("\n");

  it("a YAML alias bomb", () => {
    assertInputError(["compile", "-f", manifest(laughs)], /m\.yaml doc 0 line 2 .*aliases expand too far/);
  });

  it("an undefined alias", () => {
    const f = manifest("apiVersion: v1\nkind: Service\nmetadata: *nope\n");
    assertInputError(["compile", "-f", f], /m\.yaml doc 0 line 3 .*alias \*nope/);
  });

  it("an alias into another document", () => {
    const f = manifest(
      "apiVersion: v1\nkind: Service\nmetadata: &m {name: a}\n",
      "apiVersion: v1\nkind: Service\nmetadata: *m\n",
    );
    assertInputError(["compile", "-f", f], /m\.yaml doc 1 line 7 .*alias \*m/);
  });

  it("bytes that are not UTF-8 (the file is read as bytes and decoded strictly)", () => {
    const f = manifest("");
    writeFileSync(f, Buffer.from("apiVersion: v1\nkind: Service\nmetadata: {name: \xff}\n", "latin1"));
    assertInputError(["compile", "-f", f], /m\.yaml line 3: not valid UTF-8 text/);
  });

  it("a Service name that would inject an iptables rule is refused, escaped, and nothing is printed", () => {
    const f = manifest(svc('web" -j ACCEPT\n-A KUBE-SERVICES -j ACCEPT\n#'));
    const err = assertInputError(
      ["iptables", "-f", f, "--format", "restore"],
      /doc 0: Service shop\/web\\" -j ACCEPT\\n-A KUBE-SERVICES -j ACCEPT\\n#: metadata\.name: must be a DNS-1035 label/,
    );
    assert.equal(err.trimEnd().split("\n").length, 2, err); // the summary line and one issue, no raw newline
  });

  it("a port name with a newline, for nft", () => {
    const f = manifest(service({ spec: { ports: [{ name: "http\n}", port: 80 }] } }));
    assertInputError(
      ["nft", "-f", f],
      /spec\.ports\[0\]\.name: must be a DNS-1123 label.*\(got "http\\n}"\)/,
    );
  });

  for (const [what, ns, shown] of [
    ["a number", 42, "42"],
    ["a list", ["a"], '["a"]'],
  ] as const) {
    it(`metadata.namespace as ${what}`, () => {
      const f = manifest(svc("web", {}, { namespace: ns }));
      assertInputError(
        ["compile", "-f", f],
        new RegExp(`metadata\\.namespace: must be a string \\(got ${shown.replace(/[[\]]/g, "\\$&")}\\)`),
      );
    });
  }

  it('metadata.name: ""', () => {
    assertInputError(
      ["compile", "-f", manifest(svc(""))],
      /Service shop\/<unnamed>: metadata\.name: is required/,
    );
  });

  it("two Services with the same name", () => {
    const f = manifest(svc("web"), svc("web", { clusterIP: "10.96.0.11" }));
    assertInputError(
      ["compile", "-f", f],
      /doc 1: Service shop\/web: metadata\.name: is used twice \(also .*m\.yaml doc 0\)/,
    );
  });

  it("two Services on the same frontend", () => {
    const f = manifest(svc("a"), svc("b"));
    for (const cmd of ["compile", "iptables", "nft"])
      assertInputError(
        [cmd, "-f", f],
        /Service shop\/b: spec\.clusterIP: frontend 10\.96\.0\.10:80\/TCP is already taken by Service shop\/a/,
      );
  });

  it("two Services on the same NodePort", () => {
    const np = (name: string, ip: string) =>
      svc(name, { type: "NodePort", clusterIP: ip, ports: [{ port: 80, nodePort: 30080 }] });
    const f = manifest(np("a", "10.96.0.10"), np("b", "10.96.0.11"));
    assertInputError(
      ["compile", "-f", f],
      /spec\.ports\[0\]\.nodePort: frontend NodePort 30080\/TCP is already taken/,
    );
  });

  it("Maglev M=3 with 10 backends names the service and suggests M", () => {
    const eps = Array.from({ length: 10 }, (_, i) => ({ addresses: [`10.0.1.${i + 1}`] }));
    const f = manifest(
      svc("web", {}, { annotations: { "maplb.io/maglev-table-size": "3" } }),
      slice({ endpoints: eps }),
    );
    assertInputError(
      ["compile", "-f", f],
      /Service shop\/web: .*maglev-table-size.*smaller than the 10 backends .*such as "1009"/,
    );
  });
});
