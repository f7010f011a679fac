// IPv6 entries for the lb6 maps, written straight from the ABI mirror (abi.ts), until the compiler
// emits IPv6 MapOps: tests of the IPv6 datapath put their frontends in with these. Written in the
// hitless order apply.ts uses (backends, slots, Maglev rows, source ranges, rev-NAT, master last).
import { Algorithm, Scope } from "../../src/compile/tables.js";
import { SRC_RANGE_PREFIX_BASE } from "../../src/datapath/abi.js";
import { decode, encode, in6, u32 } from "../../src/datapath/codec.js";
import type { Datapath } from "../../src/datapath/datapath.js";
import { protoNumber } from "../../src/datapath/packet.js";
import { ipv6ToBigInt } from "../../src/util/ip.js";

export interface Backend6 {
  id: number;
  address: string;
  port: number;
  flags?: number;
}

export interface Service6 {
  address: string;
  port: number;
  proto?: "TCP" | "UDP";
  scope?: Scope;
  backends: Backend6[];
  revNatId: number;
  /** The rev-NAT entry's address; the frontend's by default (:: for a wildcard NodePort). */
  revNatAddress?: string;
  flags?: number;
  algorithm?: "random" | "maglev";
  affinityTimeout?: number;
  /** Maglev: the table's backend ids (M = rows.length) at this offset of lb6_maglev. */
  maglev?: { offset: number; rows: number[] };
  /** CIDRs, e.g. "2001:db8:1::/48". */
  sourceRanges?: string[];
}

const key6 = (s: Service6, slot: number) =>
  encode("lb6_key", {
    address: ipv6ToBigInt(s.address),
    dport: s.port,
    backend_slot: slot,
    proto: protoNumber(s.proto ?? "TCP"),
    scope: s.scope ?? Scope.EXT,
  });

/** Writes one IPv6 frontend (one scope) and its backends. */
export function putService6(dp: Datapath, s: Service6): void {
  const proto = protoNumber(s.proto ?? "TCP");
  for (const b of s.backends)
    dp.maps.update(
      "lb6_backends",
      u32(b.id),
      encode("lb6_backend", { address: ipv6ToBigInt(b.address), port: b.port, proto, flags: b.flags ?? 0 }),
    );
  s.backends.forEach((b, i) =>
    dp.maps.update(
      "lb6_services",
      key6(s, i + 1),
      encode("lb4_service", { backend_id: b.id, rev_nat_id: s.revNatId }),
    ),
  );
  s.maglev?.rows.forEach((id, row) => dp.maps.update("lb6_maglev", u32(s.maglev!.offset + row), u32(id)));
  for (const cidr of s.sourceRanges ?? []) {
    const [net, bits] = cidr.split("/");
    dp.maps.update(
      "lb6_source_range",
      encode("lb6_src_range_key", {
        prefixlen: SRC_RANGE_PREFIX_BASE + Number(bits),
        rev_nat_id: s.revNatId,
        addr: ipv6ToBigInt(net!),
      }),
      Uint8Array.of(1),
    );
  }
  dp.maps.update(
    "lb6_reverse_nat",
    u32(s.revNatId),
    encode("lb6_reverse_nat", { address: ipv6ToBigInt(s.revNatAddress ?? s.address), port: s.port }),
  );
  dp.maps.update(
    "lb6_services",
    key6(s, 0),
    encode("lb4_service", {
      count: s.backends.length,
      rev_nat_id: s.revNatId,
      flags: s.flags ?? 0,
      algorithm: Algorithm[s.algorithm ?? "random"],
      affinity_timeout: s.affinityTimeout ?? 0,
      maglev_offset: s.maglev?.offset ?? 0,
      maglev_size: s.maglev?.rows.length ?? 0,
    }),
  );
}

/** Adds a node address for IPv6 NodePort wildcards. */
export function putNodeAddr6(dp: Datapath, address: string): void {
  dp.maps.update("node_addrs6", in6(ipv6ToBigInt(address)), Uint8Array.of(1));
}

/** Sets the IPv6 cluster CIDR in maplb_config, keeping the rest (configure() writes the IPv4 part). */
export function setClusterCidr6(dp: Datapath, cidr: string): void {
  const [net, bits] = cidr.split("/");
  const config = decode("maplb_config", dp.maps.lookup("maplb_config", u32(0))!);
  dp.maps.update(
    "maplb_config",
    u32(0),
    encode("maplb_config", {
      ...config,
      cluster_cidr6_addr: ipv6ToBigInt(net!),
      cluster_cidr6_prefix: Number(bits),
    }),
  );
}
