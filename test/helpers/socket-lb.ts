// The map state of the socket-LB tests: a frontend of each kind the hooks treat differently, in
// either family (the same frontends, backends and ranges at IPv4 or IPv6 addresses, ids apart so
// that both fit in one set of maps, as a dual-stack node's do).
import { Algorithm, Scope, SvcFlag, type FrontendKey, type MapOp } from "../../src/compile/tables.js";
import { fe } from "./datapath-targets.js";

/** Where one family's test frontends, backends and sources are. */
export interface SockFamily {
  name: "IPv4" | "IPv6";
  /** Frontend n (1..7). */
  frontend(n: number): string;
  /** Backend id's address (port 8080). */
  backend(id: number): string;
  /** The source ranges of the source-range frontend (5), a source inside and one outside it. */
  allowedRange: string;
  inside: string;
  outside: string;
  /** An unbound socket's client identity. */
  client: string;
  /** Added to backend and rev-NAT ids: one id space across the families. */
  idBase: number;
}

export const SOCK_V4: SockFamily = {
  name: "IPv4",
  frontend: (n) => `198.18.200.${n}`,
  backend: (id) => `198.18.0.${id}`,
  allowedRange: "198.18.201.0/24",
  inside: "198.18.201.9",
  outside: "198.18.202.9",
  client: "198.18.5.5",
  idBase: 0,
};

export const SOCK_V6: SockFamily = {
  name: "IPv6",
  frontend: (n) => `2001:db8:200::${n}`,
  backend: (id) => `2001:db8::${id}`,
  allowedRange: "2001:db8:201::/64",
  inside: "2001:db8:201::9",
  outside: "2001:db8:202::9",
  client: "2001:db8:5::5",
  idBase: 100,
};

export interface SockFrontend {
  key: FrontendKey;
  revNatId: number;
  /** Backends by their number (2..4): sockBackend() gives the address. */
  backendIds: number[];
  flags?: number;
  maglev?: boolean;
}

/** Backend n at its family's address, port 8080 (TCP and UDP alike). */
export const sockBackend = (n: number, family: SockFamily = SOCK_V4) => ({
  address: family.backend(n),
  port: 8080,
});

/** One frontend of each kind: random, Maglev, UDP, affinity, source ranges, Local policy, none. */
export function sockFrontends(family: SockFamily): SockFrontend[] {
  const at = family.frontend;
  return [
    { key: fe(at(1), 80), revNatId: 1, backendIds: [2, 3] },
    { key: fe(at(2), 80), revNatId: 2, backendIds: [2, 3, 4], maglev: true },
    { key: fe(at(3), 53, "UDP"), revNatId: 3, backendIds: [2, 3] },
    { key: fe(at(4), 80), revNatId: 4, backendIds: [2, 3, 4], flags: SvcFlag.AFFINITY },
    { key: fe(at(5), 80), revNatId: 5, backendIds: [2, 3], flags: SvcFlag.EXTERNAL | SvcFlag.SOURCE_RANGE },
    // externalTrafficPolicy=Local: EXT holds the local backend only, INT (local sockets) all of them.
    { key: fe(at(6), 80), revNatId: 6, backendIds: [2], flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES },
    {
      key: fe(at(6), 80, "TCP", Scope.INT),
      revNatId: 6,
      backendIds: [3, 4],
      flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES,
    },
    { key: fe(at(7), 80), revNatId: 7, backendIds: [] },
  ];
}

export const SOCK_FRONTENDS = sockFrontends(SOCK_V4);

/** 198.18.201.0/24 may use the source-range frontend. */
export const ALLOWED_RANGE = SOCK_V4.allowedRange;

const MAGLEV_M = 13;

export function sockOps(family: SockFamily = SOCK_V4, frontends = sockFrontends(family)): MapOp[] {
  const base = family.idBase;
  /** A backend's id: its number, +10 for its UDP twin, + the family's base. */
  const backendId = (n: number, protocol: string) => base + (protocol === "UDP" ? n + 10 : n);
  const ops: MapOp[] = [];
  for (const n of [2, 3, 4])
    for (const protocol of ["TCP", "UDP"] as const)
      ops.push({
        kind: "backend-upsert",
        backend: { id: backendId(n, protocol), ...sockBackend(n, family), protocol, flags: 0 },
      });
  let maglevOffset = 0;
  for (const f of frontends) {
    const revNatId = base + f.revNatId;
    const ids = f.backendIds.map((n) => backendId(n, f.key.protocol));
    ids.forEach((id, i) =>
      ops.push({ kind: "slot-upsert", key: f.key, slot: i + 1, backendId: id, revNatId }),
    );
    const offset = maglevOffset;
    if (f.maglev) {
      ops.push({
        kind: "maglev-write",
        family: family.name,
        offset,
        rows: Uint32Array.from({ length: MAGLEV_M }, (_, i) => ids[i % ids.length]!),
      });
      maglevOffset += MAGLEV_M;
    }
    ops.push({ kind: "revnat-upsert", entry: { id: revNatId, address: f.key.address, port: f.key.port } });
    ops.push({
      kind: "master-upsert",
      key: f.key,
      master: {
        count: ids.length,
        revNatId,
        flags: f.flags ?? 0,
        algorithm: f.maglev ? Algorithm.maglev : Algorithm.random,
        affinityTimeout: (f.flags ?? 0) & SvcFlag.AFFINITY ? 600 : 0,
        maglevOffset: f.maglev ? offset : 0,
        maglevSize: f.maglev ? MAGLEV_M : 0,
      },
    });
  }
  ops.push({ kind: "source-range-upsert", entry: { revNatId: base + 5, cidr: family.allowedRange } });
  return ops;
}
