import type { Argv, CommandModule } from "yargs";
import { usageError } from "../util/errors.ts";

/** The one line for a word that names no subcommand of `command` (which has `names`); `more` follows it. */
export function notASubcommand(command: string, word: unknown, names: readonly string[], more = ""): Error {
  return usageError(`${command}: ${JSON.stringify(String(word))} is not a subcommand of ${command} (${subcommandList(names)})${more}`);
}

function subcommandList(names: readonly string[]): string {
  return names.length === 1 ? `it has one: ${names[0]}` : `one of: ${names.join(", ")}`;
}

/** A subcommand's name: the first word of its yargs command string. */
export function subcommandName(command: Pick<CommandModule, "command">): string {
  return String(command.command).split(" ")[0]!;
}

/**
 * A command made of subcommands (`model fetch`, `cache clear`, ...). Its check runs before yargs's
 * own, so a mistyped subcommand is named as one: yargs alone took "provsion" for the group's
 * positional and reported the word after it ("Unknown argument: x"), or "Not enough non-option
 * arguments".
 */
export function commandGroup(group: {
  /** "<name> <positional>", e.g. "model <action>". */
  command: string;
  describe: string;
  // Only their names are read here; yargs gets them whole.
  subcommands: ReadonlyArray<Pick<CommandModule, "command">>;
}): CommandModule {
  const [name = "", positional = ""] = group.command.split(" ");
  const key = positional.replace(/^<|>$/g, "");
  const names = group.subcommands.map(subcommandName);
  const expected = subcommandList(names);
  return {
    // Optional to yargs, so a bare `harness model` reaches the line below instead of "Not enough non-option arguments".
    command: `${name} [${key}]`,
    describe: group.describe,
    builder: (y: Argv) => {
      for (const subcommand of group.subcommands) y.command(subcommand as unknown as CommandModule);
      return y
        .middleware((argv) => {
          // Set only when no subcommand matched: a matched one is read into its own arguments.
          const word = argv[key];
          if (word !== undefined) throw notASubcommand(name, word, names);
        }, true)
        .demandCommand(1, `${name}: name a subcommand (${expected})`);
    },
    handler: () => {
      throw usageError(`${name}: name a subcommand (${expected})`);
    },
  };
}
