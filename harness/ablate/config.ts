import { resolve } from "node:path";
import { z } from "zod";
import { DECODING_PRESETS } from "../eval/decoding.ts";
import { EVAL_DEFAULTS } from "../eval/defaults.ts";
import { MODES } from "../prompts/intentionqa.ts";
import { BUILD_SFT_DEFAULTS } from "../sft/defaults.ts";
import { needsOf, type KbInput, type TableRow } from "../sft/recipes.ts";
import { usageError } from "../util/errors.ts";
import { isConcurrencyText } from "../util/request-flags.ts";
import { MAX_CONCURRENCY, MAX_COUNT, MAX_SEED } from "../util/validate.ts";
import { describeZodIssues, readYamlFile } from "../util/yaml-file.ts";

/** The paper's Table 3 rows, in its order. zero-shot evaluates the backbone as released. */
export const ABLATION_RECIPES = ["zero-shot", "unimodal", "critic", "unfiltered", "mind"] as const;
export type AblationRecipe = (typeof ABLATION_RECIPES)[number] & TableRow;

/** The rows, in the config's order, whose training data is built from this KB. */
export function recipesReading(recipes: readonly AblationRecipe[], kb: KbInput): AblationRecipe[] {
  return recipes.filter((r) => needsOf(r).kb === kb);
}

/** The KB file a row's training data is built from (undefined: not set, or the row trains on nothing). */
export function kbFileOf(config: AblationConfig, recipe: AblationRecipe): string | undefined {
  const kb = needsOf(recipe).kb;
  return kb === null ? undefined : config.data[kb];
}

const backboneSchema = z.union([
  z.string().min(1),
  z.strictObject({
    /** A fine-tuning config (configs/mistral.yaml). */
    config: z.string().min(1),
    /** Local weights instead of the config's model.name_or_path (an offline copy, the tiny test model). */
    model_path: z.string().min(1).optional(),
    /** Caps training steps (smoke runs). */
    max_steps: z.number().int().min(1).max(MAX_COUNT).optional(),
  }),
]);

export const ablationConfigSchema = z.strictObject({
  /** name -> fine-tuning config; names become the backbone label in tables. */
  backbones: z
    .record(z.string().regex(/^[A-Za-z0-9._-]+$/, { message: "backbone names use letters, digits, . _ -" }), backboneSchema)
    .refine((b) => Object.keys(b).length > 0, {
      message: "name at least one backbone",
    }),
  recipes: z
    .array(z.enum(ABLATION_RECIPES))
    .min(1)
    // A recipe listed twice is one cell (one folder, one key) planned twice.
    .refine((recipes) => new Set(recipes).size === recipes.length, { message: "a recipe is listed twice; list each once" })
    .default([...ABLATION_RECIPES]),
  data: z
    .strictObject({
      /** The MIND KB (distill output or the released CSV): mind, unfiltered and critic read it. */
      kb: z.string().min(1).optional(),
      /** A KB generated with --text-only: the unimodal recipe reads it. */
      unimodal_kb: z.string().min(1).optional(),
      critic_threshold: z.number().min(0).max(1).default(BUILD_SFT_DEFAULTS.criticThreshold),
      critic_column: z.string().min(1).optional(),
      critic_file: z.string().min(1).optional(),
      /** Drop the IntentionQA questions' product pairs from the training data (build-sft --decontaminate). */
      decontaminate: z.boolean().default(BUILD_SFT_DEFAULTS.decontaminate),
    })
    .prefault({}),
  /** Each cell's `harness eval`: unset keys take eval's own defaults. */
  eval: z
    .strictObject({
      tasks: z.string().default(EVAL_DEFAULTS.task),
      mode: z.enum(MODES).default(EVAL_DEFAULTS.mode),
      /** official (IntentionQA's settings) or model-default (each backbone's generation_config.json, the paper's Appendix E). */
      decoding: z.enum(DECODING_PRESETS).default(EVAL_DEFAULTS.decoding),
      limit: z.number().int().min(1).max(MAX_COUNT).optional(),
      /** A number (the adaptive ceiling, as --concurrency N) or "fixed:N". */
      concurrency: z
        .union([
          z.number().int().min(1).max(MAX_CONCURRENCY),
          z
            .string()
            .refine((text) => isConcurrencyText(text), { message: `expected N or "fixed:N", N an integer from 1 to ${MAX_CONCURRENCY}` }),
        ])
        .default(EVAL_DEFAULTS.concurrency),
      seed: z.number().int().min(0).max(MAX_SEED).default(EVAL_DEFAULTS.seed),
    })
    .prefault({}),
  /** Cells (SFT data, runs, cell records) live here. */
  work_dir: z.string().min(1).default("runs/ablation"),
  /** One eval report per cell, named <backbone>-<recipe>. */
  reports_dir: z.string().min(1).default("reports/ablation"),
});

export type AblationConfig = z.infer<typeof ablationConfigSchema>;

export interface ResolvedBackbone {
  name: string;
  config: string;
  modelPath?: string;
  maxSteps?: number;
}

/** Paths in the file are relative to the working directory, like every other harness path. */
export function resolveBackbones(config: AblationConfig): ResolvedBackbone[] {
  return Object.entries(config.backbones).map(([name, entry]) =>
    typeof entry === "string"
      ? { name, config: resolve(entry) }
      : {
          name,
          config: resolve(entry.config),
          ...(entry.model_path ? { modelPath: resolve(entry.model_path) } : {}),
          ...(entry.max_steps ? { maxSteps: entry.max_steps } : {}),
        },
  );
}

export function parseAblationConfig(raw: unknown, file: string): AblationConfig {
  const result = ablationConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const lines = describeZodIssues(result.error);
    throw usageError(`${file}: invalid ablation config:\n  ${lines.join("\n  ")}`);
  }
  const config = result.data;
  const kbRecipes = recipesReading(config.recipes, "kb");
  if (kbRecipes.length > 0 && !config.data.kb) throw usageError(`${file}: data.kb is required for the recipes ${kbRecipes.join(", ")}`);
  const unimodalRecipes = recipesReading(config.recipes, "unimodal_kb");
  if (unimodalRecipes.length > 0 && !config.data.unimodal_kb) {
    throw usageError(
      `${file}: data.unimodal_kb is required for the ${unimodalRecipes.join(", ")} recipe (a KB from \`harness distill --text-only\`)`,
    );
  }
  return config;
}

export async function loadAblationConfig(file: string): Promise<{ config: AblationConfig; text: string }> {
  const { raw, text } = await readYamlFile(file);
  return { config: parseAblationConfig(raw, file), text };
}
