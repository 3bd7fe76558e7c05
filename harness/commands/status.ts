import { join } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { FINETUNE_STATUS_DEFAULTS, type FinetuneStatusConfig } from "../finetune/defaults.ts";
import { shellQuote } from "../llamafactory/process.ts";
import { usageError } from "../util/errors.ts";
import { processIo } from "../util/io.ts";

export interface StatusArgs {
  runDir: string;
  tail: number;
  wait: boolean;
}

/** The flags as the stage's config; the poll interval is not a flag. */
export function statusConfigFromFlags(flags: StatusArgs): FinetuneStatusConfig {
  return { ...FINETUNE_STATUS_DEFAULTS, runDir: flags.runDir, tail: flags.tail, wait: flags.wait };
}

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: "status <run-dir>",
  describe:
    "Follow a `finetune --slurm` run or a `distill --slurm` array: the job's (or each shard's) state from the scheduler (squeue, scontrol, sacct), the log's tail; settles a run's manifest once the job ended",
  builder: (y) =>
    (y as Argv<object>)
      .positional("run-dir", {
        type: "string",
        demandOption: true,
        describe: "Run directory written by `harness finetune`, or the folder of `harness distill --slurm`",
      })
      .option("tail", { type: "number", default: FINETUNE_STATUS_DEFAULTS.tail, describe: "Lines of the job's log to show" })
      .option("wait", {
        type: "boolean",
        default: FINETUNE_STATUS_DEFAULTS.wait,
        describe: `Poll the scheduler every ${FINETUNE_STATUS_DEFAULTS.pollMs / 1000}s until the job has ended, then report it`,
      })
      .example("$0 status runs/mistral-mind", "job state, training progress and the last log lines")
      .example("$0 status runs/mistral-mind --wait", "wait for the job; exit 0 if it produced the adapter, 1 if not")
      .example("$0 status distill-run/", "each shard of a distill array: queued, running, done, or failed with its log's tail")
      .epilogue(
        "Exit 0 while the job is queued or running and once it produced its adapter (a distill array: once every shard is done); 1 when it (a shard) failed, was cancelled, or the scheduler no longer knows it.",
      ) as unknown as Argv<StatusArgs>,
  handler: async (args: ArgumentsCamelCase<StatusArgs>) => {
    // Loaded when it runs, not for --help: the status code asks the scheduler through execa.
    const { isDistillArray, runDistillArrayStatus } = await import("../distill/array-status.ts");
    if (isDistillArray(args.runDir)) {
      await runDistillArrayStatus(statusConfigFromFlags(args), processIo());
      return;
    }
    // An ablation's work_dir: its cells are followed with the config (cells and keys come from it).
    const { readSubmissions, SLURM_DIR } = await import("../ablate/array.ts");
    const submitted = await readSubmissions(join(args.runDir, SLURM_DIR));
    if (submitted.length > 0)
      throw usageError(
        `${args.runDir} is an ablation's work_dir: follow its cells with \`harness ablate --config ${shellQuote(submitted.at(-1)!.config)} --status\``,
      );
    const { runFinetuneStatus } = await import("../finetune/status.ts");
    await runFinetuneStatus(statusConfigFromFlags(args), processIo());
  },
};
