// Golden files: compare, or (MAPLB_UPDATE_GOLDENS=1) rewrite them — then read every changed golden
// before committing it.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const UPDATE = process.env.MAPLB_UPDATE_GOLDENS === "1";

/** A checker for goldens under test/golden/<folder> of the source tree (tests run from dist/test). */
export function goldenChecker(folder: string): (name: string, actual: string) => void {
  const dir = new URL(`../../../test/golden/${folder}/`, import.meta.url).pathname;
  return (name, actual) => {
    const file = join(dir, name);
    if (UPDATE) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, actual);
      return;
    }
    assert.equal(
      actual,
      readFileSync(file, "utf8"),
      `${name} differs (MAPLB_UPDATE_GOLDENS=1 regenerates it)`,
    );
  };
}
