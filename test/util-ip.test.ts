// IPv4 text ↔ number: every address survives the round trip, octets in network order.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { intToIpv4, ipv4ToInt } from "../src/util/ip.js";

test("ipv4ToInt puts the first octet highest, and inverts intToIpv4 for every address", () => {
  assert.equal(ipv4ToInt("198.18.1.12"), 0xc612010c);
  assert.equal(ipv4ToInt("0.0.0.0"), 0);
  assert.equal(ipv4ToInt("255.255.255.255"), 0xffffffff);
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => ipv4ToInt(intToIpv4(n)) === n));
  fc.assert(fc.property(fc.ipV4(), (s) => intToIpv4(ipv4ToInt(s)) === s));
});
