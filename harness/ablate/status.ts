/**
 * `harness ablate --status`: each cell of the matrix as done, queued, running, failed or
 * cancelled, from its cell.json and the scheduler's word on the array task that last ran it
 * (squeue, scontrol, sacct), with the reason and a failed task's log tail. Runs nothing.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { cancelLine, logLinesOf } from "../slurm/logs.ts";
import { type JobState, queryArrayTasks } from "../slurm/jobs.ts";
import { EXIT, HarnessError } from "../util/errors.ts";
import { forTerminal } from "../util/escape.ts";
import { processIo, type Io } from "../util/io.ts";
import { type ArraySubmission, type ArrayTask, latestTaskOf, readSubmissions, SLURM_DIR, taskLogPath } from "./array.ts";
import { ABLATE_DEFAULTS, type AblateOptions } from "./defaults.ts";
import { type AblationPlan, type CellRecord, isReusable, planAblation, readCellRecord } from "./matrix.ts";

export type CellPhase = "done" | "queued" | "running" | "failed" | "cancelled" | "unknown" | "not submitted";

/** Phases that end without a finished cell: someone has to resubmit. */
const STUCK: readonly CellPhase[] = ["failed", "cancelled", "unknown", "not submitted"];

export interface CellView {
  id: string;
  phase: CellPhase;
  /** One line: the report, the scheduler's state and reason, cell.json's error. Holds text from outside: escape to print. */
  detail: string;
  /** The task's log, when it ran in an array. */
  log: string | null;
}

export interface CellEvidence {
  reusable: boolean;
  record: CellRecord | null;
  /** The array task that last ran the cell, if any. */
  found: { submission: ArraySubmission; task: ArrayTask } | null;
  /** The scheduler's record of that task; null when it no longer knows it. */
  job: JobState | null;
  log: string | null;
}

/** cell.json's error when it was written by this submission's task (not an older run). */
function recordError(record: CellRecord | null, submittedAt: string | null): string | null {
  if (record?.status !== "failed") return null;
  return submittedAt === null || record.finishedAt >= submittedAt ? (record.error ?? "failed") : null;
}

/** A cell's state from what it left (cell.json) and the scheduler's word on its task. Pure. */
export function cellView(id: string, seen: CellEvidence): CellView {
  const { record, found, job, log } = seen;
  if (seen.reusable) return { id, phase: "done", detail: `report ${record?.report}`, log };
  if (!found) {
    const error = recordError(record, null);
    if (error) return { id, phase: "failed", detail: `cell.json: ${error}`, log };
    const detail =
      record?.status === "succeeded" ? "finished with other inputs (the config or a KB changed); not submitted since" : "never submitted";
    return { id, phase: "not submitted", detail, log };
  }
  const taskId = `job ${found.submission.jobId}_${found.task.task}`;
  const error = recordError(record, found.submission.submittedAt);
  const said = error ? `; cell.json: ${error}` : "";
  if (!job) {
    if (error) return { id, phase: "failed", detail: `${taskId}: cell.json: ${error}`, log };
    return { id, phase: "unknown", detail: `${taskId}: the scheduler no longer knows it (not in squeue, scontrol or sacct)`, log };
  }
  const state = `${taskId}: ${job.state} (from ${job.from})`;
  if (job.phase === "pending") return { id, phase: "queued", detail: `${state}${job.reason ? `, waiting: ${job.reason}` : ""}`, log };
  if (job.phase === "running") return { id, phase: "running", detail: state, log };
  if (job.phase === "cancelled")
    return { id, phase: "cancelled", detail: `${state}${job.reason ? `, reason ${job.reason}` : ""}${said}`, log };
  const parts = [state, ...(job.reason ? [`reason ${job.reason}`] : []), ...(job.exitCode ? [`exit code ${job.exitCode}`] : [])];
  if (job.phase === "completed") parts.push("but the cell has no finished record for the current inputs");
  return { id, phase: "failed", detail: `${parts.join(", ")}${said}`, log };
}

/** One look: every cell's record read again, the scheduler asked once per array job. */
async function observe(plan: AblationPlan, submissions: readonly ArraySubmission[]): Promise<CellView[]> {
  const slurmDir = join(plan.workDir, SLURM_DIR);
  const arrays = new Map<string, Map<number, JobState>>();
  const views: CellView[] = [];
  for (const cell of plan.cells) {
    const record = await readCellRecord(cell);
    const reusable = isReusable(cell, record);
    const found = reusable ? null : latestTaskOf(submissions, cell.id);
    let job: JobState | null = null;
    let log: string | null = null;
    if (found) {
      const { jobId, script } = found.submission;
      if (!arrays.has(jobId)) arrays.set(jobId, await queryArrayTasks(jobId, script));
      job = arrays.get(jobId)!.get(found.task.task) ?? null;
      log = job?.stdout && existsSync(job.stdout) ? job.stdout : taskLogPath(slurmDir, jobId, found.task.task);
    }
    views.push(cellView(cell.id, { reusable, record, found, job, log }));
  }
  return views;
}

export function summaryLine(views: readonly CellView[]): string {
  const count = (phase: CellPhase) => views.filter((v) => v.phase === phase).length;
  const done = count("done");
  const others = (["running", "queued", "failed", "cancelled", "unknown", "not submitted"] as const)
    .filter((p) => count(p) > 0)
    .map((p) => `${count(p)} ${p}`);
  if (done === views.length) return `all ${views.length} cells done: \`--collect\` builds Table 3`;
  return `${done} of ${views.length} cells done, ${others.join(", ")}: Table 3 is not complete`;
}

async function tailOf(log: string, tail: number): Promise<string[]> {
  const lines = logLinesOf(await readFile(log, "utf8").catch(() => ""));
  if (lines.length === 0) return [`    log: ${forTerminal(log)} (${existsSync(log) ? "empty" : "not written"})`];
  const last = lines.slice(-tail);
  const cancelled = cancelLine(lines);
  return [
    ...(cancelled && !last.some((l) => l.includes(cancelled)) ? [`    ${forTerminal(cancelled)}`] : []),
    `    log: ${forTerminal(log)} (last ${last.length === 1 ? "line" : `${last.length} lines`})`,
    ...last.map((line) => `      ${forTerminal(line)}`),
  ];
}

async function render(plan: AblationPlan, configFile: string, views: readonly CellView[], tail: number, io: Io): Promise<void> {
  const width = Math.max(...views.map((v) => v.id.length));
  const out = [`ablation cells (${forTerminal(configFile)}), work dir ${forTerminal(plan.workDir)}:`];
  for (const view of views) {
    const log = view.log && (view.phase === "running" || view.phase === "queued") ? `  log ${view.log}` : "";
    out.push(`  ${view.id.padEnd(width)}  ${view.phase.padEnd(13)}  ${forTerminal(view.detail + log)}`);
    if ((view.phase === "failed" || view.phase === "cancelled") && view.log) out.push(...(await tailOf(view.log, tail)));
  }
  out.push(summaryLine(views));
  io.stdout.write(`${out.join("\n")}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The whole `ablate --status`, with the exit codes of `harness status`: 0 while cells are queued or
 * running and once all are done; 1 when a cell failed, was cancelled, is unknown to the scheduler or
 * was never submitted (it will not finish without a resubmission). --wait polls until none is queued or running.
 */
export async function runAblateStatus(options: AblateOptions, io: Io = processIo()): Promise<CellView[]> {
  const plan = await planAblation({ ...options, status: true });
  const submissions = await readSubmissions(join(plan.workDir, SLURM_DIR));
  let views = await observe(plan, submissions);
  let shown = "";
  const moving = () => views.some((v) => v.phase === "queued" || v.phase === "running");
  while (options.wait && moving()) {
    const line = summaryLine(views);
    if (line !== shown) io.stderr.write(`${line}\n`);
    shown = line;
    await sleep(options.pollMs ?? ABLATE_DEFAULTS.pollMs);
    views = await observe(plan, submissions);
  }
  await render(plan, options.config, views, options.tail ?? ABLATE_DEFAULTS.tail, io);
  const stuck = views.filter((v) => STUCK.includes(v.phase));
  if (stuck.length > 0)
    throw new HarnessError(
      `${stuck.length} cell(s) will not finish without a resubmission: ${stuck.map((v) => v.id).join(", ")}; \`harness ablate --config ${options.config} --slurm\` submits them again`,
      { exitCode: EXIT.failed },
    );
  return views;
}
