// IPv4 text ↔ number: every address survives the round trip, octets in network order; the address
// check and the escaping of names, against the library rules they stand for.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { escapeJson, printable } from "../src/util/escape.js";
import { intToIpv4, ipv4ToInt, isIPv4 } from "../src/util/ip.js";

test("ipv4ToInt puts the first octet highest, and inverts intToIpv4 for every address", () => {
  assert.equal(ipv4ToInt("198.18.1.12"), 0xc612010c);
  assert.equal(ipv4ToInt("0.0.0.0"), 0);
  assert.equal(ipv4ToInt("255.255.255.255"), 0xffffffff);
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => ipv4ToInt(intToIpv4(n)) === n));
  fc.assert(fc.property(fc.ipV4(), (s) => intToIpv4(ipv4ToInt(s)) === s));
});

test("isIPv4 accepts exactly what ipaddr.IPv4.isValidFourPartDecimal accepts", () => {
  const same = (s: string) => isIPv4(s) === ipaddr.IPv4.isValidFourPartDecimal(s);
  for (const s of ["0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.04", "01.2.3.4", "1.2.3", "1.2.3.4.5"])
    assert.ok(same(s), s);
  for (const s of ["1.2.3.4\n", " 1.2.3.4", "1.2.3.4 ", "0x1.2.3.4", "1.2.3.+4", "1..3.4", "1.2.3.٤", ""])
    assert.ok(same(s), JSON.stringify(s));
  fc.assert(fc.property(fc.ipV4(), (s) => isIPv4(s) && same(s)));
  fc.assert(fc.property(fc.ipV4Extended(), same));
  const digitsAndDots = fc.string({ unit: fc.constantFrom(..."0123456789.", "00", "255", "256", "999") });
  fc.assert(fc.property(digitsAndDots, same), { numRuns: 5000 });
});

test("printable returns plain names as they are and escapes the rest as JSON does", () => {
  assert.equal(printable("web-1.prod_x"), "web-1.prod_x");
  assert.equal(printable('a"b\nc'), 'a\\"b\\nc');
  assert.equal(printable("x\u202ey"), "x\\u202ey");
  fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => printable(s) === escapeJson(s).slice(1, -1)));
});
