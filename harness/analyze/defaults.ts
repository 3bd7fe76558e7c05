import { DISTILL_DEFAULTS, type ImageLayout } from "../distill/defaults.ts";
import type { KbFormat } from "../kb/schema.ts";
import type { ConcurrencyMode } from "../util/request-flags.ts";

// The command's --image-layout choices, so it reads this module only.

/** The paper's mean cosine similarity (section 5.4.4), printed beside ours. */
export const PAPER_MEAN_COSINE = 0.85;

/**
 * Everything one `analyze robustness` needs, in the analysis's own units (milliseconds). The CLI
 * maps its flags onto it (harness/commands/analyze.ts).
 */
export interface RobustnessConfig {
  kb: string;
  kbFormat?: KbFormat;
  /** distill's records file: where each product's image is. */
  records?: string;
  images?: string;
  textOnly: boolean;
  imageLayout: ImageLayout;
  /** As distill's --pad-images: use what the KB was made with. */
  padImages: boolean;
  model: string;
  baseUrl: string[];
  apiKeyEnv?: string;
  embeddings: string;
  embeddingsBaseUrl?: string;
  embeddingsApiKeyEnv?: string;
  sample: number;
  seed: number;
  rows: "kept" | "all";
  temperature: number;
  maxTokens: number;
  concurrency: number;
  /** --concurrency N (adaptive: N is a ceiling, the level follows the server) or fixed:N; absent: the stage's default mode. */
  concurrencyMode?: ConcurrencyMode;
  /** Per request, before it is aborted and retried. */
  timeoutMs: number;
  retries: number;
  cacheDir?: string;
  out: string;
  /** Print summary.json on stdout instead of the text summary. */
  json: boolean;
}

/**
 * The analysis's defaults, once (generation settings are distill's). Its own module, so
 * `harness analyze robustness --help` reads it without loading the pipeline and sharp.
 */
export const ROBUSTNESS_DEFAULTS = {
  /** The paper sampled 100 product pairs. */
  sample: 100,
  seed: 42,
  rows: "kept",
  textOnly: false,
  imageLayout: DISTILL_DEFAULTS.imageLayout,
  padImages: DISTILL_DEFAULTS.padImages,
  temperature: DISTILL_DEFAULTS.temperature,
  maxTokens: DISTILL_DEFAULTS.maxTokens,
  concurrency: 8,
  concurrencyMode: "adaptive" as ConcurrencyMode,
  timeoutMs: DISTILL_DEFAULTS.timeoutMs,
  retries: DISTILL_DEFAULTS.retries,
  json: false,
} as const satisfies Partial<RobustnessConfig>;

/** How the analysis measures, fixed (no flag): the notes and summary.json describe these. */
export const ROBUSTNESS_METHOD = {
  maxImageBytes: DISTILL_DEFAULTS.maxImageBytes,
  preflightTimeoutMs: DISTILL_DEFAULTS.preflightTimeoutMs,
  /** Texts per embeddings request: an original and its regenerated intention travel together. */
  embeddingBatch: 32,
  resamples: 1000,
  /** Histogram bins of width 0.05 over [0, 1]. */
  bins: 20,
} as const;
