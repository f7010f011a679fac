// `maplb completion bash|zsh`: a shell completion script, written from the command tree itself, so it
// knows every command, subcommand, option and option choice the CLI has, and never drifts from it.
// Both scripts work the same way: walk the words typed so far to find the (sub)command path, then
// offer that command's subcommands and options, or the choices of the option just typed. (The path
// is called cpath: in zsh, path is $PATH as an array.)
import { Argument, type Command } from "commander";

export const SHELLS = ["bash", "zsh"] as const;
export type Shell = (typeof SHELLS)[number];

interface Node {
  /** "" for maplb itself, "/lab/up" for `maplb lab up`. */
  path: string;
  subcommands: { name: string; summary: string }[];
  options: string[];
}

/** Every command of the tree with its path, subcommands and option flags. */
function nodes(cmd: Command, path = ""): Node[] {
  const flags = cmd.options.flatMap((o) => [o.short, o.long].filter((f): f is string => !!f));
  // Arguments with a fixed set of values (completion's shell) complete like subcommands.
  const subcommands = [
    ...cmd.commands.map((c) => ({ name: c.name(), summary: summaryOf(c) })),
    ...cmd.registeredArguments.flatMap((a) =>
      (a.argChoices ?? []).map((v) => ({ name: v, summary: a.description })),
    ),
  ];
  return [
    { path, subcommands, options: [...new Set([...flags, "--help"])] },
    ...cmd.commands.flatMap((c) => nodes(c, `${path}/${c.name()}`)),
  ];
}

/** Option choices by "PATH FLAG" (`/compile -o`): one flag may take other values in another command. */
function choices(cmd: Command, path = ""): [string, readonly string[]][] {
  const own: [string, readonly string[]][] = [];
  for (const o of cmd.options)
    for (const f of [o.short, o.long]) if (f && o.argChoices) own.push([`${path} ${f}`, o.argChoices]);
  return [...own, ...cmd.commands.flatMap((c) => choices(c, `${path}/${c.name()}`))];
}

function summaryOf(c: Command): string {
  const text = c.summary() || c.description();
  const first = text.split(/(?<=\.)\s|\n/)[0] ?? "";
  return first.length > 70 ? `${first.slice(0, 67)}...` : first;
}

/** A word for a shell script in single quotes. Command and option names are plain; summaries are not. */
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The `case` arm that moves the path one word down: `/lab` + `up` → `/lab/up`. */
function pathArm(all: Node[]): string {
  const paths = all.filter((n) => n.path !== "").map((n) => quote(n.path));
  return `      ${paths.join("|")}) cpath="$cpath/$w" ;;`;
}

/** `case` arms, one per line. */
const arms = <T>(items: T[], arm: (item: T) => string) => items.map((i) => `    ${arm(i)}`).join("\n");

function bash(program: Command): string {
  const all = nodes(program);
  const values = arms(choices(program), ([key, v]) => `${quote(key)}) words=${quote(v.join(" "))} ;;`);
  const byPath = arms(all, (n) => {
    const words = [...n.subcommands.map((c) => c.name), ...n.options].join(" ");
    return `${quote(n.path)}) words=${quote(words)} ;;`;
  });
  return `# maplb completion for bash. Load it with:  source <(maplb completion bash)
_maplb() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" cpath="" w i words=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$cpath/$w" in
${pathArm(all)}
    esac
  done
  case "$cpath $prev" in
${values}
    *)
      case "$cpath" in
${byPath.replace(/^/gm, "    ")}
      esac
      ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _maplb maplb
`;
}

function zsh(program: Command): string {
  const all = nodes(program);
  const values = arms(choices(program), ([key, v]) => `${quote(key)}) values=(${v.join(" ")}) ;;`);
  const byPath = arms(all, (n) => {
    const cmds = n.subcommands.map((c) => quote(`${c.name}:${c.summary}`)).join(" ");
    return `${quote(n.path)}) cmds=(${cmds}); opts=(${n.options.join(" ")}) ;;`;
  });
  return `#compdef maplb
# maplb completion for zsh. Load it with:  source <(maplb completion zsh)  (after compinit), or save it
# as _maplb in a directory of $fpath.

# Sets cmds (name:summary) and opts, or values (the choices of the option just typed), for the words
# typed so far (zsh's words and CURRENT).
_maplb_candidates() {
  local cpath="" w i
  cmds=() opts=() values=()
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    case "$cpath/$w" in
${pathArm(all)}
    esac
  done
  case "$cpath \${words[CURRENT-1]}" in
${values}
    *)
      case "$cpath" in
${byPath.replace(/^/gm, "    ")}
      esac
      ;;
  esac
}

_maplb() {
  local -a cmds opts values
  _maplb_candidates
  if (( \${#values} )); then
    compadd -a values
    return
  fi
  _describe -t commands 'maplb command' cmds
  compadd -a opts
}

if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _maplb "$@"
else
  compdef _maplb maplb
fi
`;
}

export function completionScript(program: Command, shell: Shell): string {
  return shell === "bash" ? bash(program) : zsh(program);
}

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .summary("print a shell completion script (bash or zsh)")
    .description(
      "Print a completion script for bash or zsh: commands, subcommands, options and option choices.",
    )
    .addArgument(new Argument("<shell>", "the shell").choices(SHELLS))
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  source <(maplb completion bash)             # this shell; add the line to ~/.bashrc to keep it\n" +
        "  maplb completion bash > /etc/bash_completion.d/maplb\n" +
        "  source <(maplb completion zsh)              # after compinit, e.g. in ~/.zshrc\n" +
        '  maplb completion zsh > "${fpath[1]}/_maplb"',
    )
    .action((shell: Shell) => void process.stdout.write(completionScript(program, shell)));
}
