/**
 * The exit-code contract, the same for every command and every failure class (README, "Exit
 * codes"). Code names these instead of writing numbers.
 */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The run failed (a server, a file, a tool, a full disk); the message says why. */
  failed: 1,
  /** A usage error: a flag, a config key, a path given; nothing was started. */
  usage: 2,
  /** The run finished but some questions or records ended in errors (listed by cause). */
  partial: 3,
  /** A bug in the harness (printed with its stack). */
  bug: 70,
  /** Interrupted (Ctrl-C or SIGTERM); answers so far are kept. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * An error the user can act on: printed as one line (no stack) by the CLI, with a non-zero exit.
 * Anything else that escapes is a bug and is printed with its stack.
 */
export class HarnessError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HarnessError";
    this.exitCode = options.exitCode ?? EXIT.failed;
  }
}

/** A usage error (exit 2): a flag, a config key or a path given is wrong; nothing was started. */
export function usageError(message: string, cause?: unknown): HarnessError {
  return new HarnessError(message, cause === undefined ? { exitCode: EXIT.usage } : { exitCode: EXIT.usage, cause });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A library's error message (a CSV, JSON or YAML parser's, which may quote the input) cut to one
 * bounded line for a message of ours: a hostile file with one gigantic line must not come back as
 * a gigantic error line.
 */
export function briefMessage(error: unknown, max = 160): string {
  const line = errorMessage(error).split(/[\r\n]/, 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max)}...` : line;
}
