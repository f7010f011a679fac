// The README's "Bad input" example is a file of the repository (examples/bad.yaml): this runs the
// command the README shows, from the repository root, and compares what it prints and its exit code
// with the README's console block, line for line. The IPv6 rules example (examples/dual-stack.yaml)
// is run the same way; its block shows excerpts, so its lines must appear in the output in order.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The first ```console block after `heading` in the README. */
function consoleBlock(heading: string): string[] {
  const readme = readFileSync(`${ROOT}README.md`, "utf8");
  const section = readme.slice(readme.indexOf(heading));
  const block = /```console\n([\s\S]*?)```/.exec(section);
  assert.ok(block, `a console block under ${heading}`);
  return block[1]!.trimEnd().split("\n");
}

describe("README examples", () => {
  it("Bad input: examples/bad.yaml gives the README's errors and exit code 2", () => {
    const [prompt, ...expected] = consoleBlock("### Bad input");
    const m = /^\$ npx (maplb compile -f (\S+)); echo "exit code \$\?"$/.exec(prompt!);
    assert.ok(m, `the README's command: ${prompt}`);
    const file = m[2]!;
    assert.ok(readFileSync(`${ROOT}${file}`, "utf8").includes("kind: Service"), `${file} ships`);
    const r = spawnSync(process.execPath, [`${ROOT}bin/maplb.js`, "compile", "-f", file], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
    });
    const printed = [...(r.stdout + r.stderr).trimEnd().split("\n"), `exit code ${r.status}`];
    assert.deepEqual(printed, expected);
  });

  it("IPv6: the --ip-family 6 commands print the README's lines, in order", () => {
    const block = consoleBlock("#### IPv6: the other proxier");
    // Commands start with `$ npx ` and continue over lines ending in a backslash; "..." skips output.
    const runs: { args: string[]; lines: string[] }[] = [];
    for (let i = 0; i < block.length; i++) {
      let line = block[i]!;
      if (line.startsWith("$ npx maplb ")) {
        while (line.endsWith("\\")) line = `${line.slice(0, -1)} ${block[++i]!.trim()}`;
        runs.push({ args: line.slice("$ npx maplb ".length).split(/\s+/), lines: [] });
      } else if (line !== "...") runs.at(-1)!.lines.push(line);
    }
    assert.equal(runs.length, 2);
    for (const { args, lines } of runs) {
      const r = spawnSync(process.execPath, [`${ROOT}bin/maplb.js`, ...args], {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...process.env, MAPLB_LOG_LEVEL: "error" },
      });
      assert.equal(r.status, 0, r.stderr);
      const printed = r.stdout.split("\n");
      let at = 0;
      for (const want of lines) {
        const found = printed.indexOf(want, at);
        assert.ok(found >= 0, `${args.join(" ")}: ${want}`);
        at = found + 1;
      }
    }
  });
});
