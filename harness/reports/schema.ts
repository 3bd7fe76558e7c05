import { z } from "zod";
import { TASKS } from "../benchmark/tasks.ts";
import { INTERVAL_METHODS } from "../stats/proportion.ts";

/**
 * The results file of one `harness eval` run: everything needed to reproduce it and to diff it.
 * `harness report` and `harness diff` read only files that pass this schema and whose numbers follow
 * from their own outcomes (reports/consistency.ts).
 */
export const REPORT_SCHEMA_ID = "intentionqa-harness/report@2";

/**
 * Earlier schema ids `harness report` and `diff` still read, migrated on load (reports/load.ts).
 * @1: one field per parse (`splits.avg.official`, `outcomes[].strict`, ...).
 */
export const LEGACY_SCHEMA_IDS = ["intentionqa-harness/report@1"] as const;

export const SPLITS = ["easy", "medium", "hard", "avg"] as const;
export type SplitName = (typeof SPLITS)[number];

const intervalSchema = z.object({ low: z.number(), high: z.number() });

/** One parse's accuracy over a split. */
const parseAccuracySchema = z.object({
  /** Questions this parse scored: all answered ones, or fewer for a parse that does not always apply (logprob). */
  n: z.number().int().nonnegative(),
  correct: z.number().int().nonnegative(),
  /** Percent, two decimals. */
  accuracy: z.number(),
  ci95: intervalSchema,
  /**
   * How ci95 was made: "wilson" (Wilson score interval of correct of n, written since issue 21);
   * absent in older reports, whose intervals are seeded percentile bootstraps ("bootstrap").
   */
  ciMethod: z.enum(INTERVAL_METHODS).optional(),
});

export const splitResultSchema = z.object({
  /** Scored questions answered (API errors excluded). */
  n: z.number().int().nonnegative(),
  /**
   * Accuracy per named parse (scoring/parses.ts): official (the benchmark's number), strict
   * (exactly one option letter readable), logprob (argmax of the letter probabilities, where the
   * backend returned them), and any added later.
   */
  parses: z.record(z.string(), parseAccuracySchema),
  /** Responses from which the strict parse read no letter. */
  unreadable: z.object({ count: z.number().int().nonnegative(), share: z.number() }),
});
export type ParseAccuracy = z.infer<typeof parseAccuracySchema>;
export type SplitResult = z.infer<typeof splitResultSchema>;

export const difficultySourceSchema = z.object({
  kind: z.enum(["file", "embeddings", "none"]),
  /** True for levels computed by the harness (not the benchmark's unreleased similarities). */
  approximate: z.boolean(),
  description: z.string(),
});
export type DifficultySource = z.infer<typeof difficultySourceSchema>;

export const questionOutcomeSchema = z.object({
  id: z.string(),
  level: z.enum(["easy", "medium", "hard"]).optional(),
  relation: z.string().optional(),
  /**
   * 1/0 per named parse; every parse null when the question ended in an API error; a parse that
   * did not apply to the question (logprob without letter probabilities) is absent.
   */
  parses: z.record(z.string(), z.union([z.literal(0), z.literal(1), z.null()])),
});
export type QuestionOutcome = z.infer<typeof questionOutcomeSchema>;

/**
 * How much of the task a result covers. Written by `harness eval` since coverage was recorded;
 * for older reports `harness report` derives it from `questions` (see reports/coverage.ts).
 */
export const coverageSchema = z.object({
  /** Scored questions in the benchmark file (with at least 4 options). */
  scorable: z.number().int().nonnegative(),
  /** Chosen for this run: all scorable ones unless --ids / --limit chose fewer. */
  selected: z.number().int().nonnegative(),
  /** Selected questions answered and scored. */
  answered: z.number().int().nonnegative(),
  /** Selected questions that ended in errors (not scored). */
  failed: z.number().int().nonnegative(),
  /** null when every scorable question was selected; else the flags that chose fewer (the limit, the number of ids given). */
  subset: z.object({ limit: z.number().int().nullable(), ids: z.number().int().nullable() }).nullable(),
  /** answered === scorable: the number is the whole benchmark's. */
  complete: z.boolean(),
});
export type Coverage = z.infer<typeof coverageSchema>;

export const taskResultSchema = z.object({
  /** A name from the task table (benchmark/tasks.ts), read when this module is first imported. */
  task: z.enum(TASKS),
  data: z.object({ file: z.string(), sha256: z.string(), matchesRelease: z.boolean() }),
  questions: z.object({
    inFile: z.number().int(),
    /** With at least 4 options; the official scorer skips the rest. */
    scorable: z.number().int(),
    /** After --ids / --limit. */
    selected: z.number().int(),
    apiErrors: z.number().int(),
  }),
  coverage: coverageSchema.optional(),
  difficulty: difficultySourceSchema,
  // Partial: easy/medium/hard only when a difficulty source was given; avg always, null when no
  // question was answered (never NaN).
  splits: z.partialRecord(z.enum(SPLITS), splitResultSchema.nullable()),
  /** Relations with at least one answered question. */
  relations: z.record(z.string(), splitResultSchema).optional(),
  /** baseline:random only: the expected accuracy, mean of 1/#options, in percent. */
  expectedAccuracy: z.number().optional(),
  outcomes: z.array(questionOutcomeSchema),
});
export type TaskResult = z.infer<typeof taskResultSchema>;

/** "n of 2245": scored questions of a task whose product pair was in the training data. */
const overlapSchema = z.object({ questions: z.number().int().nonnegative(), scored: z.number().int().nonnegative() });

/**
 * The training data of an evaluated adapter (eval --run, ablate): whether benchmark pairs were
 * dropped, and how many scored IntentionQA questions' product pairs it still held (null when
 * it could not be counted).
 */
export const trainingRecordSchema = z.object({
  recipe: z.string(),
  dataset: z.string(),
  records: z.number().int().nonnegative(),
  decontaminated: z.boolean().nullable(),
  benchmarkOverlap: z.object({ understanding: overlapSchema, utilization: overlapSchema }).nullable(),
});
export type TrainingRecord = z.infer<typeof trainingRecordSchema>;

export const reportSchema = z.object({
  schema: z.literal(REPORT_SCHEMA_ID),
  runId: z.string(),
  createdAt: z.string(),
  status: z.enum(["complete", "incomplete"]),
  harness: z.object({ version: z.string(), gitCommit: z.string().nullable(), protocolVersion: z.string() }),
  backend: z.object({
    id: z.string(),
    kind: z.string(),
    model: z.string(),
    baseUrl: z.string().optional(),
    adapter: z.string().optional(),
    provider: z.string().optional(),
    servedFrom: z.string().optional(),
  }),
  /** Free-form labels for tables: backbone and recipe (set by ablate or --label). */
  labels: z.record(z.string(), z.string()).default({}),
  /** The adapter's training data (eval --run, ablate); absent for models the harness did not train. */
  training: trainingRecordSchema.optional(),
  config: z.object({
    tasks: z.array(z.string()),
    mode: z.enum(["zero-shot", "cot", "cot-sc"]),
    decoding: z.object({
      maxTokens: z.number(),
      temperature: z.number(),
      /** Sent with every request since report schema additions of issue 8; older reports may lack it. */
      topP: z.number().optional(),
      samples: z.number(),
      /** official (IntentionQA's settings) or model-default (the model's generation_config.json); absent in older reports (official). */
      preset: z.enum(["official", "model-default"]).optional(),
      /** Where the values came from, in words. */
      from: z.string().optional(),
      /** Values set on the command line over the preset. */
      overrides: z.array(z.string()).optional(),
      /** Generation-config settings the OpenAI protocol cannot send (top_k, repetition_penalty). */
      notSent: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).optional(),
    }),
    topLogprobs: z.number(),
    seed: z.number(),
    /**
     * eval --permute-options: the seed the options of every question were reordered with (the
     * samples carry each permutation); absent: the benchmark's official order.
     */
    permuteOptions: z.number().int().nonnegative().optional(),
    limit: z.number().nullable(),
    ids: z.array(z.string()).nullable(),
    /** The ceiling with adaptive, the level with fixed. */
    concurrency: z.number(),
    /** --concurrency N (adaptive) or fixed:N; absent in reports before adaptive concurrency (fixed). */
    concurrencyMode: z.enum(["adaptive", "fixed"]).optional(),
    timeoutMs: z.number(),
    maxAttempts: z.number(),
    /** The resamples of bootstrap intervals; reports whose intervals are Wilson (ciMethod) used none. */
    bootstrapResamples: z.number(),
    cache: z.boolean(),
  }),
  data: z.object({ dir: z.string(), origin: z.string() }),
  requests: z.object({
    sent: z.number(),
    cacheHits: z.number(),
    retries: z.number(),
    failures: z.number(),
    /** Adaptive concurrency (config.concurrencyMode adaptive): the lowest and highest level in flight, and the last. */
    concurrency: z.object({ lowest: z.number(), highest: z.number(), final: z.number() }).optional(),
  }),
  wallTimeMs: z.number(),
  results: z.array(taskResultSchema),
});
export type EvalReport = z.infer<typeof reportSchema>;
