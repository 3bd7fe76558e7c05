/**
 * `ablate --slurm`'s files: the array script (one task per unfinished cell, each running
 * `harness ablate --cell <id>`) and, beside it, the manifest that maps each task index to its
 * cell. Pure but for reading and writing those files.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { shellQuote } from "../llamafactory/process.ts";
import { sbatchDirectiveLines } from "../slurm/sbatch.ts";
import { usageError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";

/** The submissions' folder under work_dir: array-<n>.sbatch, array-<n>.json, the tasks' logs. */
export const SLURM_DIR = "slurm";

const arrayTaskSchema = z.strictObject({
  task: z.number().int().min(0),
  cell: z.string().min(1),
  /** The cell's key when submitted (its inputs then). */
  key: z.string(),
});

export const arraySubmissionSchema = z.strictObject({
  version: z.literal(1),
  /** n of array-<n>: the order of submissions. */
  index: z.number().int().min(1),
  jobId: z.string().regex(/^\d+$/),
  script: z.string(),
  config: z.string(),
  submittedAt: z.string(),
  afterOk: z.array(z.string()),
  tasks: z.array(arrayTaskSchema),
});

export type ArrayTask = z.infer<typeof arrayTaskSchema>;
export type ArraySubmission = z.infer<typeof arraySubmissionSchema>;

export interface ArrayScriptOptions {
  /** The cells in task order: task i runs cells[i]. */
  cells: readonly string[];
  /** How the task starts the harness: node and the CLI's entry (the submitting process's own). */
  harness: readonly string[];
  /** Absolute path of the ablation config. */
  config: string;
  /** The submitting shell's folder: the config's relative paths resolve from it. */
  cwd: string;
  /** Flags every task passes on (--data, --cache-dir). */
  passThrough: readonly string[];
  /** sbatch's --output value (%A the array's job id, %a the task index), as sbatchFilePattern writes it. */
  logPattern: string;
  /** GPUs of the largest backbone (hardware.gpus_per_node): one --gres for every task. */
  gpus: number;
  /** Extra #SBATCH lines from --slurm-directive, after the harness's (sbatch takes the last of a repeated flag). */
  extraDirectives?: readonly string[];
}

/**
 * One task per cell. Everything from outside (paths, cell ids) is single-quoted for bash; the
 * script holds no secrets: the tasks inherit the submitting shell's environment (sbatch's
 * default --export=ALL), tokens included, without writing them down.
 */
export function buildArrayScript(options: ArrayScriptOptions): string {
  const directives = [
    "--job-name=harness-ablate",
    `--array=0-${options.cells.length - 1}`,
    "--nodes=1",
    "--ntasks=1",
    ...(options.gpus > 0 ? [`--gres=gpu:${options.gpus}`] : []),
    `--output=${options.logPattern}`,
    ...(options.extraDirectives ?? []),
  ];
  const command = [...options.harness, "ablate", "--config", options.config, "--cell"].map(shellQuote).join(" ");
  const passThrough = options.passThrough.map(shellQuote).join(" ");
  return [
    "#!/bin/bash",
    ...sbatchDirectiveLines(directives),
    "# Written by `harness ablate --slurm`: array task i runs cell i (the manifest beside this file maps them).",
    "set -euo pipefail",
    `cd ${shellQuote(options.cwd)}`,
    // set -u: outside an array task, SLURM_ARRAY_TASK_ID is unset and bash stops here, naming it.
    'case "$SLURM_ARRAY_TASK_ID" in',
    ...options.cells.map((cell, task) => `  ${task}) cell=${shellQuote(cell)} ;;`),
    '  *) echo "harness ablate: no cell for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
    "esac",
    // %q: the cell as one shell-quoted word, so a control character in its id cannot split or forge log lines.
    `printf 'harness ablate: array task %s runs cell %q\\n' "$SLURM_ARRAY_TASK_ID" "$cell"`,
    `exec ${command} "$cell"${passThrough ? ` ${passThrough}` : ""}`,
    "",
  ].join("\n");
}

/** Task i is cells[i], with the key it was submitted under. */
export function arrayTasks(cells: ReadonlyArray<{ id: string; key: string }>): ArrayTask[] {
  return cells.map((cell, task) => ({ task, cell: cell.id, key: cell.key }));
}

export const scriptPath = (slurmDir: string, index: number) => join(slurmDir, `array-${index}.sbatch`);
export const manifestPath = (slurmDir: string, index: number) => join(slurmDir, `array-${index}.json`);
/** The log pattern given to sbatch, and one task's log. */
export const LOG_PATTERN = "ablate-%A_%a.log";
export const taskLogPath = (slurmDir: string, jobId: string, task: number) => join(slurmDir, `ablate-${jobId}_${task}.log`);

/** Every earlier submission, oldest first. A manifest that does not parse is named in a usage error. */
export async function readSubmissions(slurmDir: string): Promise<ArraySubmission[]> {
  const names = await readdir(slurmDir).catch(() => [] as string[]);
  const submissions: ArraySubmission[] = [];
  for (const name of names.filter((n) => /^array-\d+\.json$/.test(n))) {
    const file = join(slurmDir, name);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(file, "utf8"));
    } catch (error) {
      throw usageError(`${file}: not readable JSON (${(error as Error).message.split("\n")[0]}); move it away to submit again`);
    }
    const parsed = arraySubmissionSchema.safeParse(raw);
    if (!parsed.success)
      throw usageError(
        `${file}: not an ablate --slurm manifest (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`,
      );
    submissions.push(parsed.data);
  }
  return submissions.sort((a, b) => a.index - b.index);
}

export function nextIndex(submissions: readonly ArraySubmission[]): number {
  return Math.max(0, ...submissions.map((s) => s.index)) + 1;
}

/** The last submission that ran this cell, and its task: what the scheduler is asked about. */
export function latestTaskOf(
  submissions: readonly ArraySubmission[],
  cellId: string,
): { submission: ArraySubmission; task: ArrayTask } | null {
  for (let i = submissions.length - 1; i >= 0; i--) {
    const task = submissions[i]!.tasks.find((t) => t.cell === cellId);
    if (task) return { submission: submissions[i]!, task };
  }
  return null;
}

export async function writeSubmission(slurmDir: string, submission: ArraySubmission): Promise<string> {
  const file = manifestPath(slurmDir, submission.index);
  await writeFileAtomic(file, `${JSON.stringify(submission, null, 2)}\n`);
  return file;
}
