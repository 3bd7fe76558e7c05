import { sbatchDirectiveLines } from "../slurm/sbatch.ts";
import { join } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { shellQuote } from "../llamafactory/process.ts";
import type { FinetuneConfig } from "./config.ts";
import { FINETUNE_DEFAULTS, type ReportTarget } from "./defaults.ts";

/** Pure pieces of a fine-tuning run: the train YAML, the launch environment, the sbatch script. */

export const DATASET_KEY_PREFIX = "intentionqa_";
export const RUN_FILES = {
  trainYaml: "train.yaml",
  deepspeed: "ds_z3_config.json",
  manifest: "manifest.json",
  log: "train.log",
  sbatch: "train.sbatch",
  apiYaml: "api.yaml",
  /** LLaMA-Factory's output_dir: adapter, checkpoints, trainer_log.jsonl. */
  output: "output",
  /** TensorBoard event files, when train.report_to names tensorboard. */
  tensorboard: "tensorboard",
} as const;

export function datasetKeyFor(recipe: string): string {
  return `${DATASET_KEY_PREFIX}${recipe}`;
}

/** Logging every 10 steps (HF's default is 500) only feeds the progress display; it does not change training. */
export const DEFAULT_LOGGING_STEPS = 10;

export interface TrainPaths {
  /** Absolute: LLaMA-Factory resolves relative paths against its working directory. */
  modelNameOrPath: string;
  datasetKey: string;
  datasetDir: string;
  outputDir: string;
  deepspeedConfig?: string;
  /** The run's name for the trackers (wandb, mlflow): the run folder's name. */
  runName: string;
}

export type TrainArgs = Record<string, string | number | boolean | string[]>;

/** Where the run's training logs go: the config's train.report_to, else FINETUNE_DEFAULTS.reportTo. */
export function reportTargets(config: FinetuneConfig): ReportTarget[] {
  return config.train.report_to ?? [FINETUNE_DEFAULTS.reportTo];
}

/**
 * report_to as LLaMA-Factory reads it (one name, or a list), and the run name the trackers show.
 * Only set with a tracker, so the default train YAML stays as it was (a finished run is still
 * recognised as finished). No secret goes here: WANDB_API_KEY and the like stay in the environment.
 */
function reportArgs(config: FinetuneConfig, runName: string): TrainArgs {
  const targets = reportTargets(config);
  if (targets.length === 1 && targets[0] === "none") return { report_to: "none" };
  return { report_to: targets.length === 1 ? targets[0]! : targets, run_name: runName };
}

/**
 * The environment the trackers read from the harness: TensorBoard's event files inside the run
 * folder (transformers 5 reads TENSORBOARD_LOGGING_DIR; its logging_dir argument is deprecated).
 */
export function trackerEnv(config: FinetuneConfig, runDir: string): Record<string, string> {
  return reportTargets(config).includes("tensorboard") ? { TENSORBOARD_LOGGING_DIR: join(runDir, RUN_FILES.tensorboard) } : {};
}

/**
 * The LLaMA-Factory train arguments: what the paper fixes (SFT, LoRA, the rank), what the
 * hardware needs (precision, DeepSpeed), what the harness needs (paths, logging, no
 * overwrite so a rerun resumes), and the config's explicit overrides; nothing else, so
 * every other hyperparameter stays at LLaMA-Factory's default as in the paper.
 */
export function buildTrainArgs(config: FinetuneConfig, paths: TrainPaths): TrainArgs {
  const args: TrainArgs = {
    model_name_or_path: paths.modelNameOrPath,
    stage: "sft",
    do_train: true,
    finetuning_type: "lora",
    lora_rank: config.lora.rank,
  };
  if (config.lora.alpha !== undefined) args.lora_alpha = config.lora.alpha;
  if (config.lora.dropout !== undefined) args.lora_dropout = config.lora.dropout;
  if (config.lora.target !== undefined) args.lora_target = config.lora.target;
  if (paths.deepspeedConfig) args.deepspeed = paths.deepspeedConfig;
  args.dataset = paths.datasetKey;
  args.dataset_dir = paths.datasetDir;
  args.template = config.model.template;
  args.output_dir = paths.outputDir;
  // false: an output_dir with checkpoints resumes from the last one instead of starting over.
  args.overwrite_output_dir = false;
  args.logging_steps = DEFAULT_LOGGING_STEPS;
  args.plot_loss = true;
  Object.assign(args, reportArgs(config, paths.runName));
  if (config.hardware.precision === "fp16") args.fp16 = true;
  if (config.hardware.precision === "bf16") args.bf16 = true;
  if (config.hardware.ddp_timeout !== undefined) args.ddp_timeout = config.hardware.ddp_timeout;
  for (const [key, value] of Object.entries(config.train)) {
    if (value !== undefined && key !== "report_to") args[key] = value;
  }
  return args;
}

export function renderTrainYaml(args: TrainArgs, header: string): string {
  // YAML ends a comment at CR as well as LF (and NEL, LS, PS in YAML 1.1): each starts a comment line.
  const comment = header
    .split(/\r\n|[\n\r\u0085\u2028\u2029]/)
    .map((line) => `# ${line}`.trimEnd())
    .join("\n");
  return `${comment}\n${stringifyYaml(args, { lineWidth: 0 })}`;
}

export interface NodeTopology {
  nnodes: number;
  nodeRank: number;
  masterAddr?: string;
  masterPort?: number;
}

/**
 * The environment LLaMA-Factory's launcher reads. GPUs: torchrun forced (DeepSpeed requires
 * it, and one GPU behaves the same as eight), one process per GPU. CPU: GPUs hidden, no torchrun.
 */
export function launchEnv(config: FinetuneConfig, topology: NodeTopology): Record<string, string> {
  const gpus = config.hardware.gpus_per_node;
  if (gpus === 0) return { CUDA_VISIBLE_DEVICES: "" };
  const env: Record<string, string> = {
    FORCE_TORCHRUN: "1",
    NPROC_PER_NODE: String(gpus),
    CUDA_VISIBLE_DEVICES: Array.from({ length: gpus }, (_, i) => String(i)).join(","),
  };
  if (topology.nnodes > 1) {
    env.NNODES = String(topology.nnodes);
    env.NODE_RANK = String(topology.nodeRank);
    if (topology.masterAddr) env.MASTER_ADDR = topology.masterAddr;
    if (topology.masterPort !== undefined) env.MASTER_PORT = String(topology.masterPort);
  }
  return env;
}

export interface SbatchOptions {
  jobName: string;
  nnodes: number;
  gpusPerNode: number;
  masterPort: number;
  cli: string;
  trainYaml: string;
  logPath: string;
  /** Exported before the launch on every node (the trackers' settings; never a secret). */
  env?: Readonly<Record<string, string>>;
  /** Extra #SBATCH lines, e.g. --partition=gpu, --time=24:00:00. */
  extraDirectives?: readonly string[];
}

/**
 * One task per node; srun starts the same LLaMA-Factory launch on each, which then runs one
 * torchrun worker per GPU. Node rank comes from SLURM_NODEID, the master is the first host of
 * the allocation. The script holds no secrets: HF_TOKEN is inherited from the submitting shell.
 */
export function buildSbatchScript(options: SbatchOptions): string {
  const gpus = options.gpusPerNode;
  const directives = [
    `--job-name=${options.jobName}`,
    `--nodes=${options.nnodes}`,
    "--ntasks-per-node=1",
    ...(gpus > 0 ? [`--gres=gpu:${gpus}`] : []),
    `--output=${options.logPath}`,
    ...(options.extraDirectives ?? []),
  ];
  const visible = Array.from({ length: gpus }, (_, i) => String(i)).join(",");
  const perNode = [
    gpus > 0 ? `export FORCE_TORCHRUN=1 NPROC_PER_NODE=${gpus} CUDA_VISIBLE_DEVICES=${visible}` : "export CUDA_VISIBLE_DEVICES=",
    "export NODE_RANK=$SLURM_NODEID",
    ...Object.entries(options.env ?? {}).map(([name, value]) => `export ${name}=${shellQuote(value)}`),
    `exec ${shellQuote(options.cli)} train ${shellQuote(options.trainYaml)}`,
  ].join("\n");
  return [
    "#!/bin/bash",
    ...sbatchDirectiveLines(directives),
    "# Written by `harness finetune --slurm`; submit with: sbatch <this file>",
    "set -euo pipefail",
    'export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"',
    `export MASTER_PORT=${options.masterPort}`,
    'export NNODES="$SLURM_NNODES"',
    `srun --kill-on-bad-exit=1 bash -c ${shellQuote(perNode)}`,
    "",
  ].join("\n");
}

/** The highest checkpoint-N among a directory's entries, or null. */
export function lastCheckpoint(entries: readonly string[]): { name: string; step: number } | null {
  let best: { name: string; step: number } | null = null;
  for (const name of entries) {
    const match = /^checkpoint-(\d+)$/.exec(name);
    if (match && (best === null || Number(match[1]) > best.step)) best = { name, step: Number(match[1]) };
  }
  return best;
}

const CHECKPOINT_WEIGHTS = ["adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin"];

/**
 * Whether a checkpoint-N directory was saved to the end. The Trainer writes the weights, then
 * optimizer, scheduler and RNG state, and trainer_state.json last; a run stopped or killed while
 * saving leaves a directory without it, which LLaMA-Factory would still pick to resume from and
 * then fail on ("Can't find a valid checkpoint").
 */
export function checkpointIsComplete(files: readonly string[]): boolean {
  return files.includes("trainer_state.json") && CHECKPOINT_WEIGHTS.some((name) => files.includes(name));
}

/** LLaMA-Factory's line when it resumes: "Resuming training from /x/output/checkpoint-3." */
export function parseResumeLine(line: string): string | null {
  const match = /Resuming training from (.*?checkpoint-\d+)\.?\s*$/.exec(line);
  return match ? match[1]!.split(/[\\/]/).pop()! : null;
}

/** LLaMA-Factory's examples/deepspeed/ds_z3_config.json: ZeRO-3, everything "auto" from the train args. */
export const DEEPSPEED_ZERO3 = {
  train_batch_size: "auto",
  train_micro_batch_size_per_gpu: "auto",
  gradient_accumulation_steps: "auto",
  gradient_clipping: "auto",
  zero_allow_untested_optimizer: true,
  fp16: { enabled: "auto", loss_scale: 0, loss_scale_window: 1000, initial_scale_power: 16, hysteresis: 2, min_loss_scale: 1 },
  bf16: { enabled: "auto" },
  zero_optimization: {
    stage: 3,
    overlap_comm: false,
    contiguous_gradients: true,
    sub_group_size: 1e9,
    reduce_bucket_size: "auto",
    stage3_prefetch_bucket_size: "auto",
    stage3_param_persistence_threshold: "auto",
    stage3_max_live_parameters: 1e9,
    stage3_max_reuse_distance: 1e9,
    stage3_gather_16bit_weights_on_model_save: true,
  },
} as const;
