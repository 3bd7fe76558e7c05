/**
 * `harness ablate --slurm`: every cell not finished with the same inputs becomes one task of a
 * SLURM array job; each task runs `harness ablate --config X --cell <id>` on its node. Finished
 * cells are never resubmitted, nor cells an earlier array still has queued or running.
 */
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadFinetuneConfig } from "../finetune/config.ts";
import { type JobState, queryArrayTasks } from "../slurm/jobs.ts";
import { harnessArgv, sbatchFilePattern, submitSbatch } from "../slurm/sbatch.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { removeForeignRunLock, withRunLock } from "../util/run-lock.ts";
import {
  type ArraySubmission,
  arrayTasks,
  buildArrayScript,
  LOG_PATTERN,
  latestTaskOf,
  nextIndex,
  readSubmissions,
  SLURM_DIR,
  scriptPath,
  taskLogPath,
  writeSubmission,
} from "./array.ts";
import type { AblateOptions } from "./defaults.ts";
import { type AblationPlan, checkPreflight, isReusable, planAblation } from "./matrix.ts";
import type { AblationCell } from "./plan.ts";

export interface SubmitResult {
  /** Null when there was nothing to submit. */
  jobId: string | null;
  /** The submitted cells, in task order. */
  cells: string[];
}

/** The scheduler's word on the array task that last ran each cell (cells no array ran are absent). */
async function lastTaskStates(
  submissions: readonly ArraySubmission[],
  cells: readonly AblationCell[],
): Promise<Map<string, JobState & { task: string }>> {
  const found = new Map<string, JobState & { task: string }>();
  const arrays = new Map<string, Map<number, JobState>>();
  for (const cell of cells) {
    const last = latestTaskOf(submissions, cell.id);
    if (!last) continue;
    const { jobId, script } = last.submission;
    if (!arrays.has(jobId)) arrays.set(jobId, await queryArrayTasks(jobId, script));
    const job = arrays.get(jobId)!.get(last.task.task);
    if (job) found.set(cell.id, { ...job, task: `${jobId}_${last.task.task}` });
  }
  return found;
}

/**
 * The run locks a task killed hard (its node lost, SIGKILL at the time limit) left in its cell, held
 * by another host: the scheduler says that task has ended, so nothing writes there, and the
 * resubmitted task (on another node) would otherwise stop on them. A lock of this host is left to
 * the lock's own check (a dead pid here is taken over).
 */
async function clearLeftLocks(cell: AblationCell, ended: JobState & { task: string }, log: (line: string) => void): Promise<void> {
  for (const dir of [cell.dir, join(cell.dir, "sft"), ...(cell.runDir ? [cell.runDir] : [])]) {
    const removed = await removeForeignRunLock(dir);
    if (removed)
      log(
        `${cell.id}: removed ${removed.file} (pid ${String(removed.pid)} on ${removed.host}), left by array task ${ended.task}, which ended ${ended.state}`,
      );
  }
}

/** The largest backbone's GPUs per node among the cells: one --gres serves every task of the array. */
async function gpusFor(cells: readonly AblationCell[]): Promise<number> {
  let gpus = 0;
  for (const config of new Set(cells.map((c) => c.backbone.config)))
    gpus = Math.max(gpus, (await loadFinetuneConfig(config)).config.hardware.gpus_per_node);
  return gpus;
}

async function submitCells(plan: AblationPlan, cells: AblationCell[], options: AblateOptions, io: Io): Promise<SubmitResult> {
  const slurmDir = join(plan.workDir, SLURM_DIR);
  await mkdir(slurmDir, { recursive: true });
  const index = nextIndex(await readSubmissions(slurmDir));
  const script = scriptPath(slurmDir, index);
  const config = resolve(options.config);
  const passThrough = [
    ...(options.data ? ["--data", resolve(options.data)] : []),
    ...(options.cacheDir ? ["--cache-dir", resolve(options.cacheDir)] : []),
  ];
  const text = buildArrayScript({
    cells: cells.map((c) => c.id),
    harness: harnessArgv("ablate"),
    config,
    cwd: process.cwd(),
    passThrough,
    logPattern: sbatchFilePattern(slurmDir, LOG_PATTERN),
    gpus: await gpusFor(cells),
    ...(options.slurmDirectives ? { extraDirectives: options.slurmDirectives } : {}),
  });
  await writeFileAtomic(script, text);
  const afterOk = options.slurmAfter ?? [];
  const jobId = await submitSbatch(script, { afterOk });
  const tasks = arrayTasks(cells);
  const submission: ArraySubmission = {
    version: 1,
    index,
    jobId,
    script,
    config,
    submittedAt: new Date().toISOString(),
    afterOk: [...afterOk],
    tasks,
  };
  const manifest = await writeSubmission(slurmDir, submission);
  const lines = [
    `submitted SLURM array job ${jobId}: ${cells.length} cell(s)${afterOk.length ? `, after job(s) ${afterOk.join(", ")} complete` : ""}`,
    `script: ${script}`,
    `tasks: ${manifest}`,
    ...tasks.map((t) => `  ${jobId}_${t.task}  ${t.cell}  log ${taskLogPath(slurmDir, jobId, t.task)}`),
    `follow: harness ablate --config ${options.config} --status`,
  ];
  io.stdout.write(`${lines.join("\n")}\n`);
  return { jobId, cells: cells.map((c) => c.id) };
}

/** The whole `ablate --slurm`. Two at once on one work dir would submit the same cells twice: one holds the slurm folder. */
export async function submitAblation(options: AblateOptions, io: Io = processIo()): Promise<SubmitResult> {
  const plan = await planAblation(options);
  const log = stderrLog(io);
  const slurmDir = join(plan.workDir, SLURM_DIR);
  await mkdir(slurmDir, { recursive: true });
  return withRunLock("work_dir", slurmDir, "ablate --slurm", async () => {
    const unfinished = plan.cells.filter((c) => !isReusable(c, plan.records.get(c.id)!));
    for (const cell of plan.cells.filter((c) => !unfinished.includes(c))) log(`${cell.id}: finished with the same inputs; not submitted`);
    const submissions = await readSubmissions(slurmDir);
    const states = submissions.length > 0 ? await lastTaskStates(submissions, unfinished) : new Map<string, JobState & { task: string }>();
    const moving = (id: string) => ["pending", "running"].includes(states.get(id)?.phase ?? "");
    for (const cell of unfinished.filter((c) => moving(c.id)))
      log(
        `${cell.id}: still in array task ${states.get(cell.id)!.task} (${states.get(cell.id)!.state.toLowerCase()}); not submitted again`,
      );
    const todo = unfinished.filter((c) => !moving(c.id));
    const inFlight = unfinished.length - todo.length;
    if (todo.length === 0) {
      io.stdout.write(
        inFlight > 0
          ? `nothing to submit: every unfinished cell is still queued or running (follow: harness ablate --config ${options.config} --status)\n`
          : `nothing to submit: all ${plan.cells.length} cells are finished with the same inputs (harness ablate --config ${options.config} --collect builds Table 3)\n`,
      );
      return { jobId: null, cells: [] };
    }
    // The KB of a job the array waits for is not there yet: each task's own preflight checks it.
    checkPreflight(plan, options.config, todo, (options.slurmAfter ?? []).length > 0);
    for (const cell of todo) {
      const last = states.get(cell.id);
      if (last && ["failed", "cancelled", "completed"].includes(last.phase)) await clearLeftLocks(cell, last, log);
    }
    return submitCells(plan, todo, options, io);
  });
}
