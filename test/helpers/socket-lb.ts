// The map state of the socket-LB tests: a frontend of each kind the hooks treat differently.
import { Algorithm, Scope, SvcFlag, type FrontendKey, type MapOp } from "../../src/compile/tables.js";
import { fe } from "./datapath-targets.js";

export interface SockFrontend {
  key: FrontendKey;
  revNatId: number;
  backendIds: number[];
  flags?: number;
  maglev?: boolean;
}

/** Backends 1..n at 198.18.0.<id>:8080 (TCP and UDP alike). */
export const sockBackend = (id: number) => ({ address: `198.18.0.${id}`, port: 8080 });

/** One frontend of each kind: random, Maglev, UDP, affinity, source ranges, Local policy, none. */
export const SOCK_FRONTENDS: SockFrontend[] = [
  { key: fe("198.18.200.1", 80), revNatId: 1, backendIds: [2, 3] },
  { key: fe("198.18.200.2", 80), revNatId: 2, backendIds: [2, 3, 4], maglev: true },
  { key: fe("198.18.200.3", 53, "UDP"), revNatId: 3, backendIds: [2, 3] },
  { key: fe("198.18.200.4", 80), revNatId: 4, backendIds: [2, 3, 4], flags: SvcFlag.AFFINITY },
  {
    key: fe("198.18.200.5", 80),
    revNatId: 5,
    backendIds: [2, 3],
    flags: SvcFlag.EXTERNAL | SvcFlag.SOURCE_RANGE,
  },
  // externalTrafficPolicy=Local: EXT holds the local backend only, INT (local sockets) all of them.
  { key: fe("198.18.200.6", 80), revNatId: 6, backendIds: [2], flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES },
  {
    key: fe("198.18.200.6", 80, "TCP", Scope.INT),
    revNatId: 6,
    backendIds: [3, 4],
    flags: SvcFlag.EXTERNAL | SvcFlag.TWO_SCOPES,
  },
  { key: fe("198.18.200.7", 80), revNatId: 7, backendIds: [] },
];

/** 198.18.201.0/24 may use the source-range frontend. */
export const ALLOWED_RANGE = "198.18.201.0/24";

const MAGLEV_M = 13;

export function sockOps(frontends: SockFrontend[] = SOCK_FRONTENDS): MapOp[] {
  const ops: MapOp[] = [];
  for (const id of [2, 3, 4])
    for (const protocol of ["TCP", "UDP"] as const)
      ops.push({
        kind: "backend-upsert",
        backend: { id: protocol === "TCP" ? id : id + 10, ...sockBackend(id), protocol, flags: 0 },
      });
  let maglevOffset = 0;
  for (const f of frontends) {
    const ids = f.backendIds.map((id) => (f.key.protocol === "UDP" ? id + 10 : id));
    ids.forEach((backendId, i) =>
      ops.push({ kind: "slot-upsert", key: f.key, slot: i + 1, backendId, revNatId: f.revNatId }),
    );
    const offset = maglevOffset;
    if (f.maglev) {
      ops.push({
        kind: "maglev-write",
        offset,
        rows: Uint32Array.from({ length: MAGLEV_M }, (_, i) => ids[i % ids.length]!),
      });
      maglevOffset += MAGLEV_M;
    }
    ops.push({ kind: "revnat-upsert", entry: { id: f.revNatId, address: f.key.address, port: f.key.port } });
    ops.push({
      kind: "master-upsert",
      key: f.key,
      master: {
        count: ids.length,
        revNatId: f.revNatId,
        flags: f.flags ?? 0,
        algorithm: f.maglev ? Algorithm.maglev : Algorithm.random,
        affinityTimeout: (f.flags ?? 0) & SvcFlag.AFFINITY ? 600 : 0,
        maglevOffset: f.maglev ? offset : 0,
        maglevSize: f.maglev ? MAGLEV_M : 0,
      },
    });
  }
  ops.push({ kind: "source-range-upsert", entry: { revNatId: 5, cidr: ALLOWED_RANGE } });
  return ops;
}
