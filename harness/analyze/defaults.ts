import { DISTILL_DEFAULTS } from "../distill/defaults.ts";

/** The paper's mean cosine similarity (section 5.4.4), printed beside ours. */
export const PAPER_MEAN_COSINE = 0.85;

/**
 * The analysis's defaults, once (generation settings are distill's). Its own module, so
 * `harness analyze robustness --help` reads it without loading the pipeline and sharp.
 */
export const ROBUSTNESS_DEFAULTS = {
  /** The paper sampled 100 product pairs. */
  sample: 100,
  seed: 42,
  rows: "kept" as "kept" | "all",
  imageLayout: DISTILL_DEFAULTS.imageLayout,
  padImages: DISTILL_DEFAULTS.padImages,
  temperature: DISTILL_DEFAULTS.temperature,
  maxTokens: DISTILL_DEFAULTS.maxTokens,
  concurrency: 8,
  timeoutMs: DISTILL_DEFAULTS.timeoutMs,
  retries: DISTILL_DEFAULTS.retries,
  maxImageBytes: DISTILL_DEFAULTS.maxImageBytes,
  embeddingBatch: 32,
  resamples: 1000,
  /** Histogram bins of width 0.05 over [0, 1]. */
  bins: 20,
};
