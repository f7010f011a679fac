// Structured logs (pino) go to stderr; results go to stdout, so output can be piped.
import { pino } from "pino";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The process-wide logger. The CLI sets its level from --log-level (default from MAPLB_LOG_LEVEL, else "info"). */
export const log = pino(
  { level: process.env.MAPLB_LOG_LEVEL ?? "info", base: undefined },
  pino.destination({ fd: 2, sync: true }),
);

export function setLogLevel(level: LogLevel): void {
  log.level = level;
}
