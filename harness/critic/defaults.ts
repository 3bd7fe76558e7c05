import type { KbFormat } from "../kb/schema.ts";
import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import { DEFAULT_INPUT_TEMPLATE, type JudgeScore } from "./judge.ts";
import type { ConcurrencyMode } from "../util/request-flags.ts";

export const CRITIC_KINDS = ["judge", "classifier"] as const;
export type CriticKind = (typeof CRITIC_KINDS)[number];

/**
 * Everything one critic run needs, in the stage's own units (milliseconds). The CLI maps its flags
 * onto it (harness/commands/critic.ts).
 */
export interface CriticConfig {
  kb: string;
  kbFormat?: KbFormat;
  out: string;
  kind: CriticKind;
  model: string;
  /** judge: the OpenAI-compatible base URL; classifier: the URL to POST {"inputs"} to. */
  baseUrl?: string;
  apiKeyEnv?: string;
  judgeScore: JudgeScore;
  label?: string;
  inputTemplate: string;
  concurrency: number;
  /** --concurrency N (adaptive: N is a ceiling, the level follows the server) or fixed:N; absent: the stage's default mode. */
  concurrencyMode?: ConcurrencyMode;
  /** Per request, before it is aborted and retried. */
  timeoutMs: number;
  retries: number;
  cacheDir?: string;
  skipBadRows: boolean;
  /** Print the summary as JSON instead of text. */
  json: boolean;
}

/**
 * The critic's defaults, once: the command's flags and any other caller read this object. Its own
 * module, so `harness critic --help` reads it without loading the backends.
 */
export const CRITIC_DEFAULTS = {
  kind: "judge" as CriticKind,
  judgeScore: "logprobs" as JudgeScore,
  inputTemplate: DEFAULT_INPUT_TEMPLATE,
  concurrency: 16,
  concurrencyMode: "adaptive" as ConcurrencyMode,
  /** Per request, before it is aborted and retried. */
  timeoutMs: 120_000,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
  skipBadRows: false,
  json: false,
} as const satisfies Partial<CriticConfig>;
