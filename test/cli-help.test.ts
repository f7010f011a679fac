// --help reads as paragraphs: source line breaks inside a paragraph are joined before commander wraps
// the text to the terminal, while blank lines, indented lines and "- " items keep their breaks. Every
// command's --help ends with examples of that command.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram, reflow } from "../src/cli/main.js";

function all(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(all)];
}

/** The command's words after maplb: "lab up" for `maplb lab up`. */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** What `maplb … --help` prints, text added before and after included. */
function helpOf(cmd: Command): string {
  let out = "";
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

describe("--help text", () => {
  it("reflow joins a paragraph's lines and keeps blank lines, indented lines and items", () => {
    assert.equal(reflow("one\ntwo three\n\nlist:\n  a\n- b\nc"), "one two three\n\nlist:\n  a\n- b c");
  });

  it("no command's description breaks a line inside a paragraph", () => {
    const cmds = all(buildProgram());
    assert.ok(cmds.length > 10, `${cmds.length} commands`);
    for (const cmd of cmds) {
      const broken = cmd.description().match(/[^\n]\n(?![\n\s]|- )/);
      assert.equal(broken, null, `maplb ${cmd.name()}: ${JSON.stringify(broken?.input?.slice(0, 80))}`);
    }
  });

  it("every command's --help has an Examples section that runs that command", () => {
    const cmds = all(buildProgram());
    for (const cmd of cmds) {
      const path = pathOf(cmd);
      const help = helpOf(cmd);
      const section = /\nExamples:\n((?: {2}\S.*\n?)+)/.exec(help);
      assert.ok(section, `maplb ${path} --help has no Examples section:\n${help}`);
      const lines = section[1]!.trim().split("\n");
      const own = new RegExp(`(^|\\s)maplb${path ? ` ${path}` : ""}(\\s|$)`);
      assert.ok(
        lines.some((l) => own.test(l.trim())),
        `maplb ${path}: no example runs it:\n${lines.join("\n")}`,
      );
    }
  });
});
