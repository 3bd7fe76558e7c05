import { resolve } from "node:path";
import { execa } from "execa";
import { findTool } from "../llamafactory/tool.ts";
import { HarnessError, usageError } from "../util/errors.ts";

/** Writing and submitting batch scripts: what finetune, distill and ablate share on a SLURM cluster. */

/**
 * `#SBATCH` lines for the given directives. A directive is one line of the script: a line break
 * (or any control character) in a flag or a path would start a shell command of its own.
 */
export function sbatchDirectiveLines(directives: readonly string[]): string[] {
  for (const directive of directives) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
    if (/[\u0000-\u001f\u007f]/.test(directive))
      throw usageError(`#SBATCH ${JSON.stringify(directive)}: a line break or control character cannot go into an sbatch directive`);
  }
  return directives.map((directive) => `#SBATCH ${directive}`);
}

/**
 * A folder and a file-name pattern (`ablate-%A_%a.log`) as one --output/--error value: "%" in the
 * folder doubled (sbatch expands %j, %A, %a...), the whole double-quoted when it holds blanks
 * (sbatch splits a directive line at them: "Invalid directive found in batch script").
 */
export function sbatchFilePattern(dir: string, pattern: string): string {
  if (/["\\]/.test(dir))
    throw usageError(`${dir}: a folder whose name holds " or \\ cannot go into an sbatch directive; use another folder`);
  const value = `${dir.replace(/%/g, "%%")}/${pattern}`;
  return /\s/.test(value) ? `"${value}"` : value;
}

/**
 * How an array task starts the harness: this very CLI, node and its entry script, so a node runs
 * what submitted it (on a cluster both live on the shared file system).
 */
export function harnessArgv(command: string): string[] {
  const entry = process.argv[1];
  if (!entry)
    throw usageError(`cannot tell how this harness was started (no entry script): run \`harness ${command} --slurm\` from the CLI`);
  return [process.execPath, resolve(entry)];
}

export interface SubmitOptions {
  /** Job ids this job waits for (afterok): it starts only once they all completed. */
  afterOk?: readonly string[];
}

/**
 * Submits a written script with the real `sbatch --parsable` and returns the job id. Without
 * sbatch (not a login node), a usage error that says how to submit the script by hand.
 */
export async function submitSbatch(script: string, options: SubmitOptions = {}): Promise<string> {
  const sbatch = findTool("sbatch", "HARNESS_SBATCH");
  if (!sbatch.path)
    throw usageError(`wrote ${script}, but sbatch is not on PATH: submit it from a SLURM login node with \`sbatch ${script}\``);
  const dependency = options.afterOk?.length ? [`--dependency=afterok:${options.afterOk.join(":")}`] : [];
  const submitted = await execa(sbatch.path, ["--parsable", ...dependency, script], { reject: false });
  const jobId = String(submitted.stdout).trim().split(";")[0] ?? "";
  if (submitted.exitCode !== 0 || !/^\d+$/.test(jobId))
    throw new HarnessError(
      `sbatch ${script} failed: ${String(submitted.stderr).trim().split("\n").pop() || `no job id in its output ${JSON.stringify(String(submitted.stdout).slice(0, 200))}`}`,
    );
  return jobId;
}
