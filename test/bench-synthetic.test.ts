// The benchmark's synthetic clusters: every frontend and backend a distinct ip:port of its family's
// range, IPv6 addresses written as the API server writes them, and IPv4 models as before IPv6.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import ipaddr from "ipaddr.js";
import { podAddress, serviceFrontend, syntheticModel } from "../bench/synthetic.js";

const inRange = (ip: string, cidr: string) => {
  const [net, len] = ipaddr.parseCIDR(cidr);
  const a = ipaddr.parse(ip);
  return a.kind() === net.kind() && a.match(net, len);
};

describe("synthetic models", () => {
  it("IPv6: ports of family IPv6 in 2001:db8::/32, RFC 5952 text, every ip:port distinct", () => {
    const m = syntheticModel({ services: 300, endpointsPerService: 3, family: "IPv6" });
    assert.equal(m.ports.length, 300);
    const frontends = new Set<string>();
    const backends = new Set<string>();
    for (const p of m.ports) {
      assert.equal(p.family, "IPv6");
      assert.match(p.id, /^bench\/svc-\d{6}:\/TCP\/IPv6$/);
      assert.ok(inRange(p.clusterIP!, "2001:db8:19::/64"), p.clusterIP!);
      assert.equal(p.clusterIP, ipaddr.IPv6.parse(p.clusterIP!).toRFC5952String());
      frontends.add(`[${p.clusterIP}]:${p.port}`);
      for (const e of p.endpoints) {
        assert.ok(inRange(e.ip, "2001:db8:18:8000::/64"), e.ip);
        assert.equal(e.ip, ipaddr.IPv6.parse(e.ip).toRFC5952String());
        backends.add(`[${e.ip}]:${e.port}`);
      }
    }
    assert.equal(frontends.size, 300);
    assert.equal(backends.size, 900);
  });

  it("IPv6 addresses past 65,536 take the next 16 bits, in RFC 5952 form", () => {
    assert.deepEqual(serviceFrontend(0, "IPv6"), { ip: "2001:db8:19::1", port: 80 });
    assert.deepEqual(serviceFrontend(65535, "IPv6"), { ip: "2001:db8:19::1:0", port: 80 });
    assert.deepEqual(podAddress(65536 * 3 + 9, "IPv6"), { ip: "2001:db8:18:8000::3:a", port: 8080 });
  });

  it("IPv4 (the default): 198.19.0.0/16 services and 198.18.128.0/17 pods, ids without a family", () => {
    const m = syntheticModel({ services: 2, endpointsPerService: 2 });
    assert.deepEqual(
      m.ports.map((p) => [p.id, p.family, p.clusterIP, p.endpoints.map((e) => e.ip)]),
      [
        ["bench/svc-000000:/TCP", "IPv4", "198.19.0.0", ["198.18.128.0", "198.18.128.1"]],
        ["bench/svc-000001:/TCP", "IPv4", "198.19.0.1", ["198.18.128.2", "198.18.128.3"]],
      ],
    );
    assert.deepEqual(serviceFrontend(65536), { ip: "198.19.0.0", port: 81 });
  });
});
