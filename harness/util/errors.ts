/**
 * An error the user can act on: printed as one line (no stack) by the CLI, with a non-zero exit.
 * Anything else that escapes is a bug and is printed with its stack.
 */
export class HarnessError extends Error {
  readonly exitCode: number;
  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HarnessError";
    this.exitCode = options.exitCode ?? 1;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
