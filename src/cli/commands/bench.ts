// `maplb bench`: the scaling suite, O(1) map lookups against O(n) chain traversal, side by side.
import { Command, Option } from "commander";
import { compareResults, comparisonText } from "../../../bench/compare.js";
import { readResultsFile } from "../../../bench/results-file.js";
import { runBench, summary } from "../../../bench/runner.js";
import { SUITES } from "../../../bench/suites/index.js";
import { kernelUnavailableReason } from "../../datapath/kernel.js";
import { MaplbError } from "../../errors.js";
import { log } from "../../log.js";
import { examplesHelp } from "../options.js";

interface BenchFlags {
  full?: boolean;
  quick?: boolean;
  suite?: string[];
  json?: string;
  report?: string;
  datapath: "auto" | "kernel" | "emulated";
}

/** auto: the kernel datapath when it can load (root, BPF object built), else emulated; says why. */
function chooseDatapathKind(kind: BenchFlags["datapath"]): "kernel" | "emulated" {
  if (kind !== "auto") return kind;
  const reason = kernelUnavailableReason();
  if (reason) log.info({ datapath: "emulated", reason }, `datapath auto: emulated, because ${reason}`);
  return reason ? "emulated" : "kernel";
}

/** `maplb bench compare A.json B.json`: the change of every figure between two runs. */
function registerCompare(bench: Command): void {
  bench
    .command("compare")
    .description(
      "Print the change of every figure between two results.json files as the ratio B/A, with a noise band\n" +
        "from each figure's repeated samples (±k standard errors of the two medians). Figures outside the band\n" +
        "are marked UP or DOWN; figures without a recorded spread are shown but not judged.",
    )
    .argument("<a>", "the earlier results.json (A)")
    .argument("<b>", "the later results.json (B)")
    .addOption(new Option("-o, --output <format>", "json: the comparison as JSON").choices(["json"]))
    .addOption(
      new Option("-k, --band <k>", "the noise band's half-width in standard errors")
        .default(2)
        .argParser(bandArg),
    )
    .addHelpText(
      "after",
      examplesHelp([
        "maplb bench compare bench/results/OLD/results.json bench/results/NEW/results.json",
        "maplb bench compare a.json b.json -o json | jq '.figures[] | select(.verdict == \"up\")'",
      ]),
    )
    .action((a: string, b: string, flags: { output?: "json"; band: number }) => {
      const c = compareResults(readResultsFile(a), readResultsFile(b), flags.band);
      process.stdout.write(flags.output === "json" ? `${JSON.stringify(c, null, 2)}\n` : comparisonText(c));
    });
}

function bandArg(v: string): number {
  const k = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(k > 0) || k > 100)
    throw new MaplbError(
      "E_USAGE",
      `--band ${JSON.stringify(v)}: a number of standard errors above 0, up to 100`,
    );
  return k;
}

export function registerBench(program: Command): void {
  const names = SUITES.map((s) => s.name);
  const bench = program
    .command("bench")
    .description(
      "Measure maplb against kube-proxy's rules as services and endpoints grow, in one process, side by side.\n" +
        "Prints each suite's table as it finishes, then writes a JSON results file and an offline HTML report.\n" +
        `Suites: ${names.join(", ") || "(none built yet)"}. A suite whose requirements are missing (root, tools)\n` +
        "is skipped with the reason printed. A suite that fails part-way keeps what it measured, its error is\n" +
        "printed and reported, and the command exits 1 once every other suite has run.",
    )
    .option("--quick", "the quick grid (default; under 3 minutes on 2 cores)")
    .option("--full", "the full grid (up to 30 minutes)")
    .option("--suite <name...>", `run only these suites (${names.join(", ")})`)
    .option(
      "--json <file>",
      "where to write the JSON results (default: bench/results/<timestamp>/results.json)",
    )
    .option("--report <dir>", "where to write report.html (default: bench/results/<timestamp>/)")
    .addOption(
      new Option("--datapath <kind>", "datapath for maplb's rows: kernel when root, else emulated")
        .choices(["auto", "kernel", "emulated"])
        .default("auto"),
    )
    .addHelpText(
      "after",
      examplesHelp([
        "npm run bench                      # the same as: maplb bench --quick",
        "maplb bench --suite datapath-emulated control-plane --json /tmp/results.json",
        "sudo maplb bench --full --report /tmp/maplb-report",
      ]),
    )
    .action(async (flags: BenchFlags) => {
      if (flags.quick && flags.full) throw new MaplbError("E_USAGE", "choose one of --quick and --full");
      const unknown = (flags.suite ?? []).filter((s) => !names.includes(s));
      if (unknown.length > 0)
        throw new MaplbError(
          "E_USAGE",
          `unknown suite ${unknown.join(", ")}; the suites are ${names.join(", ")}`,
        );
      const suites = flags.suite ? SUITES.filter((s) => flags.suite!.includes(s.name)) : SUITES;
      const out = await runBench(suites, {
        mode: flags.full ? "full" : "quick",
        datapath: chooseDatapathKind(flags.datapath),
        ...(flags.json ? { jsonPath: flags.json } : {}),
        ...(flags.report ? { reportDir: flags.report } : {}),
        command: `maplb ${process.argv.slice(2).join(" ")}`,
      });
      process.stdout.write(`${summary(out)}\n`);
      if (out.failed.length > 0) process.exitCode = 1;
    });
  registerCompare(bench);
}
