/**
 * The three flags every command that asks a model shares (eval, distill, critic, analyze), with
 * one wording: `.options(requestFlags(STAGE_DEFAULTS))` in the command's builder. The timeout flag
 * is in seconds; each command turns it into its config's timeoutMs. --concurrency is text
 * (`N` or `fixed:N`): each command reads it with parseConcurrency into its config's
 * concurrency and concurrencyMode.
 */
import { usageError } from "./errors.ts";
import { MAX_CONCURRENCY } from "./validate.ts";

/**
 * adaptive: `concurrency` is a ceiling and the harness finds the level the server sustains
 * (requests/limiter.ts); fixed: exactly `concurrency` requests in flight, whatever the server does.
 */
export type ConcurrencyMode = "adaptive" | "fixed";

export const CONCURRENCY_MODES: readonly ConcurrencyMode[] = ["adaptive", "fixed"];

export interface ConcurrencySetting {
  concurrency: number;
  concurrencyMode: ConcurrencyMode;
}

/** A stage's concurrency as the flag writes it: `64` (adaptive, at most 64) or `fixed:16`. */
export function formatConcurrency(setting: ConcurrencySetting): string {
  return setting.concurrencyMode === "fixed" ? `fixed:${setting.concurrency}` : String(setting.concurrency);
}

const EXPECTED = `expected N (adapt to the server, at most N in flight) or fixed:N (always N), N an integer from 1 to ${MAX_CONCURRENCY}`;

/**
 * --concurrency as typed: `N` is the adaptive ceiling, `fixed:N` today's fixed level (`adaptive:N`
 * is accepted as the long form of `N`). Anything else is a usage error naming what was given.
 */
export function parseConcurrency(value: string | number, flag = "--concurrency"): ConcurrencySetting {
  const text = String(value).trim();
  const match = /^(?:(fixed|adaptive):)?\s*([0-9]+)$/i.exec(text);
  const count = match ? Number(match[2]) : Number.NaN;
  if (!match || !Number.isSafeInteger(count) || count < 1 || count > MAX_CONCURRENCY) {
    throw usageError(`${flag} ${JSON.stringify(String(value))}: ${EXPECTED}`);
  }
  return { concurrency: count, concurrencyMode: match[1]?.toLowerCase() === "fixed" ? "fixed" : "adaptive" };
}

/** Whether `text` is a --concurrency value parseConcurrency accepts. */
export function isConcurrencyText(text: string): boolean {
  try {
    parseConcurrency(text);
    return true;
  } catch {
    return false;
  }
}

export function requestFlags(
  defaults: ConcurrencySetting & { timeoutMs: number; retries: number },
  concurrencyHelp = "Requests in flight",
) {
  return {
    concurrency: {
      type: "string",
      default: formatConcurrency(defaults),
      describe: `${concurrencyHelp}: N adapts to the server (at most N; it lowers the level when latency climbs or the server answers 429/503/timeouts, and raises it as the server recovers), fixed:N always sends N`,
    },
    timeout: { type: "number", default: defaults.timeoutMs / 1000, describe: "Seconds per request before it is aborted and retried" },
    retries: { type: "number", default: defaults.retries, describe: "Retries per request on 429, 5xx, network errors and timeouts" },
  } as const;
}

/** The request flags as yargs gives them: --concurrency as typed, --timeout in seconds. */
export interface RequestFlagValues {
  concurrency: string | number;
  timeout: number;
  retries: number;
}

/** The request flags in a stage config's terms: the concurrency parsed, the timeout in milliseconds. */
export function requestSettingsFromFlags(flags: RequestFlagValues): ConcurrencySetting & { timeoutMs: number; retries: number } {
  return { ...parseConcurrency(flags.concurrency), timeoutMs: flags.timeout * 1000, retries: flags.retries };
}

/** A stage config's concurrency with its mode filled in from the stage's defaults (a config built in code may leave it out). */
export function concurrencySetting(
  config: { concurrency: number; concurrencyMode?: ConcurrencyMode | undefined },
  defaults: { concurrencyMode: ConcurrencyMode },
): ConcurrencySetting {
  return { concurrency: config.concurrency, concurrencyMode: config.concurrencyMode ?? defaults.concurrencyMode };
}
