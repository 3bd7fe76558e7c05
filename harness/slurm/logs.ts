/** Reading a SLURM job's log: what finetune, distill and ablate status views show of it. */

/** A log's lines: tqdm redraws its bar with a carriage return, so CR ends a line too. Blank ones dropped. */
export function logLinesOf(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((line) => line.trim() !== "");
}

/** slurmstepd's line in the job's log when it is cancelled: "*** JOB 7 ON node CANCELLED AT <time> ***". */
export function cancelLine(lines: readonly string[]): string | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /\*\*\* (JOB \d+ ON \S+ CANCELLED AT .*?) \*\*\*/.exec(lines[i]!);
    if (match) return match[1]!;
  }
  return null;
}
