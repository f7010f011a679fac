// --help reads as paragraphs: source line breaks inside a paragraph are joined before commander wraps
// the text to the terminal, while blank lines, indented lines and "- " items keep their breaks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram, reflow } from "../src/cli/main.js";

function all(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(all)];
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
});
