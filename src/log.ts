// Structured logs (pino) go to stderr; results go to stdout, so output can be piped.
// On a terminal they are printed for people (time, level, message, then key=value); anywhere else,
// one JSON object per line, for log collectors and tests. MAPLB_LOG_FORMAT=json|text overrides.
import { isatty } from "node:tty";
import { pino } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFormat = "json" | "text";

const LEVEL_NAMES: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
/** ANSI colours per level: grey, grey, green, yellow, red, red. */
const LEVEL_COLOURS: Record<number, number> = { 10: 90, 20: 90, 30: 32, 40: 33, 50: 31, 60: 31 };

/** A value as one token: bare when it is a plain word, else quoted as JSON (so spaces and control characters show). */
function token(v: unknown): string {
  if (typeof v === "string") return /^[\w.:/@+,=-]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One pino record (a JSON line) as a line for people: `12:00:01.234 INFO  message key=value …`. */
export function textLine(json: string, colour: boolean): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json; // not a record: as it came
  }
  const { level, time, msg, err, ...fields } = r;
  const name = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5);
  const paint = (code: number, s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const when = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
  const parts = [paint(90, when), paint(LEVEL_COLOURS[level as number] ?? 0, name), String(msg ?? "")];
  for (const [k, v] of Object.entries(fields)) parts.push(`${paint(36, k)}=${token(v)}`);
  const e = err as { message?: string; stack?: string } | undefined;
  if (e) parts.push(`${paint(36, "err")}=${token(e.message ?? e)}`);
  const stack = e?.stack && (level as number) >= 50 ? `\n${e.stack.replace(/^/gm, "    ")}` : "";
  return `${parts.filter(Boolean).join(" ")}${stack}\n`;
}

function initialFormat(): LogFormat {
  const forced = process.env.MAPLB_LOG_FORMAT;
  if (forced === "json" || forced === "text") return forced;
  return isatty(2) ? "text" : "json";
}

const format: LogFormat = initialFormat();

/** stderr, written synchronously: a line logged just before the process exits must not be lost. */
const stderr = pino.destination({ fd: 2, sync: true });

/** pino writes each record here as a JSON line. */
const stderrDestination = {
  write(line: string): void {
    stderr.write(format === "json" ? line : textLine(line, !process.env.NO_COLOR));
  },
};

/** The process-wide logger. The CLI sets its level from --log-level (default from MAPLB_LOG_LEVEL, else "info"). */
export const log = pino({ level: process.env.MAPLB_LOG_LEVEL ?? "info", base: undefined }, stderrDestination);

export function setLogLevel(level: LogLevel): void {
  log.level = level;
}
