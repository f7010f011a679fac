#!/usr/bin/env node
// `npm run build` half for native/: runs make when the Makefile exists.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

if (existsSync("native/Makefile")) {
  const r = spawnSync("make", ["-C", "native", "-j2", "--no-print-directory"], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
