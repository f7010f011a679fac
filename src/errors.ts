// Typed errors a person can act on. User mistakes print as one clear message, never a stack trace.

export type ErrorCode =
  | "E_USAGE" // bad flags or arguments
  | "E_INPUT" // unreadable or unparsable input files
  | "E_VALIDATION" // structurally wrong Kubernetes objects
  | "E_NATIVE" // a negative errno from the native library
  | "E_NATIVE_MISSING" // the native library or BPF object is not built
  | "E_PRIVILEGE" // kernel mode without root / CAP_BPF
  | "E_CAPACITY" // a map is full
  | "E_BUSY" // another maplb writer holds the pin directory
  | "E_EXEC"; // an external tool (iptables-restore, nft, ip) failed

export class MaplbError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, context: Record<string, unknown> = {}) {
    super(message);
    this.name = "MaplbError";
    this.code = code;
    this.context = context;
  }
}

/** One problem found in one Kubernetes object. */
export interface ValidationIssue {
  file: string;
  /** 0-based index of the YAML/JSON document in the file (items of a List count on from it: "2.items[3]"). */
  doc: string;
  kind: string;
  /** `ns/name`, or `<unnamed>`. */
  object: string;
  /** The field path, e.g. `spec.ports[1].port`. */
  field: string;
  /** The bad value, as JSON. */
  value: string;
  message: string;
}

export function formatIssue(i: ValidationIssue): string {
  return `${i.file} doc ${i.doc}: ${i.kind} ${i.object}: ${i.field}: ${i.message} (got ${i.value})`;
}

/** All the validation problems of one run, reported together. */
export class ValidationError extends MaplbError {
  readonly issues: ValidationIssue[];
  constructor(issues: ValidationIssue[]) {
    super(
      "E_VALIDATION",
      `${issues.length} invalid field${issues.length === 1 ? "" : "s"}:\n` +
        issues.map((i) => `  ${formatIssue(i)}`).join("\n"),
      { count: issues.length },
    );
    this.issues = issues;
  }
}
