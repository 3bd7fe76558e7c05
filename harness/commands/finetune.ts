import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { FINETUNE_DEFAULTS, type FinetuneRunConfig } from "../finetune/defaults.ts";
import { processIo } from "../util/io.ts";
import { checkWritableDir } from "../util/paths.ts";

/** `harness finetune`'s flags: FinetuneRunConfig's settings as the CLI spells them. */
export interface FinetuneFlags extends Omit<FinetuneRunConfig, "masterPort" | "slurmDirectives" | "stopGraceMs"> {
  /** Default: FINETUNE_DEFAULTS.masterPort, used only where several nodes must agree on one. */
  masterPort?: number;
  /** Repeatable. */
  slurmDirective?: string[];
}

/** The flags as the stage's config: the repeated --slurm-directive as a list, the rest from FINETUNE_DEFAULTS. */
export function finetuneConfigFromFlags(flags: FinetuneFlags): FinetuneRunConfig {
  const { masterPort, slurmDirective, ...rest } = flags;
  return {
    ...FINETUNE_DEFAULTS,
    ...rest,
    masterPort: masterPort ?? FINETUNE_DEFAULTS.masterPort,
    ...(slurmDirective !== undefined ? { slurmDirectives: slurmDirective } : {}),
  };
}

export const finetuneCommand: CommandModule<object, FinetuneFlags> = {
  command: "finetune",
  describe: "LoRA fine-tuning with LLaMA-Factory on a build-sft dataset (one node, several, or SLURM)",
  builder: (y) =>
    y
      .option("config", {
        type: "string",
        demandOption: true,
        describe: "Fine-tuning config (configs/mistral.yaml, configs/llama2.yaml, configs/tiny-cpu.yaml)",
      })
      .option("recipe", {
        type: "string",
        default: FINETUNE_DEFAULTS.recipe,
        describe: "Training data recipe: trains on dataset intentionqa_<recipe> (mind, unimodal, critic, unfiltered)",
      })
      .option("dataset-dir", {
        type: "string",
        default: FINETUNE_DEFAULTS.datasetDir,
        describe: "Folder with dataset_info.json, as written by `harness build-sft --out`",
      })
      .option("run-dir", {
        type: "string",
        describe: "Run directory (default runs/<config name>-<recipe>); a rerun resumes from its last checkpoint",
      })
      .option("model-path", {
        type: "string",
        describe: "Use these weights instead of model.name_or_path (a local copy, a tiny test model)",
      })
      .option("max-steps", { type: "number", describe: "Stop after this many optimizer steps (smoke tests)" })
      .option("nnodes", { type: "number", default: FINETUNE_DEFAULTS.nnodes, describe: "Nodes in the job" })
      .option("node-rank", {
        type: "number",
        default: FINETUNE_DEFAULTS.nodeRank,
        describe: "This node's rank (0 = the master; it writes the manifest)",
      })
      .option("master-addr", { type: "string", describe: "Address of node rank 0 (needed with --nnodes > 1)" })
      .option("master-port", {
        type: "number",
        describe: `Port on the master for torch.distributed (default: a free one on a single node; ${FINETUNE_DEFAULTS.masterPort} with several nodes or --slurm)`,
      })
      .option("slurm", {
        type: "boolean",
        default: FINETUNE_DEFAULTS.slurm,
        describe: "Write <run>/train.sbatch (srun on every node) and submit it with sbatch",
      })
      .option("slurm-directive", { type: "string", array: true, describe: "Extra #SBATCH directive, e.g. --partition=gpu (repeatable)" })
      .option("dry-run", {
        type: "boolean",
        default: FINETUNE_DEFAULTS.dryRun,
        describe: "Print the train YAML and the launch command; write and start nothing",
      })
      .option("verbose", {
        type: "boolean",
        default: FINETUNE_DEFAULTS.verbose,
        describe: "Echo LLaMA-Factory's output (always kept in <run>/train.log)",
      })
      .option("progress", { type: "boolean", describe: "Force the progress display on or off" })
      .example("$0 finetune --config configs/mistral.yaml --recipe mind --dry-run", "show the plan for 8 x V100")
      .example("$0 finetune --config configs/mistral.yaml --recipe mind", "train on this node; Ctrl-C stops, a rerun resumes")
      .example(
        "$0 finetune --config configs/llama2.yaml --recipe mind --nnodes 2 --slurm",
        "two nodes under SLURM",
      ) as unknown as Argv<FinetuneFlags>,
  handler: async (args: ArgumentsCamelCase<FinetuneFlags>) => {
    if (args.runDir !== undefined && !args.dryRun) await checkWritableDir("--run-dir", args.runDir);
    // Loaded when it runs, not for --help: the run code pulls in execa and the LLaMA-Factory process code.
    const { runFinetune } = await import("../finetune/run.ts");
    const { _: _positional, $0: _script, ...flags } = args;
    await runFinetune(finetuneConfigFromFlags(flags), processIo());
  },
};
