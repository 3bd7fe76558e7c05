import { z } from "zod";

/**
 * The results file of one `harness eval` run: everything needed to reproduce it and to diff it.
 * `harness report` and `harness diff` read only files that pass this schema.
 */
export const REPORT_SCHEMA_ID = "intentionqa-harness/report@1";

export const SPLITS = ["easy", "medium", "hard", "avg"] as const;
export type SplitName = (typeof SPLITS)[number];

const intervalSchema = z.object({ low: z.number(), high: z.number() });

const metricSchema = z.object({
  correct: z.number().int().nonnegative(),
  /** Percent, two decimals. */
  accuracy: z.number(),
  ci95: intervalSchema,
});

export const splitResultSchema = z.object({
  /** Scored questions answered (API errors excluded). */
  n: z.number().int().nonnegative(),
  /** The official parse: the benchmark's number. */
  official: metricSchema,
  /** The strict parse: exactly one option letter readable. */
  strict: metricSchema,
  /** Responses from which the strict parse read no letter. */
  unreadable: z.object({ count: z.number().int().nonnegative(), share: z.number() }),
  /** Argmax of the option letters' probabilities at the first answer token, where the backend returned them. */
  logprob: metricSchema.extend({ n: z.number().int().nonnegative() }).optional(),
});
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
  /** 1/0 under the official parse, the strict parse; null when the question ended in an API error. */
  official: z.union([z.literal(0), z.literal(1), z.null()]),
  strict: z.union([z.literal(0), z.literal(1), z.null()]),
});
export type QuestionOutcome = z.infer<typeof questionOutcomeSchema>;

export const taskResultSchema = z.object({
  task: z.enum(["understanding", "utilization", "by-relation"]),
  data: z.object({ file: z.string(), sha256: z.string(), matchesRelease: z.boolean() }),
  questions: z.object({
    inFile: z.number().int(),
    /** With at least 4 options; the official scorer skips the rest. */
    scorable: z.number().int(),
    /** After --ids / --limit. */
    selected: z.number().int(),
    apiErrors: z.number().int(),
  }),
  difficulty: difficultySourceSchema,
  // Partial: easy/medium/hard only when a difficulty source was given; avg always.
  splits: z.partialRecord(z.enum(SPLITS), splitResultSchema),
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
    limit: z.number().nullable(),
    ids: z.array(z.string()).nullable(),
    concurrency: z.number(),
    timeoutMs: z.number(),
    maxAttempts: z.number(),
    bootstrapResamples: z.number(),
    cache: z.boolean(),
  }),
  data: z.object({ dir: z.string(), origin: z.string() }),
  requests: z.object({ sent: z.number(), cacheHits: z.number(), retries: z.number(), failures: z.number() }),
  wallTimeMs: z.number(),
  results: z.array(taskResultSchema),
});
export type EvalReport = z.infer<typeof reportSchema>;
