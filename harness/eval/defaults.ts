import type { Mode } from "../prompts/intentionqa.ts";
import type { TrainingRecord } from "../reports/schema.ts";
import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import { DEFAULT_BOOTSTRAP_RESAMPLES } from "../stats/bootstrap.ts";
import { DEFAULT_DECODING_PRESET } from "./decoding.ts";
import type { ConcurrencyMode } from "../util/request-flags.ts";

/**
 * Everything one eval needs, in the stage's own units (milliseconds, parsed labels). The CLI maps
 * its flags onto it (harness/commands/eval.ts); `ablate` and `eval --run` build it from
 * EVAL_DEFAULTS. How the report is printed (text or JSON) is the caller's business: see EvalIo.
 */
export interface EvalConfig {
  /** Task names (benchmark/tasks.ts) or all; comma-separated. */
  task: string;
  model?: string[];
  baseUrl?: string;
  adapter?: string;
  provider?: string;
  apiKeyEnv?: string;
  mode: Mode;
  /** official (IntentionQA's settings) or model-default (the model's generation_config.json). */
  decoding?: string;
  /** model-default: a model folder, its generation_config.json, a run folder or a Hub id (default: the served model). */
  generationConfig?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  samples?: number;
  topLogprobs: number;
  data?: string;
  cacheDir?: string;
  cache: boolean;
  concurrency: number;
  /** --concurrency N (adaptive: N is a ceiling, the level follows the server) or fixed:N; absent: the stage's default mode. */
  concurrencyMode?: ConcurrencyMode;
  /** Per request, before it is aborted and retried. */
  timeoutMs: number;
  retries: number;
  limit?: number;
  ids?: string;
  difficultyFile?: string;
  difficultyEmbeddings?: string;
  embeddingsBaseUrl?: string;
  seed: number;
  /**
   * Show each question's options in a seeded order (eval/permute.ts), the gold letter moved with its
   * text; undefined (the default) keeps the benchmark's official order, prompts byte for byte.
   */
  permuteOptions?: number;
  /** Recorded as config.bootstrapResamples; unused since accuracy intervals are Wilson score intervals (stats/proportion.ts). */
  bootstrap: number;
  out: string;
  runId?: string;
  /** Stored in the report as they are. */
  labels?: Record<string, string>;
  progress?: boolean;
  /** Accept a --difficulty-file that lacks some scored questions (their levels are then marked partial). */
  allowPartialDifficulty?: boolean;
  /** Set by `eval --run` and `ablate` for servers they start: see BackendIdentity.servedFrom (no flag sets it). */
  servedFrom?: string;
  /** Set by `eval --run` and `ablate`: the training data of the adapter evaluated, for the report. */
  training?: TrainingRecord;
}

/**
 * Eval's defaults, once: the CLI's flags, ablate's config schema and every other caller build their
 * EvalConfig from this object. Its own module, so `harness eval --help` reads it without loading
 * the backends.
 */
export const EVAL_DEFAULTS = {
  task: "all",
  mode: "zero-shot" as Mode,
  decoding: DEFAULT_DECODING_PRESET,
  topLogprobs: 20,
  cache: true,
  concurrency: 16,
  concurrencyMode: "adaptive" as ConcurrencyMode,
  timeoutMs: DEFAULT_RETRY_POLICY.timeoutMs,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
  seed: 0,
  bootstrap: DEFAULT_BOOTSTRAP_RESAMPLES,
  out: "reports",
} as const satisfies Partial<EvalConfig>;
