// Builds the C helpers of the benchmark on first use (they are tiny), into dist/bench-tools/.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sh } from "../../src/netns/netns.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Path of the built tool; rebuilt when the source is newer than the binary. */
export function buildTool(name: string): string {
  const src = join(ROOT, "bench", "tools", `${name}.c`);
  const out = join(ROOT, "dist", "bench-tools", name);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    sh("cc", ["-O2", "-Wall", "-Wextra", "-Werror", "-o", out, src]);
  }
  return out;
}
