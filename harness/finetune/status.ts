import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { FailureCollector } from "../llamafactory/failures.ts";
import { formatTrainerProgress, parseTrainerLogLine, type TrainerLogEntry } from "../llamafactory/trainer-log.ts";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { forTerminal } from "../util/escape.ts";
import { processIo, type Io } from "../util/io.ts";
import type { FinetuneStatusConfig } from "./defaults.ts";
import { readManifest, writeManifest, type RunManifest, type RunStatus } from "./manifest.ts";
import { checkpointIsComplete, lastCheckpoint, parseResumeLine, RUN_FILES } from "./plan.ts";
import { listDir, readJson } from "./run-dir.ts";
import { cancelLine, logLinesOf } from "../slurm/logs.ts";
import { exitStatusOf, querySlurmJob, type JobPhase, type JobState } from "../slurm/jobs.ts";

/**
 * `harness status <run-dir>`: a run submitted with `harness finetune --slurm` followed through the
 * scheduler (squeue, scontrol, sacct) and its log; once the job has ended, the manifest moves from
 * "submitted" to succeeded, failed or cancelled, with the reason. A run trained here is only shown.
 */

export interface StatusResult {
  manifest: RunManifest;
  /** Null: not a SLURM run, or the scheduler no longer knows the job. */
  job: JobState | null;
  phase: JobPhase | "local";
}

/** What one look at a run finds: the scheduler's word, the log, the output folder. */
interface Observation {
  job: JobState | null;
  phase: JobPhase | "local";
  logPath: string;
  /** The log's lines (progress-bar redraws split apart), empty when there is no log yet. */
  logLines: string[];
  outputFiles: string[];
  adapterPresent: boolean;
  /** The checkpoint a resubmission resumes from (half-saved ones are set aside then). */
  resumePoint: string | null;
  lastEntry: TrainerLogEntry | null;
  lastLoss?: number;
}

/** Phase 1: the run's manifest, or a usage error naming the folder. */
async function loadRun(runDir: string): Promise<RunManifest> {
  let manifest: RunManifest | null;
  try {
    manifest = await readManifest(runDir);
  } catch (error) {
    throw usageError(`${join(runDir, RUN_FILES.manifest)}: not a readable run manifest (${(error as Error).message.split("\n")[0]})`);
  }
  if (!manifest) throw usageError(`${runDir}: no ${RUN_FILES.manifest}; expected a run directory written by \`harness finetune\``);
  return manifest;
}

/** The trainer log's last entry (the last learning rate carried, as a local run records it) and last loss. */
async function lastTrainerEntry(outputDir: string): Promise<{ entry: TrainerLogEntry | null; loss?: number }> {
  const text = await readFile(join(outputDir, "trainer_log.jsonl"), "utf8").catch(() => "");
  let entry: TrainerLogEntry | null = null;
  let loss: number | undefined;
  let lr: number | undefined;
  for (const line of text.split("\n")) {
    const next = parseTrainerLogLine(line);
    if (!next) continue;
    // The end-of-training line carries neither loss nor lr: keep the last ones.
    loss = next.loss ?? loss;
    lr = next.lr ?? lr;
    entry = { ...next, ...(lr !== undefined ? { lr } : {}) };
  }
  return { entry, ...(loss !== undefined ? { loss } : {}) };
}

async function lastWholeCheckpoint(outputDir: string, entries: readonly string[]): Promise<string | null> {
  const whole: string[] = [];
  for (const name of entries)
    if (/^checkpoint-\d+$/.test(name) && checkpointIsComplete(await listDir(join(outputDir, name)))) whole.push(name);
  return lastCheckpoint(whole)?.name ?? null;
}

/** Phase 2: the scheduler asked, the log and the output folder read. */
async function observe(runDir: string, manifest: RunManifest): Promise<Observation> {
  const jobId = manifest.launch.slurm?.jobId ?? null;
  const job = jobId ? await querySlurmJob(jobId, manifest.launch.slurm?.script) : null;
  const phase = jobId ? (job?.phase ?? "unknown") : "local";
  // scontrol's StdOut when it names a file (a --slurm-directive=--output moves it; a path with spaces is cut short there).
  const logPath = job?.stdout && existsSync(job.stdout) ? job.stdout : join(runDir, jobId ? `slurm-${jobId}.log` : RUN_FILES.log);
  const logLines = logLinesOf(await readFile(logPath, "utf8").catch(() => ""));
  const outputFiles = (await listDir(manifest.outputs.dir)).sort();
  const adapterPresent = outputFiles.includes("adapter_model.safetensors") && outputFiles.includes("adapter_config.json");
  const trainer = await lastTrainerEntry(manifest.outputs.dir);
  const resumePoint = await lastWholeCheckpoint(manifest.outputs.dir, outputFiles);
  const progress = { lastEntry: trainer.entry, ...(trainer.loss !== undefined ? { lastLoss: trainer.loss } : {}) };
  return { job, phase, logPath, logLines, outputFiles, adapterPresent, resumePoint, ...progress };
}

/** The run's final status from how the job ended and what it left; null while it is not over. */
export function finalStatus(phase: JobPhase | "local", adapterPresent: boolean): RunStatus | null {
  if (phase === "completed" || phase === "unknown") return adapterPresent ? "succeeded" : phase === "completed" ? "failed" : null;
  if (phase === "failed" || phase === "cancelled") return phase;
  return null;
}

/** Why a job ended without an adapter, in one line from the scheduler and the log. */
function reasonOf(seen: Observation, status: RunStatus): string | null {
  if (status === "succeeded") return null;
  const { job } = seen;
  if (status === "cancelled") return cancelLine(seen.logLines) ?? `cancelled${job?.reason ? ` (${job.reason})` : ""}`;
  const parts = [job ? `${job.state}` : "the scheduler no longer knows the job"];
  if (job?.reason) parts.push(`reason ${job.reason}`);
  if (job?.exitCode) parts.push(`exit code ${job.exitCode}`);
  if (job?.phase === "completed") parts.push("but LLaMA-Factory wrote no adapter");
  return parts.join(", ");
}

/** Phase 3: a submitted run whose job has ended gets its final manifest, written once. */
async function settle(runDir: string, manifest: RunManifest, seen: Observation): Promise<RunManifest> {
  const status = manifest.status === "submitted" && manifest.launch.slurm ? finalStatus(seen.phase, seen.adapterPresent) : null;
  if (!status || !manifest.launch.slurm) return manifest;
  const failures = new FailureCollector();
  let resumedFrom = manifest.resumedFrom;
  for (const line of seen.logLines) {
    failures.feed(line);
    resumedFrom = parseResumeLine(line) ?? resumedFrom;
  }
  const reason = reasonOf(seen, status);
  const { dir } = manifest.outputs;
  const settled: RunManifest = {
    ...manifest,
    status,
    endedAt: new Date().toISOString(),
    resumedFrom,
    exitCode: exitStatusOf(seen.job?.exitCode ?? null),
    launch: { ...manifest.launch, slurm: { ...manifest.launch.slurm, state: seen.job?.state ?? "unknown", reason } },
    failures: [...(reason ? [{ id: `slurm-${status}`, explanation: reason }] : []), ...failures.all()],
    outputs: {
      dir,
      adapter: status === "succeeded" ? dir : null,
      files: seen.outputFiles,
      lastLog: seen.lastEntry ? { ...seen.lastEntry } : null,
      trainResults: await readJson(join(dir, "train_results.json")),
    },
  };
  await writeManifest(runDir, settled);
  return settled;
}

/** The job line: "job 12 (name): RUNNING (from squeue)". Names and reasons come from outside: escaped. */
function jobLine(manifest: RunManifest, seen: Observation): string {
  const jobId = manifest.launch.slurm?.jobId;
  if (!jobId) return `not a SLURM job: trained by \`harness finetune\` on ${manifest.owner.host}`;
  if (!seen.job) return `job ${jobId}: the scheduler no longer knows it (not in squeue, scontrol or sacct)`;
  const { job } = seen;
  const name = job.name ? ` (${forTerminal(job.name)})` : "";
  const reason = job.reason && job.phase === "pending" ? `, waiting: ${forTerminal(job.reason)}` : "";
  return `job ${jobId}${name}: ${forTerminal(job.state)}${reason} (from ${job.from})`;
}

/** Phase 4: state, progress, the run's status and the log's tail on stdout. */
function render(manifest: RunManifest, seen: Observation, tail: number, io: Io): void {
  const out: string[] = [jobLine(manifest, seen)];
  if (seen.lastEntry) out.push(`progress: ${formatTrainerProgress(seen.lastEntry, false, seen.lastLoss)}`);
  const reason = manifest.launch.slurm?.reason;
  out.push(`run: ${manifest.status}${reason ? `: ${forTerminal(reason)}` : ""}`);
  for (const failure of manifest.failures.filter((f) => !f.id.startsWith("slurm-"))) out.push(`  - ${forTerminal(failure.explanation)}`);
  if (manifest.status === "succeeded" && manifest.outputs.adapter) out.push(`adapter: ${manifest.outputs.adapter}`);
  if (manifest.status === "cancelled" || manifest.status === "failed") {
    const resume = seen.resumePoint;
    out.push(
      `resubmit: the same \`harness finetune ... --slurm\` command ${resume ? `resumes from ${resume}` : "starts over (no whole checkpoint yet)"}`,
    );
  }
  if (seen.logLines.length === 0) out.push(`log: ${seen.logPath} (${existsSync(seen.logPath) ? "empty" : "not written yet"})`);
  else {
    const lines = seen.logLines.slice(-tail);
    out.push(
      `log: ${seen.logPath} (last ${lines.length === 1 ? "line" : `${lines.length} lines`})`,
      ...lines.map((line) => `  ${forTerminal(line)}`),
    );
  }
  io.stdout.write(`${out.join("\n")}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The whole `harness status`: exit 0 while the job is queued or running and once it succeeded, 1 when it did not. */
export async function runFinetuneStatus(config: FinetuneStatusConfig, io: Io = processIo()): Promise<StatusResult> {
  const runDir = resolve(config.runDir);
  let manifest = await loadRun(runDir);
  let seen = await observe(runDir, manifest);
  let shown = "";
  while (config.wait && (seen.phase === "pending" || seen.phase === "running")) {
    const line = jobLine(manifest, seen);
    if (line !== shown) io.stderr.write(`${line}\n`);
    shown = line;
    await sleep(config.pollMs);
    seen = await observe(runDir, manifest);
  }
  manifest = await settle(runDir, manifest, seen);
  render(manifest, seen, config.tail, io);
  const ended = ["failed", "cancelled"].includes(manifest.status) || (seen.phase === "unknown" && manifest.status === "submitted");
  if (ended)
    throw new HarnessError(`run ${manifest.status === "submitted" ? "state unknown" : manifest.status}: ${runDir}`, {
      exitCode: EXIT.failed,
    });
  return { manifest, job: seen.job, phase: seen.phase };
}
