import { BUILD_SFT_DEFAULTS } from "../sft/defaults.ts";

/**
 * The experiment trackers a fine-tuning config may send training logs to (train.report_to), by
 * the names LLaMA-Factory and HF TrainingArguments use; "none" sends them nowhere.
 */
export const REPORT_TARGETS = ["tensorboard", "wandb", "mlflow", "none"] as const;
export type ReportTarget = (typeof REPORT_TARGETS)[number];

/**
 * Everything one `harness finetune` run needs, in the stage's own units (milliseconds). Not the
 * training recipe (configs/*.yaml, FinetuneConfig): the file it names, and where and how to run it.
 * The CLI maps its flags onto it (harness/commands/finetune.ts); `ablate` builds it from FINETUNE_DEFAULTS.
 */
export interface FinetuneRunConfig {
  /** The fine-tuning config file (configs/mistral.yaml...). */
  config: string;
  /** Training data recipe: trains on dataset intentionqa_<recipe>. */
  recipe: string;
  /** Where `harness build-sft` wrote dataset_info.json. */
  datasetDir: string;
  /** Default runs/<config name>-<recipe>. */
  runDir?: string;
  /** Replaces model.name_or_path (a local copy of the weights, or the tiny test model). */
  modelPath?: string;
  /** Replaces train.max_steps (smoke runs). */
  maxSteps?: number;
  nnodes: number;
  /** This node's rank; rank 0 writes the manifest and sets aside incomplete checkpoints. */
  nodeRank: number;
  /** Address of node rank 0: needed with several nodes outside SLURM. */
  masterAddr?: string;
  /** torch.distributed's port on the master, used with several nodes or SLURM. */
  masterPort: number;
  /** Write <run>/train.sbatch and submit it instead of training here. */
  slurm: boolean;
  /** Extra #SBATCH directives (partition, time, account). */
  slurmDirectives?: string[];
  /** Print the train YAML and the launch; write and start nothing. */
  dryRun: boolean;
  /** Echo LLaMA-Factory's own output (always in <run>/train.log). */
  verbose: boolean;
  /** Force the bar on or off; default: a bar on a terminal, plain lines otherwise. */
  progress?: boolean;
  /** How long a stopped run may take to exit before it is killed. */
  stopGraceMs: number;
}

/**
 * Finetune's run defaults, once: the CLI's flags, `ablate` and every other caller build their
 * FinetuneRunConfig from this object. Its own module, so `harness finetune --help` reads it without
 * loading the run code. (The training recipe itself, configs/*.yaml, is FinetuneConfig in config.ts.)
 */
export const FINETUNE_DEFAULTS = {
  /** The recipe `harness build-sft` builds by default. */
  recipe: BUILD_SFT_DEFAULTS.recipes[0],
  /** Where `harness build-sft` writes by default. */
  datasetDir: BUILD_SFT_DEFAULTS.out,
  nnodes: 1,
  nodeRank: 0,
  /** Several nodes must agree on a port; one node leaves it to LLaMA-Factory's launcher (a free one). */
  masterPort: 29500,
  slurm: false,
  dryRun: false,
  verbose: false,
  /** How long a stopped run may take to exit before it is killed. */
  stopGraceMs: 30_000,
  /**
   * Where training logs go when the config sets no train.report_to: nowhere (the harness records
   * the run itself, and a cluster job must not stop at a wandb login prompt).
   */
  reportTo: "none",
} as const satisfies Partial<FinetuneRunConfig> & { reportTo: ReportTarget };

/** `harness status <run-dir>`: what the scheduler and the log say about a run, and its manifest settled. */
export interface FinetuneStatusConfig {
  /** A run directory written by `harness finetune` (with --slurm: its job is followed). */
  runDir: string;
  /** Lines of the job's log to show. */
  tail: number;
  /** Poll until the job has ended, then report it. */
  wait: boolean;
  /** How often --wait asks the scheduler. */
  pollMs: number;
}

export const FINETUNE_STATUS_DEFAULTS = {
  tail: 15,
  wait: false,
  pollMs: 5_000,
} as const satisfies Partial<FinetuneStatusConfig>;
