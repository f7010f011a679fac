// LbTables for people: a readable summary and a JSON form (what `maplb compile` prints). Maglev rows
// are summarised (size, rows per backend, a checksum) rather than listed: 16381 numbers per table
// would bury everything else.
import type { IpFamily, ServicePort } from "../model/types.js";
import { hostPort } from "../util/ip.js";
import {
  Algorithm,
  BackendFlag,
  familyOfAddress,
  type FrontendEntry,
  frontendKeyString,
  type LbTables,
  type MaglevTable,
  Scope,
  type ServicePortTables,
  SvcFlag,
} from "./tables.js";

// Listed once, not per frontend: rendering 100k service ports asks for them 100k times.
const FLAGS = Object.entries(SvcFlag);
const ALGORITHMS = Object.entries(Algorithm);

/** The names of the bits set in `flags`: master flags (SvcFlag) by default, or backend flags. */
export function flagNames(flags: number, names?: Readonly<Record<string, number>>): string[] {
  if (flags === 0) return [];
  return (names ? Object.entries(names) : FLAGS).filter(([, bit]) => flags & bit).map(([name]) => name);
}

export function algorithmName(code: number): string {
  return ALGORITHMS.find(([, c]) => c === code)?.[0] ?? `#${code}`;
}

export function scopeName(scope: Scope): "EXT" | "INT" {
  return scope === Scope.INT ? "INT" : "EXT";
}

/** FNV-1a over the rows' little-endian bytes: a short fingerprint to compare tables by. */
export function rowsChecksum(rows: Uint32Array): string {
  let h = 0x811c9dc5;
  for (const v of rows)
    for (let shift = 0; shift < 32; shift += 8) h = Math.imul(h ^ ((v >>> shift) & 0xff), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** Counters for rowsPerBackend, reused: a table's ids sit close together (its service port's backends). */
const WINDOW = 1 << 16;
let counters: Uint32Array | undefined;

/** How many rows each backend id owns, in id order. */
export function rowsPerBackend(rows: Uint32Array): Map<number, number> {
  // This runs over every row of every table (164M rows for 10k tables of 16381), so one indexed pass
  // counts into an array around the first row's id; a Map lookup per row was most of the render.
  const counts = (counters ??= new Uint32Array(WINDOW));
  const lo = rows.length > 0 ? rows[0]! - WINDOW / 2 : 0;
  const seen: number[] = [];
  const out = new Map<number, number>(); // ids outside the window: rare (ids given out far apart)
  for (let i = 0; i < rows.length; i++) {
    const d = rows[i]! - lo;
    if (d >= 0 && d < WINDOW) {
      if (counts[d]!++ === 0) seen.push(d);
    } else out.set(rows[i]!, (out.get(rows[i]!) ?? 0) + 1);
  }
  for (const d of seen) {
    out.set(d + lo, counts[d]!);
    counts[d] = 0;
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

/**
 * How many rows each backend id owns in service port `s`'s table `t`, in id order, without a pass over
 * its rows (164M rows for 10k tables of 16381 cost a third of the render). maglevRows fills in turns,
 * backends in slot order, each turn claiming exactly one row until all M are taken; so the i-th of N
 * backends owns ⌊M/N⌋ rows, and one more when i < M mod N (test/compile-maglev.test.ts checks this
 * against counted rows of both fills). The backends in fill order are the slots of the frontend that
 * reads the table (compileServicePort fills it from them). A table no frontend reads is counted.
 */
export function maglevShares(s: ServicePortTables, t: MaglevTable): Map<number, number> {
  const ids = s.frontends.find((f) => f.maglevTable === t.name)?.slots;
  if (!ids || ids.length === 0) return rowsPerBackend(t.rows);
  const m = t.rows.length;
  const n = ids.length;
  const shares: [number, number][] = [];
  for (let i = 0; i < n && i < m; i++) shares.push([ids[i]!, Math.floor(m / n) + (i < m % n ? 1 : 0)]);
  return new Map(shares.sort(([a], [b]) => a - b));
}

/** Entries of one family's maps. */
export interface FamilyTotals {
  /** lb4_services (lb6_services) entries: masters plus slots. */
  services: { masters: number; slots: number };
  backends: number;
  reverse_nat: number;
  /** Rows in live tables, and their bytes (4 per row). */
  maglev: { tables: number; rows: number; bytes: number };
  source_range: number;
}

/** Entries per map, named as the maps are (lb4_services, …, lb6_source_range). */
export type Totals = { servicePorts: number } & {
  [K in keyof FamilyTotals as `lb4_${K}` | `lb6_${K}`]: FamilyTotals[K];
};

function familyTotals(): FamilyTotals {
  return {
    services: { masters: 0, slots: 0 },
    backends: 0,
    reverse_nat: 0,
    maglev: { tables: 0, rows: 0, bytes: 0 },
    source_range: 0,
  };
}

export function totals(tables: LbTables): Totals {
  const by: Record<IpFamily, FamilyTotals> = { IPv4: familyTotals(), IPv6: familyTotals() };
  for (const s of tables.services.values()) {
    for (const f of s.frontends) {
      const t = by[familyOfAddress(f.key.address)].services;
      t.masters++;
      t.slots += f.slots.length;
    }
    for (const b of s.backends) by[familyOfAddress(b.address)].backends++;
    for (const r of s.revNat) by[familyOfAddress(r.address)].reverse_nat++;
    for (const m of s.maglev) {
      by[m.family].maglev.tables++;
      by[m.family].maglev.rows += m.rows.length;
    }
    for (const r of s.sourceRanges) by[familyOfAddress(r.cidr)].source_range++;
  }
  for (const t of Object.values(by)) t.maglev.bytes = 4 * t.maglev.rows;
  const named = (prefix: string, t: FamilyTotals) =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [`${prefix}_${k}`, v]));
  return { servicePorts: tables.services.size, ...named("lb4", by.IPv4), ...named("lb6", by.IPv6) } as Totals;
}

// JSON

function frontendJson(f: FrontendEntry) {
  const m = f.master;
  return {
    key: frontendKeyString(f.key),
    address: f.key.address,
    port: f.key.port,
    protocol: f.key.protocol,
    scope: scopeName(f.key.scope),
    master: {
      count: m.count,
      revNatId: m.revNatId,
      flags: flagNames(m.flags),
      algorithm: algorithmName(m.algorithm),
      affinityTimeout: m.affinityTimeout,
      maglevOffset: m.maglevOffset,
      maglevSize: m.maglevSize,
    },
    slots: f.slots,
    maglevTable: f.maglevTable,
  };
}

function maglevJson(s: ServicePortTables, t: MaglevTable) {
  return {
    name: t.name,
    family: t.family,
    offset: t.offset,
    size: t.rows.length,
    bytes: 4 * t.rows.length,
    rowsPerBackend: Object.fromEntries(maglevShares(s, t)),
    checksum: rowsChecksum(t.rows),
  };
}

function servicePortJson(s: ServicePortTables) {
  return {
    id: s.id,
    frontends: s.frontends.map(frontendJson),
    backends: s.backends.map((b) => ({
      ...b,
      flags: flagNames(b.flags, BackendFlag),
    })),
    revNat: s.revNat,
    maglev: s.maglev.map((t) => maglevJson(s, t)),
    sourceRanges: s.sourceRanges,
  };
}

/** The service ports in id order (compile() gives them in model order, which is id order: no sort). */
function inIdOrder(tables: LbTables): ServicePortTables[] {
  const ports = [...tables.services.values()];
  const sorted = ports.every((p, i) => i === 0 || ports[i - 1]!.id < p.id);
  return sorted ? ports : ports.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A JSON-ready view of the tables, service ports in id order. */
export function tablesJson(tables: LbTables) {
  return { servicePorts: inIdOrder(tables).map(servicePortJson), totals: totals(tables) };
}

/** JSON.stringify with 2-space indent, but arrays of numbers and strings on one line (slots, flags). */
export function stringifyReadable(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\s+((?:-?[\d.]+|"[^"\n]*")(?:,\s+(?:-?[\d.]+|"[^"\n]*"))*)\s+\]/g,
    (_, items: string) => `[${items.split(/,\s+/).join(", ")}]`,
  );
}

// Text

function table(rows: string[][], indent = "  "): string[] {
  // The header's columns are measured (a plain loop: this runs for each of 100k service ports).
  const widths = rows[0]!.map(() => 0);
  for (const r of rows)
    for (let i = 0; i < widths.length && i < r.length; i++) widths[i] = Math.max(widths[i]!, r[i]!.length);
  return rows.map(
    (r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "),
  );
}

function describePort(p: ServicePort | undefined): string {
  if (!p) return "";
  const policies = [`ETP=${p.externalTrafficPolicy}`, `ITP=${p.internalTrafficPolicy}`];
  if (p.affinityTimeoutSeconds !== null) policies.push(`affinity ClientIP ${p.affinityTimeoutSeconds}s`);
  return `  ${p.type}  ${policies.join(" ")}`;
}

/** wide: adds each frontend's Maglev table, and each backend's protocol and Maglev rows per table. */
export interface TextOptions {
  wide?: boolean;
}

function servicePortText(s: ServicePortTables, port: ServicePort | undefined, o: TextOptions): string[] {
  const lines = [`${s.id}${describePort(port)}`];
  const frontendRows = [
    ["frontend", "scope", "rev-nat", "algorithm", "count", "slots → backend ids", "flags"],
  ];
  if (o.wide) frontendRows[0]!.push("maglev table");
  for (const f of s.frontends) {
    const m = f.master;
    const algo = m.maglevSize > 0 ? `maglev M=${m.maglevSize}@${m.maglevOffset}` : algorithmName(m.algorithm);
    const flags = flagNames(m.flags);
    if (m.affinityTimeout > 0) flags[flags.indexOf("AFFINITY")] = `AFFINITY(${m.affinityTimeout}s)`;
    frontendRows.push([
      `${hostPort(f.key.address, f.key.port)}/${f.key.protocol}`,
      scopeName(f.key.scope),
      String(m.revNatId),
      algo,
      String(m.count),
      f.slots.length > 0 ? f.slots.join(",") : "- (no backend: drop)",
      flags.join(",") || "-",
      ...(o.wide ? [f.maglevTable ?? "-"] : []),
    ]);
  }
  lines.push(...table(frontendRows));
  // Counted once per table: the backend rows (wide) and the table's line both show them.
  const shares = s.maglev.map((m) => ({ table: m, rows: maglevShares(s, m) }));
  if (s.backends.length > 0) {
    const inSlots = new Set(s.frontends.flatMap((f) => f.slots));
    const rows = [["backend", "id", "state", ...(o.wide ? ["protocol", "maglev rows"] : [])]];
    for (const b of s.backends) {
      let state = b.flags & BackendFlag.TERMINATING ? "terminating (draining, no new flows)" : "active";
      if (b.flags & BackendFlag.LOCAL) state += ", on this node";
      rows.push([
        hostPort(b.address, b.port),
        String(b.id),
        inSlots.has(b.id) ? state : `${state}, in no slot`,
      ]);
      if (o.wide)
        rows
          .at(-1)!
          .push(b.protocol, shares.map((t) => `${t.table.name}:${t.rows.get(b.id) ?? 0}`).join(" ") || "-");
    }
    lines.push(...table(rows));
  }
  for (const { table: m, rows } of shares) {
    const share = [...rows].map(([id, n]) => `${id}:${n}`).join(" ");
    const of = m.family === "IPv6" ? " of lb6_maglev" : "";
    lines.push(
      `  maglev ${m.name}: rows ${m.offset}..${m.offset + m.rows.length - 1}${of}, rows per backend ${share}`,
    );
  }
  for (const r of s.sourceRanges) lines.push(`  source range rev-nat ${r.revNatId}: ${r.cidr}`);
  return lines;
}

/** The readable summary: per service port its frontends and backends, then totals per map. */
export function tablesText(
  tables: LbTables,
  ports: readonly ServicePort[] = [],
  opts: TextOptions = {},
): string {
  const byId = new Map(ports.map((p) => [p.id, p]));
  // One string per service port (its lines and the blank line after them), not one per line: 100k
  // service ports make 800k lines, and the array holding them was much of the render's garbage.
  const lines: string[] = [];
  for (const s of inIdOrder(tables)) lines.push(servicePortText(s, byId.get(s.id), opts).join("\n") + "\n");
  const t = totals(tables);
  lines.push(`totals: ${plural(t.servicePorts, "service port")}`, ...familyTotalsText("lb4", t));
  // The lb6 maps only when something goes there: an IPv4-only cluster's summary stays as it was.
  if (t.lb6_services.masters + t.lb6_backends > 0) lines.push(...familyTotalsText("lb6", t));
  return lines.join("\n") + "\n";
}

function familyTotalsText(prefix: "lb4" | "lb6", t: Totals): string[] {
  const services = t[`${prefix}_services`];
  const maglev = t[`${prefix}_maglev`];
  return [
    `  ${prefix}_services      ${services.masters + services.slots} entries ` +
      `(${services.masters} masters, ${services.slots} slots)`,
    `  ${prefix}_backends      ${t[`${prefix}_backends`]}`,
    `  ${prefix}_reverse_nat   ${t[`${prefix}_reverse_nat`]}`,
    `  ${prefix}_maglev        ${maglev.rows} rows in ${plural(maglev.tables, "table")} (${formatBytes(maglev.bytes)})`,
    `  ${prefix}_source_range  ${t[`${prefix}_source_range`]}`,
  ];
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
