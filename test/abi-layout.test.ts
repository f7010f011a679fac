// The alignchecker: the TypeScript mirror of maplb_abi.h must lay out every struct exactly as the C
// compiler did, and agree on map ids, sizes and constants.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Algorithm, BackendFlag, Scope, SvcFlag } from "../src/compile/tables.js";
import {
  ABI_STRUCTS,
  COUNTER_ROWS,
  counterRow,
  CT_CLOSE_TIMEOUT,
  CT_REPLY,
  CT_SERVICE,
  CtFlag,
  MAP_NAMES,
  REASON_NAMES,
  SRC_RANGE_PREFIX_BASE,
  VERDICT_NAMES,
  Verdict,
  type StructName,
} from "../src/datapath/abi.js";
import { mirrorLayout, native } from "../src/datapath/binding.js";
import { decode, encode, structSize } from "../src/datapath/codec.js";
import { BENCH_MODES } from "../src/datapath/speed.js";
import { bigIntToIpv6, ipv6ToBigInt } from "../src/util/ip.js";

const lib = native();

for (const name of Object.keys(ABI_STRUCTS) as StructName[]) {
  test(`struct ${name}: size and every offset match the C layout`, () => {
    const mirror = mirrorLayout(name);
    assert.equal(mirror.size, lib.abiSizeof(name), `sizeof(struct ${name})`);
    for (const field of ABI_STRUCTS[name]) {
      assert.equal(
        mirror.offsets[field.name],
        lib.abiOffsetof(name, field.name),
        `offsetof(${name}, ${field.name})`,
      );
    }
  });
}

test("the library knows no struct or field by a name the mirror does not use", () => {
  assert.equal(lib.abiSizeof("no_such_struct"), -1);
  assert.equal(lib.abiOffsetof("lb4_key", "no_such_field"), -1);
});

test("map ids, key and value sizes agree with the C map list", () => {
  assert.equal(lib.mapCount(), MAP_NAMES.length);
  const keyStruct: Partial<Record<string, StructName>> = {
    lb4_services: "lb4_key",
    lb4_source_range: "lb4_src_range_key",
    ct4: "ct4_key",
    lb4_affinity: "lb4_affinity_key",
    lb4_frags: "lb4_frag_key",
    lb4_reverse_sk: "lb4_sock_key",
    lb6_services: "lb6_key",
    lb6_source_range: "lb6_src_range_key",
    ct6: "ct6_key",
    lb6_affinity: "lb6_affinity_key",
    lb6_frags: "lb6_frag_key",
  };
  const valueStruct: Partial<Record<string, StructName>> = {
    lb4_services: "lb4_service",
    lb4_backends: "lb4_backend",
    lb4_reverse_nat: "lb4_reverse_nat",
    maplb_config: "maplb_config",
    ct4: "ct4_entry",
    lb4_affinity: "lb4_affinity_entry",
    lb4_backend_stats: "lb4_backend_stats",
    lb4_frags: "lb4_frag_ports",
    lb4_reverse_sk: "lb4_sock_revnat",
    // IPv6: the values without an address are the lb4 structs, one definition each.
    lb6_services: "lb4_service",
    lb6_backends: "lb6_backend",
    lb6_reverse_nat: "lb6_reverse_nat",
    ct6: "ct6_entry",
    lb6_affinity: "lb4_affinity_entry",
    lb6_frags: "lb4_frag_ports",
  };
  MAP_NAMES.forEach((name, id) => {
    const info = lib.mapInfo(id);
    assert.equal(info.name, name, `map id ${id}`);
    const k = keyStruct[name];
    const v = valueStruct[name];
    if (k) assert.equal(info.key_size, structSize(k), `${name} key`);
    if (v) assert.equal(info.value_size, structSize(v), `${name} value`);
  });
  assert.equal(
    lib.mapInfo(MAP_NAMES.indexOf("node_addrs6")).key_size,
    16,
    "node_addrs6 key: an IPv6 address",
  );
  assert.equal(lib.mapInfo(MAP_NAMES.indexOf("lb6_maglev")).value_size, 4, "lb6_maglev: backend ids");
  // One id space: the IPv6 id tables are as long as the IPv4 ones by default.
  const defaultMax = (name: string) => lib.mapInfo(MAP_NAMES.indexOf(name as never)).default_max_entries;
  assert.equal(defaultMax("lb6_backends"), defaultMax("lb4_backends"));
  assert.equal(defaultMax("lb6_reverse_nat"), defaultMax("lb4_reverse_nat"));
});

test("an in6 field encodes the address in network order and decodes it back", () => {
  const key = { address: ipv6ToBigInt("2001:db8::1:2"), dport: 443, proto: 6, scope: 0, backend_slot: 3 };
  const bytes = encode("lb6_key", key);
  assert.deepEqual([...bytes.subarray(0, 16)], [0x20, 0x01, 0x0d, 0xb8, ...Array(8).fill(0), 0, 1, 0, 2]);
  const back = decode("lb6_key", bytes);
  assert.equal(bigIntToIpv6(back.address as bigint), "2001:db8::1:2");
  assert.equal(back.dport, 443);
  assert.equal(back.backend_slot, 3);
});

test("verdicts, reasons, flags and scopes agree with the header's constants", () => {
  assert.equal(VERDICT_NAMES.length, lib.abiConstant("MAPLB_VERDICT__MAX"));
  assert.equal(REASON_NAMES.length, lib.abiConstant("MAPLB_REASON__MAX"));
  assert.equal(REASON_NAMES.indexOf("TRUNC_L4"), lib.abiConstant("MAPLB_REASON_TRUNC_L4"));
  assert.equal(REASON_NAMES.indexOf("SNAT_NO_PORT"), lib.abiConstant("MAPLB_REASON_SNAT_NO_PORT"));
  assert.equal(Verdict.DROP, lib.abiConstant("MAPLB_VERDICT_DROP"));
  assert.equal(COUNTER_ROWS, lib.abiConstant("MAPLB_COUNTER__MAX"));
  assert.equal(
    counterRow(Verdict.DROP, REASON_NAMES.indexOf("TRUNC_L4")),
    lib.abiConstant("MAPLB_COUNTER(DROP,TRUNC_L4)"),
  );
  assert.equal(SRC_RANGE_PREFIX_BASE, lib.abiConstant("MAPLB_SRC_RANGE_PREFIX_BASE"));
  assert.equal(CT_SERVICE, lib.abiConstant("MAPLB_CT_SERVICE"));
  assert.equal(CT_REPLY, lib.abiConstant("MAPLB_CT_REPLY"));
  assert.equal(CtFlag.FIN_SERVICE, lib.abiConstant("MAPLB_CT_F_FIN_SERVICE"));
  assert.equal(CtFlag.FIN_REPLY, lib.abiConstant("MAPLB_CT_F_FIN_REPLY"));
  assert.equal(CtFlag.RST, lib.abiConstant("MAPLB_CT_F_RST"));
  assert.equal(CT_CLOSE_TIMEOUT, lib.abiConstant("MAPLB_CT_CLOSE_TIMEOUT"));
  assert.equal(REASON_NAMES.indexOf("ICMP_ERROR"), lib.abiConstant("MAPLB_REASON_ICMP_ERROR"));
  assert.equal(REASON_NAMES.indexOf("CTX_ERROR"), lib.abiConstant("MAPLB_REASON_CTX_ERROR"));
  assert.equal(REASON_NAMES.indexOf("NOT_IP"), lib.abiConstant("MAPLB_REASON_NOT_IP"));
  assert.equal(REASON_NAMES.indexOf("EXT_HDR_CHAIN"), lib.abiConstant("MAPLB_REASON_EXT_HDR_CHAIN"));
  assert.equal(REASON_NAMES.indexOf("TRUNC_EXT_HDR"), lib.abiConstant("MAPLB_REASON_TRUNC_EXT_HDR"));
  // The control plane's copies in src/compile/tables.ts.
  assert.equal(Scope.EXT, lib.abiConstant("MAPLB_SCOPE_EXT"));
  assert.equal(Scope.INT, lib.abiConstant("MAPLB_SCOPE_INT"));
  assert.equal(SvcFlag.NODEPORT, lib.abiConstant("MAPLB_SVC_NODEPORT"));
  assert.equal(SvcFlag.EXTERNAL, lib.abiConstant("MAPLB_SVC_EXTERNAL"));
  assert.equal(SvcFlag.SOURCE_RANGE, lib.abiConstant("MAPLB_SVC_SOURCE_RANGE"));
  assert.equal(SvcFlag.AFFINITY, lib.abiConstant("MAPLB_SVC_AFFINITY"));
  assert.equal(SvcFlag.TWO_SCOPES, lib.abiConstant("MAPLB_SVC_TWO_SCOPES"));
  assert.equal(Algorithm.random, lib.abiConstant("MAPLB_ALG_RANDOM"));
  assert.equal(Algorithm.maglev, lib.abiConstant("MAPLB_ALG_MAGLEV"));
  assert.equal(BackendFlag.TERMINATING, lib.abiConstant("MAPLB_BACKEND_TERMINATING"));
  assert.equal(BackendFlag.LOCAL, lib.abiConstant("MAPLB_BACKEND_LOCAL"));
  assert.equal(BENCH_MODES.established, lib.abiConstant("MAPLB_BENCH_ESTABLISHED"));
  assert.equal(BENCH_MODES.new, lib.abiConstant("MAPLB_BENCH_NEW_FLOWS"));
  assert.equal(BENCH_MODES.empty, lib.abiConstant("MAPLB_BENCH_EMPTY"));
});
