// Test helper: what every validation issue must be, whatever the input: one line, naming a field,
// with its value quoted (JSON, or "nothing" for a missing one) and bounded.
import assert from "node:assert/strict";
import { formatIssue, type ValidationIssue } from "../../src/errors.js";

export function assertIssuesWellFormed(issues: ValidationIssue[]): void {
  for (const i of issues) {
    const line = formatIssue(i);
    assert.ok(
      !/[\n\r\u2028\u2029]/.test(line) && !line.includes("\0"),
      `an issue not on one line: ${JSON.stringify(line)}`,
    );
    assert.ok(i.value.length <= 80, `an unbounded value: ${i.value}`);
    assert.ok(i.value === "nothing" || /^["[{\d\-tfn]/.test(i.value), `a value not quoted: ${i.value}`);
    assert.ok(i.field.length > 0 && i.message.length > 0, line);
  }
}
