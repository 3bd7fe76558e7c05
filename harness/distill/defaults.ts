import { PREFLIGHT_TIMEOUT_MS, type BackendIdentity } from "../backends/types.ts";
import { MIND_DEFAULT_SAMPLING, type Stage2Prompt } from "../prompts/mind.ts";
import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import type { ConcurrencyMode } from "../util/request-flags.ts";

/** How the two product images are shown: stacked (one image, the original's) or pair (two image parts). */
export const IMAGE_LAYOUTS = ["stacked", "pair"] as const;
export type ImageLayout = (typeof IMAGE_LAYOUTS)[number];

/** The wording of --text-only runs: the spec's text-only prompts, or the original's image-phrased ones with no image. */
export const TEXT_PROMPTS = ["text", "image-phrased"] as const;
export type TextPrompts = (typeof TEXT_PROMPTS)[number];

/**
 * Everything one distill run needs, in the stage's own units (milliseconds). The CLI maps its flags
 * onto it (harness/commands/distill.ts); the benches build it from DISTILL_DEFAULTS.
 */
export interface DistillConfig {
  /** FolkScope co-buy CSV, or records .jsonl/.csv. */
  records: string;
  /** Folder of the images (default: the records file's folder). */
  images?: string;
  /** The model the servers serve; names the request cache and the batch bodies. */
  model: string;
  /** OpenAI-compatible servers, asked as one pool; none: answers come from the cache only. */
  baseUrl?: string[];
  /** Environment variable holding the API key (default OPENAI_API_KEY, as the OpenAI client reads it). */
  apiKeyEnv?: string;
  /** Folder of the KB, its meta and its stats. */
  out: string;
  /** "all" or comma-separated relations: the fan-out of bare pairs, or a filter on FolkScope rows. */
  relations?: string;
  /** Send no images (the unimodal ablation). */
  textOnly: boolean;
  /** The wording of textOnly runs: "text" (the spec's text-only prompts) or "image-phrased" (the original's prompts, no image). */
  textPrompts: TextPrompts;
  imageLayout: ImageLayout;
  /** Pad images to squares as LLaVA's "pad" preprocessing does (false: the server pads). */
  padImages: boolean;
  /** Stage-2 wording; undefined is the original. */
  stage2Prompt?: Stage2Prompt;
  /** A record with a larger image file is skipped. */
  maxImageBytes: number;
  temperature: number;
  maxTokens: number;
  /** Requests in flight at once, across all servers. */
  concurrency: number;
  /** --concurrency N (adaptive: N is a ceiling, the level follows the server) or fixed:N; absent: the stage's default mode. */
  concurrencyMode?: ConcurrencyMode;
  /** Per request, before it is aborted and retried. */
  timeoutMs: number;
  /** Retries per request on 429, 5xx, network errors and timeouts. */
  retries: number;
  /** How long the servers get to answer the check made before the first record. */
  preflightTimeoutMs: number;
  /** "i/n": only the records whose pair id hashes to shard i of n. */
  shard?: string;
  /** Write the requests not answered yet to this batch input file, instead of a KB. */
  emitBatch?: string;
  /** A batch output file whose answers are read into the cache first. */
  ingestBatch?: string;
  cacheDir?: string;
  /** Force the progress display on or off (default: on when stderr is a terminal). */
  progress?: boolean;
}

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
  concurrencyMode: "adaptive" as ConcurrencyMode,
  timeoutMs: 300_000,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
  /** How long the servers get to answer the check made before the first record (no flag). */
  preflightTimeoutMs: PREFLIGHT_TIMEOUT_MS,
} as const satisfies Partial<DistillConfig>;

/** Distill's cache identity names the model only: every server of a pool and any batch engine share answers. */
export function distillIdentity(model: string): BackendIdentity {
  return { kind: "openai", model };
}

/** `harness distill --slurm N`: one distill run as an array job of N shards. */
export interface DistillArrayConfig {
  /** The run every task makes, its `out` the array folder (shards go to out/shards/i-of-n/). */
  distill: DistillConfig;
  shards: number;
  /** Extra #SBATCH lines (--partition=gpu, --gres=gpu:1, --time=12:00:00). */
  slurmDirectives?: string[];
  /** Started by each task on its node, listening on $PORT (e.g. `vllm serve MODEL --port $PORT`). */
  serverCommand?: string;
  /** Task i's server port: serverPort + i - 1. */
  serverPort: number;
  /** How long a task waits for its server's /v1/models to answer. */
  serverTimeoutMs: number;
}

export const DISTILL_ARRAY_DEFAULTS = {
  serverPort: 8000,
  serverTimeoutMs: 1_800_000,
} as const satisfies Partial<DistillArrayConfig>;

/** `harness distill merge`: shard folders (or an array folder) into one KB. */
export interface DistillMergeConfig {
  inputs: string[];
  out: string;
}
