/**
 * The three flags every command that asks a model shares (eval, distill, critic, analyze), with
 * one wording: `.options(requestFlags(STAGE_DEFAULTS))` in the command's builder. The timeout flag
 * is in seconds; each command turns it into its config's timeoutMs.
 */
export function requestFlags(
  defaults: { concurrency: number; timeoutMs: number; retries: number },
  concurrencyHelp = "Requests in flight at once",
) {
  return {
    concurrency: { type: "number", default: defaults.concurrency, describe: concurrencyHelp },
    timeout: { type: "number", default: defaults.timeoutMs / 1000, describe: "Seconds per request before it is aborted and retried" },
    retries: { type: "number", default: defaults.retries, describe: "Retries per request on 429, 5xx, network errors and timeouts" },
  } as const;
}
