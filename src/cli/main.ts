// The maplb command line. Each command lives in its own module under src/cli/commands and registers itself here.
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { MaplbError } from "../errors.js";
import { LOG_LEVELS, log, setLogLevel, type LogLevel } from "../log.js";
import { registerAgent } from "./commands/agent.js";
import { registerAttach } from "./commands/attach.js";
import { registerBench } from "./commands/bench.js";
import { registerCompile } from "./commands/compile.js";
import { registerCompletion } from "./commands/completion.js";
import { registerDatapath } from "./commands/datapath.js";
import { registerIptables } from "./commands/iptables.js";
import { registerLab } from "./commands/lab.js";
import { registerNft } from "./commands/nft.js";
import { checkPathOptions, examplesHelp } from "./options.js";

/** The version in package.json (two folders above dist/src/cli). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Help texts are wrapped at about 100 columns in the source, and commander wraps them again to the
 * terminal's width, which leaves ragged lines. So line breaks inside a paragraph become spaces first;
 * blank lines, and lines that start indented or with "- ", keep theirs.
 */
export function reflow(text: string): string {
  return text
    .split("\n\n")
    .map((paragraph) =>
      paragraph
        .split("\n")
        .reduce(
          (out, line, i) => (i === 0 ? line : `${out}${/^(\s|- )/.test(line) ? "\n" : " "}${line}`),
          "",
        ),
    )
    .join("\n\n");
}

function reflowDescriptions(cmd: Command): void {
  cmd.description(reflow(cmd.description()));
  for (const sub of cmd.commands) reflowDescriptions(sub);
}

export function buildProgram(): Command {
  const program = new Command("maplb")
    .description(
      "An eBPF-style Kubernetes Service load balancer: compiles Services and EndpointSlices into\n" +
        "hash-map lookup tables, runs them in a BPF datapath (or its host build), and writes the\n" +
        "iptables/nftables rules kube-proxy would write for the same objects, to compare the two.",
    )
    .version(packageVersion(), "-V, --version", "print maplb's version")
    .addOption(new Option("--log-level <level>", "log level (logs go to stderr)").choices(LOG_LEVELS))
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .hook("preAction", (cmd) => {
      const level = cmd.opts<{ logLevel?: LogLevel }>().logLevel;
      if (level) setLogLevel(level);
    });
  program.addHelpText(
    "after",
    examplesHelp([
      "maplb compile -f ../shared/scenarios/seed-002-service-discovery.yaml --node-ip 198.18.0.10",
      "maplb iptables -f ../shared/scenarios/seed-003-eks-services.yaml --service default/nginx-svc",
      "sudo maplb apply -f manifests/ --datapath kernel && sudo maplb list -o wide",
      "maplb COMMAND --help            # each command's options and examples",
      "source <(maplb completion bash)",
    ]),
  );
  registerCompile(program);
  registerDatapath(program);
  registerIptables(program);
  registerNft(program);
  registerBench(program);
  registerAgent(program);
  registerAttach(program);
  registerLab(program);
  registerCompletion(program);
  reflowDescriptions(program);
  checkPathOptions(program);
  return program;
}

/** Runs the CLI and returns the exit code: 0 ok, 1 a failure, 2 a usage or input error. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof MaplbError) {
      log.debug({ code: err.code, context: err.context }, "command failed");
      process.stderr.write(`maplb: ${err.message}\n`);
      return err.code === "E_USAGE" || err.code === "E_INPUT" || err.code === "E_VALIDATION" ? 2 : 1;
    }
    throw err;
  }
}
