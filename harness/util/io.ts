import { forTerminalChunk } from "./escape.ts";

/** The two streams a stage writes to: results on stdout, progress and warnings on stderr. */
export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
}

/** The process's own streams: what every command passes unless a test or bench captures them. */
export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr };
}

/** A line logger on the stage's stderr. */
export function stderrLog(io: Io): (line: string) => void {
  return (line: string) => io.stderr.write(`${line}\n`);
}

/**
 * Makes every string written to the process's stdout and stderr safe for a terminal (forTerminal):
 * server text, labels, model names and file contents reach the user through these two sinks, so an
 * escape sequence from outside (clear screen, window title, hyperlink, U+202E) is shown, never run.
 * Called once by the CLI before any command; Buffers pass unchanged.
 */
export function guardProcessOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(typeof chunk === "string" ? forTerminalChunk(chunk) : chunk, ...rest)) as typeof stream.write;
  }
}
