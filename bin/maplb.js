#!/usr/bin/env node
// Launcher: the CLI is TypeScript compiled into dist/ by `npm run build` (or the set-up step).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("maplb: dist/ is missing. Run `npm run setup` (or `npm run build`) in the repository first.");
  process.exit(2);
}
// `maplb … | head` closes the pipe early: that is the reader being done, not an error.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { run } = await import(main.href);
process.exitCode = await run(process.argv);
