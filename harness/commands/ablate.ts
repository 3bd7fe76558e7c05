import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ABLATE_DEFAULTS } from "../ablate/defaults.ts";
import { REPORT_FORMATS, type ReportFormat } from "../reports/render.ts";
import { HarnessError } from "../util/errors.ts";

interface AblateArgs {
  config: string;
  dryRun: boolean;
  cell?: string;
  collect: boolean;
  data?: string;
  cacheDir?: string;
  format: ReportFormat;
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
      .option("format", {
        choices: REPORT_FORMATS,
        default: ABLATE_DEFAULTS.format as ReportFormat,
        describe: "Format of the table printed at the end",
      })
      .example("$0 ablate --config configs/ablation.yaml --dry-run", "show the plan")
      .example(
        "$0 ablate --config configs/ablation.yaml --cell mistral/mind",
        "one cell (e.g. one SLURM job per cell)",
      ) as unknown as Argv<AblateArgs>,
  handler: async (args: ArgumentsCamelCase<AblateArgs>) => {
    // Loaded here, not at the top: `ablate --help` should not load every stage.
    const { runAblate } = await import("../ablate/run.ts");
    const { failed } = await runAblate({
      config: args.config,
      dryRun: args.dryRun,
      collect: args.collect,
      format: args.format,
      ...(args.cell ? { cell: args.cell } : {}),
      ...(args.data ? { data: args.data } : {}),
      ...(args.cacheDir ? { cacheDir: args.cacheDir } : {}),
    });
    if (failed.length > 0)
      throw new HarnessError(`${failed.length} cell(s) failed: ${failed.join(", ")}; rerun to retry them (finished cells are reused)`);
  },
};
