import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import { DEFAULT_INPUT_TEMPLATE, type JudgeScore } from "./judge.ts";
import type { CriticOptions } from "./run.ts";

export const CRITIC_KINDS = ["judge", "classifier"] as const;
export type CriticKind = (typeof CRITIC_KINDS)[number];

/**
 * The critic's defaults, once: the command's flags and any other caller read this object. Its own
 * module, so `harness critic --help` reads it without loading the backends.
 */
export const CRITIC_DEFAULTS = {
  kind: "judge" as CriticKind,
  judgeScore: "logprobs" as JudgeScore,
  inputTemplate: DEFAULT_INPUT_TEMPLATE,
  concurrency: 16,
  /** Per request, before it is aborted and retried. */
  timeoutMs: 120_000,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
} as const satisfies Partial<CriticOptions>;
