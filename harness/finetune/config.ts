import { basename, extname } from "node:path";
import { z } from "zod";
import { usageError } from "../util/errors.ts";
import { describeZodIssues, readYamlFile } from "../util/yaml-file.ts";
import { REPORT_TARGETS, type ReportTarget } from "./defaults.ts";

/**
 * A fine-tuning config (configs/*.yaml): the backbone, LoRA, the few training keys a user may
 * override, and the hardware. Everything not set here stays at LLaMA-Factory's defaults, as in
 * the paper. Unknown keys are errors: a typo must not silently fall back to a default.
 */
const positiveInt = z.number().int().min(1);

const modelSchema = z.strictObject({
  /** Hub id (e.g. mistralai/Mistral-7B-Instruct-v0.2) or a local directory. */
  name_or_path: z.string().min(1),
  /** LLaMA-Factory chat template; the same one is used to train and to serve. */
  template: z.string().min(1),
});

const loraSchema = z.strictObject({
  rank: z.number().int().min(1, { message: "must be an integer >= 1 (the paper uses 64)" }),
  alpha: positiveInt.optional(),
  dropout: z.number().min(0).max(1).optional(),
  target: z.string().min(1).optional(),
});

/** Training keys a config may set; each maps to the LLaMA-Factory key of the same name. */
export const TRAIN_KEYS = [
  "learning_rate",
  "num_train_epochs",
  "max_steps",
  "per_device_train_batch_size",
  "gradient_accumulation_steps",
  "lr_scheduler_type",
  "warmup_ratio",
  "cutoff_len",
  "max_samples",
  "logging_steps",
  "save_steps",
  "save_total_limit",
  "val_size",
  "seed",
  "preprocessing_num_workers",
  "report_to",
] as const;

const REPORT_TO_EXPECTED = `expected ${REPORT_TARGETS.join(", ")}, or a list of them`;

/**
 * train.report_to: one tracker or a list, as LLaMA-Factory accepts it, read as a list. Names outside
 * REPORT_TARGETS are refused here rather than by HF's Trainer minutes into a cluster job; "none"
 * beside a tracker is a contradiction, and a tracker listed twice a slip.
 */
const reportToSchema = z
  .union([z.string(), z.array(z.string()).min(1, { error: `an empty list: ${REPORT_TO_EXPECTED}` })], {
    error: `must be a tracker name or a list of them: ${REPORT_TO_EXPECTED}`,
  })
  .transform((value, ctx): ReportTarget[] => {
    const names = typeof value === "string" ? [value] : value;
    for (const name of names) {
      if (!(REPORT_TARGETS as readonly string[]).includes(name))
        ctx.addIssue({ code: "custom", message: `unknown tracker ${JSON.stringify(name)}: ${REPORT_TO_EXPECTED}` });
    }
    if (names.length > 1 && names.includes("none"))
      ctx.addIssue({ code: "custom", message: '"none" cannot be listed with a tracker: write report_to: none, or only the trackers' });
    if (new Set(names).size !== names.length) ctx.addIssue({ code: "custom", message: "a tracker is listed twice" });
    return names as ReportTarget[];
  });

const trainSchema = z.strictObject({
  learning_rate: z.number().positive().optional(),
  num_train_epochs: z.number().positive().optional(),
  max_steps: positiveInt.optional(),
  per_device_train_batch_size: positiveInt.optional(),
  gradient_accumulation_steps: positiveInt.optional(),
  lr_scheduler_type: z.string().min(1).optional(),
  warmup_ratio: z.number().min(0).max(1).optional(),
  cutoff_len: positiveInt.optional(),
  max_samples: positiveInt.optional(),
  logging_steps: positiveInt.optional(),
  save_steps: positiveInt.optional(),
  save_total_limit: positiveInt.optional(),
  val_size: z.number().min(0).optional(),
  seed: z.number().int().min(0).optional(),
  preprocessing_num_workers: positiveInt.optional(),
  /** Default FINETUNE_DEFAULTS.reportTo (none). Secrets (WANDB_API_KEY...) come from the environment only. */
  report_to: reportToSchema.optional(),
});

export const PRECISIONS = ["fp16", "bf16", "fp32"] as const;
export type Precision = (typeof PRECISIONS)[number];

const hardwareSchema = z.strictObject({
  /** GPUs per node; 0 trains on CPU (GPUs hidden). */
  gpus_per_node: z.number().int().min(0),
  /** V100s have no bf16: fp16. */
  precision: z.enum(PRECISIONS),
  /** ZeRO-3 shards the 7B weights across the node's GPUs: needed on 16 GB V100s. */
  deepspeed: z.enum(["none", "zero3"]).default("none"),
  /** Seconds before a collective times out (LLaMA-Factory's examples use 180000000 so slow preprocessing on rank 0 does not kill the job). */
  ddp_timeout: positiveInt.optional(),
});

const serveSchema = z.strictObject({
  engine: z.enum(["huggingface", "vllm"]).default("huggingface"),
  infer_dtype: z.enum(["auto", "float16", "bfloat16", "float32"]).default("auto"),
});

export const finetuneConfigSchema = z.strictObject({
  /** Names the default run directory (runs/<name>-<recipe>); default: the file name. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, { message: "use letters, digits, . _ -" })
    .optional(),
  model: modelSchema,
  lora: loraSchema,
  train: trainSchema.default({}),
  hardware: hardwareSchema,
  serve: serveSchema.default({ engine: "huggingface", infer_dtype: "auto" }),
});

export type FinetuneConfig = z.infer<typeof finetuneConfigSchema> & { name: string };

/** Unknown keys a user is likely to write, with where they belong. */
const KEY_HINTS = new Map([
  ["evaluation_strategy", "evaluation_strategy (renamed eval_strategy in transformers)"],
  ["report_to", "report_to (it belongs under train:)"],
  ["run_name", "run_name (the harness names the run after its run folder)"],
]);

/** "lora.rank: must be ..." lines, one per problem, keyed by the YAML path. */
export function describeConfigIssues(error: z.ZodError): string[] {
  return describeZodIssues(error, (key) => KEY_HINTS.get(key) ?? key);
}

/**
 * A config without `name:` is named by its file, kept to the characters `name:` allows: the name
 * reaches a run folder and an sbatch `#SBATCH --job-name=` line, where a newline in a file name
 * would start a shell command.
 */
export function runNameFromFile(file: string): string {
  return basename(file, extname(file)).replace(/[^A-Za-z0-9._-]+/g, "-") || "run";
}

/** Validates parsed YAML; `file` only names the source in errors. */
export function parseFinetuneConfig(raw: unknown, file: string): FinetuneConfig {
  const result = finetuneConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const issues = describeConfigIssues(result.error);
    throw usageError(`${file}: invalid fine-tuning config:\n  ${issues.join("\n  ")}`);
  }
  return { ...result.data, name: result.data.name ?? runNameFromFile(file) };
}

export async function loadFinetuneConfig(file: string): Promise<{ config: FinetuneConfig; text: string }> {
  const { raw, text } = await readYamlFile(file);
  return { config: parseFinetuneConfig(raw, file), text };
}
