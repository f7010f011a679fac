// Records kept one JSON file each in a directory (what maplb attached, and where): the readable
// ones, skipping files a crash left half-written.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export function readJsonRecords<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => {
      try {
        return [JSON.parse(readFileSync(join(dir, f), "utf8")) as T];
      } catch {
        return [];
      }
    });
}
