import { PREFLIGHT_TIMEOUT_MS, type BackendIdentity } from "../backends/types.ts";
import { MIND_DEFAULT_SAMPLING } from "../prompts/mind.ts";
import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import type { DistillConfig } from "./run.ts";

/** How the two product images are shown: stacked (one image, the original's) or pair (two image parts). */
export const IMAGE_LAYOUTS = ["stacked", "pair"] as const;
export type ImageLayout = (typeof IMAGE_LAYOUTS)[number];

/** The wording of --text-only runs: the spec's text-only prompts, or the original's image-phrased ones with no image. */
export const TEXT_PROMPTS = ["text", "image-phrased"] as const;
export type TextPrompts = (typeof TEXT_PROMPTS)[number];

/**
 * Distill's defaults, once: the CLI's flags, `analyze robustness` and the benches build their
 * settings from this object. Its own module, so `harness distill --help` reads it without loading
 * the run code (sharp, the OpenAI client).
 */
export const DISTILL_DEFAULTS = {
  textOnly: false,
  imageLayout: "stacked" as ImageLayout,
  padImages: true,
  textPrompts: "text" as TextPrompts,
  maxImageBytes: 20 * 1024 * 1024,
  temperature: MIND_DEFAULT_SAMPLING.temperature,
  maxTokens: MIND_DEFAULT_SAMPLING.maxTokens,
  concurrency: 16,
  timeoutMs: 300_000,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
  /** How long the servers get to answer the check made before the first record (no flag). */
  preflightTimeoutMs: PREFLIGHT_TIMEOUT_MS,
} as const satisfies Partial<DistillConfig>;

/** Distill's cache identity names the model only: every server of a pool and any batch engine share answers. */
export function distillIdentity(model: string): BackendIdentity {
  return { kind: "openai", model };
}
