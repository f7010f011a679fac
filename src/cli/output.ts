// `-o json|yaml|wide` for the commands that print a table (compile, list, status, lab curl), spelled as
// kubectl spells it. `--json` stays, as another name for `-o json`. JSON and YAML carry the same data;
// wide is the table with more columns.
import { type Command, Option } from "commander";
import { stringify as yamlText } from "yaml";

export const OUTPUT_FORMATS = ["json", "yaml", "wide"] as const;
export type OutputFormat = "table" | (typeof OUTPUT_FORMATS)[number];

export interface OutputFlags {
  output?: (typeof OUTPUT_FORMATS)[number];
  json?: boolean;
}

/** Adds `-o, --output` and `--json`; `wide` says what the wide table adds. */
export function addOutputOptions(cmd: Command, wide: string): Command {
  return cmd
    .addOption(
      new Option("-o, --output <format>", `json, yaml, or wide (the table with ${wide})`).choices(
        OUTPUT_FORMATS,
      ),
    )
    .addOption(new Option("--json", "the same as -o json").conflicts("output"));
}

export function outputFormat(flags: OutputFlags): OutputFormat {
  return flags.json ? "json" : (flags.output ?? "table");
}

export interface Renderers {
  /** The data for JSON and YAML (called only for those). */
  data(): unknown;
  /** The table, with the wide columns or without. */
  table(wide: boolean): string;
  /** How this command has always printed its JSON (default: 2-space indent). */
  json?(data: unknown): string;
}

/** The text to print for `format`. */
export function render(format: OutputFormat, r: Renderers): string {
  switch (format) {
    case "json":
      return (r.json ? r.json(r.data()) : JSON.stringify(r.data(), null, 2)) + "\n";
    case "yaml":
      // Plain YAML: shared arrays (frontends of one service share their slots) repeated, not aliased.
      return yamlText(r.data(), { aliasDuplicateObjects: false });
    default:
      return r.table(format === "wide");
  }
}
