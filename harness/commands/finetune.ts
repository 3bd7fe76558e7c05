import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { runFinetune } from "../finetune/run.ts";
import { checkWritableDir } from "../util/paths.ts";

export interface FinetuneArgs {
  config: string;
  recipe: string;
  datasetDir: string;
  runDir?: string;
  modelPath?: string;
  maxSteps?: number;
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort?: number;
  slurm: boolean;
  slurmDirective?: string[];
  dryRun: boolean;
  verbose: boolean;
  progress?: boolean;
}

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
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
        default: "mind",
        describe: "Training data recipe: trains on dataset intentionqa_<recipe> (mind, unimodal, critic, unfiltered)",
      })
      .option("dataset-dir", {
        type: "string",
        default: "datasets/sft",
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
      .option("nnodes", { type: "number", default: 1, describe: "Nodes in the job" })
      .option("node-rank", { type: "number", default: 0, describe: "This node's rank (0 = the master; it writes the manifest)" })
      .option("master-addr", { type: "string", describe: "Address of node rank 0 (needed with --nnodes > 1)" })
      .option("master-port", {
        type: "number",
        describe: "Port on the master for torch.distributed (default: a free one on a single node; 29500 with several nodes or --slurm)",
      })
      .option("slurm", {
        type: "boolean",
        default: false,
        describe: "Write <run>/train.sbatch (srun on every node) and submit it with sbatch",
      })
      .option("slurm-directive", { type: "string", array: true, describe: "Extra #SBATCH directive, e.g. --partition=gpu (repeatable)" })
      .option("dry-run", {
        type: "boolean",
        default: false,
        describe: "Print the train YAML and the launch command; write and start nothing",
      })
      .option("verbose", { type: "boolean", default: false, describe: "Echo LLaMA-Factory's output (always kept in <run>/train.log)" })
      .option("progress", { type: "boolean", describe: "Force the progress display on or off" })
      .example("$0 finetune --config configs/mistral.yaml --recipe mind --dry-run", "show the plan for 8 x V100")
      .example("$0 finetune --config configs/mistral.yaml --recipe mind", "train on this node; Ctrl-C stops, a rerun resumes")
      .example(
        "$0 finetune --config configs/llama2.yaml --recipe mind --nnodes 2 --slurm",
        "two nodes under SLURM",
      ) as unknown as Argv<FinetuneArgs>,
  handler: async (args: ArgumentsCamelCase<FinetuneArgs>) => {
    if (args.runDir !== undefined && !args.dryRun) await checkWritableDir("--run-dir", args.runDir);
    await runFinetune({
      config: args.config,
      recipe: args.recipe,
      datasetDir: args.datasetDir,
      nnodes: args.nnodes,
      nodeRank: args.nodeRank,
      slurm: args.slurm,
      dryRun: args.dryRun,
      verbose: args.verbose,
      ...(args.runDir !== undefined ? { runDir: args.runDir } : {}),
      ...(args.modelPath !== undefined ? { modelPath: args.modelPath } : {}),
      ...(args.maxSteps !== undefined ? { maxSteps: args.maxSteps } : {}),
      ...(args.masterAddr !== undefined ? { masterAddr: args.masterAddr } : {}),
      ...(args.masterPort !== undefined ? { masterPort: args.masterPort } : {}),
      ...(args.slurmDirective !== undefined ? { slurmDirectives: args.slurmDirective } : {}),
      ...(args.progress !== undefined ? { progress: args.progress } : {}),
    });
  },
};
