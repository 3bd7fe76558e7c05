import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ablateCommand } from "./commands/ablate.ts";
import { buildSftCommand } from "./commands/build-sft.ts";
import { dataCommand } from "./commands/data.ts";
import { diffCommand } from "./commands/diff.ts";
import { distillCommand } from "./commands/distill.ts";
import { evalCommand } from "./commands/eval.ts";
import { finetuneCommand } from "./commands/finetune.ts";
import { reportCommand } from "./commands/report.ts";
import { serveCommand } from "./commands/serve.ts";
import { HarnessError } from "./util/errors.ts";
import { harnessVersion } from "./util/version.ts";

/** The `harness` CLI: one file per command under commands/, each only wiring the layers together. */
export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName("harness")
    .usage("$0 <command> [options]\n\nReproduce and extend the MIND experiments on IntentionQA.")
    .command(dataCommand)
    .command(distillCommand)
    .command(buildSftCommand)
    .command(finetuneCommand)
    .command(serveCommand)
    .command(evalCommand)
    .command(ablateCommand)
    .command(reportCommand)
    .command(diffCommand)
    .demandCommand(1, "name a command: see `harness --help`")
    .strict()
    .version(harnessVersion())
    .alias("h", "help")
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((message, error) => {
      if (error) throw error;
      // A usage error: the message names the option; the full help is one --help away.
      throw new HarnessError(`${message} (see --help)`, { exitCode: 2 });
    })
    .parseAsync();
}

try {
  await main(hideBin(process.argv));
} catch (error) {
  if (error instanceof HarnessError) {
    process.stderr.write(`harness: error: ${error.message}\n`);
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`harness: unexpected error (a bug; please report it):\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70;
  }
}
