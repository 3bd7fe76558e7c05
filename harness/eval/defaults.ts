import type { Mode } from "../prompts/intentionqa.ts";
import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import { DEFAULT_BOOTSTRAP_RESAMPLES } from "../stats/bootstrap.ts";
import { DEFAULT_DECODING_PRESET } from "./decoding.ts";
import type { EvalConfig } from "./run.ts";

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
  timeoutMs: DEFAULT_RETRY_POLICY.timeoutMs,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
  seed: 0,
  bootstrap: DEFAULT_BOOTSTRAP_RESAMPLES,
  out: "reports",
} as const satisfies Partial<EvalConfig>;
