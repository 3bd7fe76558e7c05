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
