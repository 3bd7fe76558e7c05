import yargs, { type CommandModule } from "yargs";
import { hideBin } from "yargs/helpers";
import { HarnessError, EXIT, usageError } from "./util/errors.ts";
import { guardProcessOutput } from "./util/io.ts";
import { describeFsError } from "./util/paths.ts";
import { redact, registerSecretsFromEnv, registerUrlSecrets } from "./util/redact.ts";
import { checkParsedArgv, type ParsedOptionKinds } from "./util/validate.ts";
import { harnessVersion } from "./util/version.ts";

// biome-ignore lint/suspicious/noExplicitAny: yargs types each command by its own arguments; the list holds commands of every shape.
type AnyCommand = CommandModule<any, any>;

/**
 * The commands in pipeline order, each loaded only when it runs: `harness build-sft` should not
 * pay for the model SDKs in memory and start-up time, nor `harness eval` for sharp.
 */
const COMMANDS: Record<string, () => Promise<AnyCommand>> = {
  data: async () => (await import("./commands/data.ts")).dataCommand,
  model: async () => (await import("./commands/model.ts")).modelCommand,
  distill: async () => (await import("./commands/distill.ts")).distillCommand,
  critic: async () => (await import("./commands/critic.ts")).criticCommand,
  "build-sft": async () => (await import("./commands/build-sft.ts")).buildSftCommand,
  finetune: async () => (await import("./commands/finetune.ts")).finetuneCommand,
  serve: async () => (await import("./commands/serve.ts")).serveCommand,
  eval: async () => (await import("./commands/eval.ts")).evalCommand,
  status: async () => (await import("./commands/status.ts")).statusCommand,
  ablate: async () => (await import("./commands/ablate.ts")).ablateCommand,
  report: async () => (await import("./commands/report.ts")).reportCommand,
  diff: async () => (await import("./commands/diff.ts")).diffCommand,
  annotate: async () => (await import("./commands/annotate.ts")).annotateCommand,
  analyze: async () => (await import("./commands/analyze.ts")).analyzeCommand,
  cache: async () => (await import("./commands/cache.ts")).cacheCommand,
};

/** The `harness` CLI: one file per command under commands/, each only wiring the layers together. */
export async function main(argv: string[]): Promise<void> {
  const named = argv.find((arg) => !arg.startsWith("-"));
  // A known command loads alone; a bare --version needs none (scripts call it, so it must start
  // fast); anything else (help, a typo) loads all so yargs can list them.
  const versionOnly = named === undefined && argv.includes("--version") && !argv.includes("--help") && !argv.includes("-h");
  const names = named !== undefined && named in COMMANDS ? [named] : versionOnly ? [] : Object.keys(COMMANDS);
  const commands = await Promise.all(names.map((name) => COMMANDS[name]!()));
  const cli = yargs(argv)
    .scriptName("harness")
    .usage("$0 <command> [options]\n\nReproduce and extend the MIND experiments on IntentionQA.");
  for (const command of commands) cli.command(command);
  // Before any handler: a flag given no value, a number flag given a word or out of its range, a
  // one-value flag given twice.
  // getOptions() is yargs API missing from its type definitions.
  const optionKinds = () => (cli as unknown as { getOptions(): ParsedOptionKinds }).getOptions();
  cli.middleware((parsed) => checkParsedArgv(argv, parsed, optionKinds()));
  await cli
    .demandCommand(1, "name a command: see `harness --help`")
    .strict()
    .version(harnessVersion())
    .alias("h", "help")
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      if (error) throw error;
      // A usage error: the message names the option; the full help is one --help away.
      throw usageError(`${message} (see --help)`);
    })
    .parseAsync();
}

/** File-system errors that name a path: the user's environment, not a bug (exit 1, one line). */
const FS_CODES = new Set(["ENOENT", "EACCES", "EPERM", "EROFS", "EISDIR", "ENOTDIR", "ENOSPC", "EEXIST", "EMFILE", "EDQUOT"]);

function fsErrorLine(error: unknown): string | null {
  const e = error as NodeJS.ErrnoException | undefined;
  // A full disk met by a write that names no path (write(2) errors carry none) is still the user's disk, not a bug.
  if (e instanceof Error && (e.code === "ENOSPC" || e.code === "EDQUOT") && typeof e.path !== "string")
    return `cannot write: ${describeFsError(e)}`;
  if (!(e instanceof Error) || e.code === undefined || !FS_CODES.has(e.code) || typeof e.path !== "string") return null;
  const verb =
    e.syscall === "open" || e.syscall === "stat" || e.syscall === "scandir" || e.syscall === "lstat"
      ? "cannot open"
      : `cannot ${e.syscall ?? "use"}`;
  return `${verb} ${e.path}: ${describeFsError(e)}`;
}

registerSecretsFromEnv();
// Text from outside (server errors, labels, model names) reaches the terminal inert: util/escape.ts forTerminal.
guardProcessOutput();
// A password inside a URL (--base-url, --source, --hub-url, their variables) is a secret too.
registerUrlSecrets([...process.argv, ...Object.values(process.env)]);
try {
  await main(hideBin(process.argv));
} catch (error) {
  const fsLine = fsErrorLine(error);
  if (error instanceof HarnessError) {
    process.stderr.write(`harness: error: ${redact(error.message)}\n`);
    process.exitCode = error.exitCode;
  } else if (fsLine !== null) {
    process.stderr.write(`harness: error: ${redact(fsLine)}\n`);
    process.exitCode = EXIT.failed;
  } else {
    process.stderr.write(
      `harness: unexpected error (a bug; please report it):\n${redact(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
    );
    process.exitCode = EXIT.bug;
  }
}
