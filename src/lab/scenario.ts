// Scenario names: the file names in ../shared/scenarios without .yaml (seed-003-eks-services), the
// short form (seed-003), or a path to a manifest file of one's own.
import { existsSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { PACKAGE_ROOT } from "../datapath/binding.js";
import { MaplbError } from "../errors.js";

export const SCENARIO_DIR = process.env.MAPLB_SCENARIOS ?? resolve(PACKAGE_ROOT, "..", "shared", "scenarios");
export const DEFAULT_SCENARIO = "seed-003";

export function scenarioNames(dir = SCENARIO_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => f.replace(/\.ya?ml$/, ""))
    .sort();
}

/** The scenario's name and file. */
export function resolveScenario(nameOrPath: string, dir = SCENARIO_DIR): { name: string; file: string } {
  if (/\.(ya?ml|json)$/.test(nameOrPath) && existsSync(nameOrPath))
    return { name: basename(nameOrPath).replace(/\.(ya?ml|json)$/, ""), file: resolve(nameOrPath) };
  const names = scenarioNames(dir);
  const exact = names.find((n) => n === nameOrPath);
  const matches = exact ? [exact] : names.filter((n) => n.startsWith(`${nameOrPath}-`));
  if (matches.length !== 1)
    throw new MaplbError(
      "E_USAGE",
      `${matches.length ? "ambiguous" : "unknown"} scenario '${nameOrPath}'; known: ${names.join(", ") || `(none in ${dir})`}`,
    );
  const name = matches[0]!;
  const file = [".yaml", ".yml"].map((ext) => join(dir, name + ext)).find(existsSync)!;
  return { name, file };
}
