import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ABLATE_DEFAULTS } from "../ablate/defaults.ts";
import { REPORT_FORMATS, type ReportFormat } from "../reports/render.ts";
import { HarnessError, usageError } from "../util/errors.ts";

interface AblateArgs {
  config: string;
  dryRun: boolean;
  cell?: string;
  collect: boolean;
  data?: string;
  cacheDir?: string;
  format: ReportFormat;
  slurm: boolean;
  slurmDirective?: string[];
  slurmAfter?: string[];
  status: boolean;
  wait: boolean;
  tail: number;
}

/** The modes that cannot go together, and the flags only one mode reads: named, not silently ignored. */
function checkModes(args: AblateArgs): void {
  const modes = (["dry-run", "cell", "collect", "slurm", "status"] as const).filter((m) =>
    m === "dry-run" ? args.dryRun : m === "cell" ? args.cell !== undefined : args[m],
  );
  if (modes.length > 1) throw usageError(`--${modes[0]} and --${modes[1]} cannot go together`);
  if (!args.slurm && (args.slurmDirective?.length || args.slurmAfter?.length))
    throw usageError(`--${args.slurmDirective?.length ? "slurm-directive" : "slurm-after"} needs --slurm`);
  for (const job of args.slurmAfter ?? [])
    if (!/^\d+$/.test(job)) throw usageError(`--slurm-after ${JSON.stringify(job)}: expected a SLURM job id (digits)`);
  if (!args.status && args.wait) throw usageError("--wait needs --status");
  if (!Number.isInteger(args.tail) || args.tail < 1) throw usageError(`--tail ${args.tail}: expected a whole number of lines, 1 or more`);
}

export const ablateCommand: CommandModule<object, AblateArgs> = {
  command: "ablate",
  describe:
    "Backbones x recipes (zero-shot, unimodal, critic, unfiltered, mind): build-sft, finetune, serve, eval per cell; then the Table 3 layout",
  builder: (y) =>
    y
      .option("config", {
        type: "string",
        default: ABLATE_DEFAULTS.config,
        describe: "Ablation config (backbones, recipes, KBs, eval settings)",
      })
      .option("dry-run", { type: "boolean", default: false, describe: "Print the plan (cells, reused or to do) and run nothing" })
      .option("cell", {
        type: "string",
        describe: "Run one cell, backbone/recipe (e.g. mistral/mind): spread cells over nodes, then `ablate --collect`",
      })
      .option("collect", { type: "boolean", default: false, describe: "Run nothing; collect finished cells into the tables" })
      .option("data", { type: "string", describe: "IntentionQA folder (else INTENTIONQA_DIR or the download cache)" })
      .option("cache-dir", { type: "string", describe: "Cache root for data and answers" })
      .option("slurm", {
        type: "boolean",
        default: false,
        describe:
          "Submit every unfinished cell as one task of a SLURM array job (each runs `ablate --cell`); finished cells are not resubmitted",
      })
      .option("slurm-directive", {
        type: "string",
        array: true,
        describe: "Extra #SBATCH directive for the array, e.g. --partition=gpu (repeatable)",
      })
      .option("slurm-after", {
        type: "string",
        array: true,
        describe: "Job id the array waits for (afterok), e.g. the job that writes data.kb (repeatable)",
      })
      .option("status", {
        type: "boolean",
        default: false,
        describe: "Run nothing; each cell done, queued, running or failed (cell.json and the scheduler), a failed task's log tail",
      })
      .option("wait", { type: "boolean", default: false, describe: "With --status: poll until no cell is queued or running" })
      .option("tail", { type: "number", default: ABLATE_DEFAULTS.tail, describe: "With --status: lines of a failed cell's log to show" })
      .option("format", {
        choices: REPORT_FORMATS,
        default: ABLATE_DEFAULTS.format as ReportFormat,
        describe: "Format of the table printed at the end",
      })
      .example("$0 ablate --config configs/ablation.yaml --dry-run", "show the plan")
      .example("$0 ablate --config configs/ablation.yaml --cell mistral/mind", "one cell (e.g. one SLURM job per cell)")
      .example(
        "$0 ablate --config configs/ablation.yaml --slurm --slurm-directive=--partition=gpu --slurm-directive=--time=24:00:00",
        "every unfinished cell as a task of one array job",
      )
      .example("$0 ablate --config configs/ablation.yaml --status --wait", "follow the cells until none is queued or running")
      .epilogue(
        "--status exits 0 while cells are queued or running and once all are done; 1 when a cell failed, was cancelled, is unknown to the scheduler or was never submitted.",
      ) as unknown as Argv<AblateArgs>,
  handler: async (args: ArgumentsCamelCase<AblateArgs>) => {
    checkModes(args);
    // Loaded here, not at the top: `ablate --help` should not load every stage.
    const { runAblate } = await import("../ablate/run.ts");
    const { failed } = await runAblate({
      config: args.config,
      dryRun: args.dryRun,
      collect: args.collect,
      format: args.format,
      slurm: args.slurm,
      status: args.status,
      wait: args.wait,
      tail: args.tail,
      ...(args.slurmDirective ? { slurmDirectives: args.slurmDirective } : {}),
      ...(args.slurmAfter ? { slurmAfter: args.slurmAfter } : {}),
      ...(args.cell ? { cell: args.cell } : {}),
      ...(args.data ? { data: args.data } : {}),
      ...(args.cacheDir ? { cacheDir: args.cacheDir } : {}),
    });
    if (failed.length > 0)
      throw new HarnessError(`${failed.length} cell(s) failed: ${failed.join(", ")}; rerun to retry them (finished cells are reused)`);
  },
};
