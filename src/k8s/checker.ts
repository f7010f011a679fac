// A small field checker: reads a raw (unknown) object field by field, records every problem with its
// path and value, and hands back typed values. Validation reports all problems of a run at once.
import type { ValidationIssue } from "../errors.js";
import { escapeJson, printable } from "../util/escape.js";
import type { SourceObject } from "./documents.js";
import { cidrProblem, endpointIPProblem, ipProblem } from "./ip-forms.js";
import { dns1123Label, type NameRule } from "./names.js";

export type Raw = Record<string, unknown>;

/**
 * A mapping. YAML 1.1's tags make other objects too (`!!set`, `!!omap`, `!!timestamp`, `!!binary`):
 * those are not mappings. (Class instances are: the API client deserializes into classes.)
 */
export function isRecord(v: unknown): v is Raw {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  return !(v instanceof Map || v instanceof Set || v instanceof Date || ArrayBuffer.isView(v));
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const s = escapeJson(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export class Checker {
  readonly issues: ValidationIssue[] = [];
  constructor(
    private readonly src: SourceObject,
    readonly kind: string,
    readonly objectName: string,
  ) {}

  fail(field: string, value: unknown, message: string): undefined {
    this.issues.push({
      file: this.src.file,
      doc: this.src.doc,
      kind: this.kind,
      object: this.objectName,
      field,
      value: show(value),
      message,
    });
    return undefined;
  }

  record(obj: Raw, key: string, path: string, required = false): Raw | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return required ? this.fail(path, v, "is required") : undefined;
    return isRecord(v) ? v : this.fail(path, v, "must be an object");
  }

  array(obj: Raw, key: string, path: string): unknown[] {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    this.fail(path, v, "must be a list");
    return [];
  }

  string(obj: Raw, key: string, path: string, required = false): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return required ? this.fail(path, v, "is required") : undefined;
    return typeof v === "string" ? v : this.fail(path, v, "must be a string");
  }

  /** A string that follows one of Kubernetes' name rules (names.ts). */
  name(obj: Raw, key: string, path: string, rule: NameRule, required = false): string | undefined {
    const v = this.string(obj, key, path, required);
    if (v === undefined) return undefined;
    if (v === "") return required ? this.fail(path, v, "is required") : v;
    const problem = rule(v);
    return problem === null ? v : this.fail(path, v, problem);
  }

  bool(obj: Raw, key: string, path: string): boolean | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === "boolean" ? v : this.fail(path, v, "must be true or false");
  }

  /** An integer in [min, max]; `undefined` when absent (unless required). */
  int(obj: Raw, key: string, path: string, min: number, max: number, required = false): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return required ? this.fail(path, v, "is required") : undefined;
    if (typeof v !== "number" || !Number.isInteger(v)) return this.fail(path, v, "must be an integer");
    if (v < min || v > max) return this.fail(path, v, `must be between ${min} and ${max}`);
    return v;
  }

  port(obj: Raw, key: string, path: string, required = false): number | undefined {
    return this.int(obj, key, path, 1, 65535, required);
  }

  oneOf<T extends string>(obj: Raw, key: string, path: string, allowed: readonly T[]): T | undefined {
    const v = this.string(obj, key, path);
    if (v === undefined) return undefined;
    return (allowed as readonly string[]).includes(v)
      ? (v as T)
      : this.fail(path, v, `must be one of ${allowed.join(", ")}`);
  }

  /** An IPv4 or IPv6 address, in a form the API server accepts for a new object (ip-forms.ts). */
  ip(value: unknown, path: string): string | undefined {
    const problem = ipProblem(value);
    return problem === null ? (value as string) : this.fail(path, value, problem);
  }

  /** An address traffic can be balanced to: endpoint addresses and externalIPs (ValidateEndpointIP). */
  endpointIP(value: unknown, path: string): string | undefined {
    const ip = this.ip(value, path);
    const problem = ip === undefined ? null : endpointIPProblem(ip);
    return problem === null ? ip : this.fail(path, value, problem);
  }

  /** An IPv4 or IPv6 CIDR, whitespace-trimmed as the API server and kube-proxy trim loadBalancerSourceRanges. */
  cidr(value: unknown, path: string): string | undefined {
    const problem = cidrProblem(value);
    return problem === null ? (value as string).trim() : this.fail(path, value, problem);
  }
}

export const PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;

/**
 * `ns/name` of a raw object, for messages (escaped: the name may be hostile), and its namespace and
 * name. A missing or empty namespace is "default", as kubectl applies it; one of the wrong type is
 * reported by the object's checker, and shows as `<bad namespace>` here.
 */
export function objectIdentity(o: Raw): { namespace: string; name: string; display: string } {
  const meta = isRecord(o.metadata) ? o.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : "";
  const ns = meta.namespace;
  const namespace =
    ns === undefined || ns === null || ns === "" ? "default" : typeof ns === "string" ? ns : "";
  const shownNs = namespace === "" ? "<bad namespace>" : printable(namespace);
  return { namespace, name, display: `${shownNs}/${name ? printable(name) : "<unnamed>"}` };
}

/**
 * `metadata` as every kind has it: name by the kind's rule, namespace a DNS-1123 label, labels and
 * annotations maps of strings. Returns the metadata record, or undefined when it is missing.
 */
export function checkMetadata(c: Checker, o: Raw, nameRule: NameRule): Raw | undefined {
  const meta = c.record(o, "metadata", "metadata", true);
  if (!meta) return undefined;
  c.name(meta, "name", "metadata.name", nameRule, true);
  c.name(meta, "namespace", "metadata.namespace", dns1123Label);
  for (const map of ["labels", "annotations"]) {
    const m = c.record(meta, map, `metadata.${map}`);
    // The field's path is spelled out only for a value that is wrong (most are right).
    if (m)
      for (const k of Object.keys(m))
        if (typeof m[k] !== "string") c.string(m, k, `metadata.${map}[${escapeJson(k)}]`, true);
  }
  return meta;
}
