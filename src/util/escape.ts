// Printing untrusted text: a name from a manifest may hold quotes, newlines or characters that
// reorder a terminal line. Escaped, it prints as one inert line in a message, a log or a rule.

/**
 * What JSON.stringify leaves raw but a terminal or a log reader should not see raw: DEL and the C1
 * controls, the line and paragraph separators, and the bidirectional marks and overrides.
 */
const INVISIBLE = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** JSON text with every control character escaped. */
export function escapeJson(value: unknown): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A string, unquoted, with quotes, backslashes and control characters escaped as in JSON. */
export function printable(text: string): string {
  // Names are almost always plain (DNS labels): nothing to escape, no JSON round trip.
  return PLAIN.test(text) ? text : escapeJson(text).slice(1, -1);
}

const PLAIN = /^[A-Za-z0-9._-]*$/;
