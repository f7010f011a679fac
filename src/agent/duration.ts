// Durations on the command line, as kube-proxy spells them: "0", "250ms", "1s", "1m30s", "1h".
import { MaplbError } from "../errors.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go-style duration; throws E_USAGE naming the flag on anything else. */
export function parseDuration(text: string, flag: string): number {
  if (text.trim() === "0") return 0;
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const whole = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || whole !== text.trim())
    throw new MaplbError("E_USAGE", `${flag} expects a duration such as 100ms, 1s or 1m30s, got '${text}'`, {
      flag,
      value: text,
    });
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}
