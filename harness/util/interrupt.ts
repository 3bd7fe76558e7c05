/**
 * Ctrl-C and SIGTERM, wired once. A stage hooks both signals for as long as it runs and unhooks
 * them when it ends, whatever happens, so a later stage in the same process gets them back.
 */
import { EXIT, HarnessError } from "./errors.ts";

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

export interface StopSignalOptions {
  /**
   * true: handle every signal (the handler decides what a second Ctrl-C means).
   * false (default): handle the first only; a second one ends the process as Node does by default.
   */
  every?: boolean;
}

/** Calls `handler` on SIGINT/SIGTERM until the returned function is called. */
export function onStopSignal(handler: (signal: NodeJS.Signals) => void, options: StopSignalOptions = {}): () => void {
  for (const signal of STOP_SIGNALS) {
    if (options.every) process.on(signal, handler);
    else process.once(signal, handler);
  }
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, handler);
  };
}

/** The error a stage's signal aborts with: exit code 130, as a shell reports Ctrl-C. */
export function interruptedError(): HarnessError {
  return new HarnessError("interrupted", { exitCode: EXIT.interrupted });
}

export interface Interrupt {
  /** Aborts on the first SIGINT/SIGTERM, or when `abort` is called. */
  signal: AbortSignal;
  /** Aborts the signal for another cause (a fatal error that should stop every request in flight). */
  abort: (reason: unknown) => void;
  /** Unhooks the signals: call it in a finally. */
  release: () => void;
}

/**
 * An AbortSignal that Ctrl-C/SIGTERM aborts. `reason`: what the signal aborts with (default: an
 * exit-130 "interrupted" HarnessError; `undefined` keeps the AbortSignal's own AbortError).
 */
export function abortOnStopSignal(options: StopSignalOptions & { reason?: "interrupted" | "abort" } = {}): Interrupt {
  const controller = new AbortController();
  const release = onStopSignal(() => {
    if (options.reason === "abort") controller.abort();
    else controller.abort(interruptedError());
  }, options);
  return { signal: controller.signal, abort: (reason) => controller.abort(reason), release };
}

/** True when `signal` was aborted by abortOnStopSignal's default reason (a Ctrl-C, not a timeout). */
export function wasInterrupted(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof HarnessError;
}
