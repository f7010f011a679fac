// `maplb completion bash|zsh`: each script is valid for its shell, registers itself for maplb, and
// completes what the command tree has: every command, a command's subcommands and options, and the
// choices of the option just typed (run in the real shell, on the script the CLI prints).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { kernelSkip } from "./helpers/require-kernel.js";
import { buildProgram } from "../src/cli/main.js";

const MAPLB = new URL("../../bin/maplb.js", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "maplb-completion-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function script(shell: string): string {
  const r = spawnSync(process.execPath, [MAPLB, "completion", shell], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const file = join(dir, `maplb.${shell}`);
  writeFileSync(file, r.stdout);
  return file;
}

/** Runs `code` in the shell (bash, or zsh without rc files) and returns its stdout. */
function run(shell: "bash" | "zsh", code: string): string {
  const args = shell === "bash" ? ["--norc", "--noprofile", "-c", code] : ["-f", "-c", code];
  const r = spawnSync(shell, args, { encoding: "utf8", cwd: dir, env: { ...process.env, HOME: dir } });
  assert.equal(r.status, 0, `${shell}: ${r.stderr}`);
  return r.stdout;
}

const program = buildProgram();
const topLevel = program.commands.map((c) => c.name()).sort();
/** lab's subcommands in the order they are registered, as the completion scripts list them. */
const labCommands = program.commands.find((c) => c.name() === "lab")!.commands.map((c) => c.name());
const labStarting = (prefix: string) => labCommands.filter((c) => c.startsWith(prefix));
const has = (shell: string) => spawnSync(shell, ["-c", "true"]).status === 0;

describe("maplb completion", () => {
  it("an unknown shell is a usage error", () => {
    const r = spawnSync(process.execPath, [MAPLB, "completion", "fish"], { encoding: "utf8" });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Allowed choices are bash, zsh/);
  });

  it("bash: valid, registered with complete, completes commands, subcommands and choices", () => {
    const file = script("bash");
    run("bash", `bash -n ${file}`);
    // COMP_WORDS as bash fills it for the words typed; the last one is being completed.
    const complete = (...words: string[]) =>
      run(
        "bash",
        `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); ` +
          `COMP_CWORD=${words.length - 1}; _maplb; printf '%s\\n' "\${COMPREPLY[@]}"`,
      )
        .split("\n")
        .filter(Boolean);
    assert.equal(
      run("bash", `source ${file}; complete -p maplb`).trim(),
      "complete -o default -F _maplb maplb",
    );
    const first = complete("maplb", "");
    assert.deepEqual(first.filter((w) => !w.startsWith("-")).sort(), topLevel);
    assert.ok(first.includes("--log-level") && first.includes("--version"));
    assert.deepEqual(complete("maplb", "l"), ["list", "lab"]);
    assert.ok(labCommands.includes("curl") && labCommands.includes("scale"));
    assert.deepEqual(complete("maplb", "lab", "c"), labStarting("c"));
    assert.deepEqual(complete("maplb", "--log-level", "warn", "lab", "s"), labStarting("s"));
    assert.deepEqual(complete("maplb", "compile", "-o", ""), ["json", "yaml", "wide"]);
    assert.deepEqual(complete("maplb", "lab", "up", "--proxy", "n"), ["nftables"]);
    assert.ok(complete("maplb", "agent", "--").includes("--api-unreachable-window"));
    assert.deepEqual(complete("maplb", "completion", ""), ["bash", "zsh", "--help"]);
  });

  it(
    "zsh: valid, registered with compdef, completes commands, subcommands and choices",
    {
      skip: kernelSkip(has("zsh") ? null : "zsh (scripts/setup.mjs installs it)", "the zsh completion test"),
    },
    () => {
      const file = script("zsh");
      run("zsh", `zsh -n ${file}`);
      // compinit without a dump file; then what the script registered, and its candidates.
      const candidates = (...words: string[]) =>
        run(
          "zsh",
          `autoload -U compinit && compinit -D; source ${file}; print -r -- "$_comps[maplb]"; ` +
            `words=(${words.map((w) => `'${w}'`).join(" ")}); CURRENT=${words.length}; ` +
            `local -a cmds opts values; _maplb_candidates; print -rl -- "\${cmds[@]%%:*}" -- $opts -- $values`,
        ).split("\n");
      const [registered, ...rest] = candidates("maplb", "");
      assert.equal(registered, "_maplb");
      const [cmds, opts] = [rest.slice(0, rest.indexOf("--")), rest.slice(rest.indexOf("--") + 1)];
      assert.deepEqual([...cmds].sort(), topLevel);
      assert.ok(opts.includes("--log-level"));
      const lab = candidates("maplb", "lab", "");
      assert.deepEqual(lab.slice(1, lab.indexOf("--")), labCommands);
      const values = candidates("maplb", "status", "-o", "");
      assert.deepEqual(values.slice(values.lastIndexOf("--") + 1).filter(Boolean), ["json", "yaml", "wide"]);
    },
  );
});
