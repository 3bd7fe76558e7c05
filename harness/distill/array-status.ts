/**
 * `harness status <array-folder>`: every shard of a `distill --slurm` array, from the scheduler's
 * word on its task (squeue -r, scontrol, sacct) and its folder: queued, running, done, or failed
 * with the reason and its log's tail.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { FinetuneStatusConfig } from "../finetune/defaults.ts";
import { cancelLine, logLinesOf } from "../slurm/logs.ts";
import { KB_CSV, KB_JSONL, KB_META } from "../kb/write.ts";
import { queryArrayTasks, type JobState } from "../slurm/jobs.ts";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { forTerminal } from "../util/escape.ts";
import { processIo, type Io } from "../util/io.ts";
import { RUN_LOCK_FILE } from "../util/run-lock.ts";
import { ARRAY_FILES, readArrayManifest, shardDir, shardLog, type DistillArrayManifest } from "./array.ts";

export type ShardPhase = "queued" | "running" | "done" | "failed" | "cancelled" | "unknown";

export interface ShardStatus {
  index: number;
  phase: ShardPhase;
  /** Why it failed or waits, in one line (from the scheduler and the log); null when done or running. */
  reason: string | null;
  task: JobState | null;
  /** Rows of its KB, once done. */
  rows: number | null;
  log: string;
  logLines: string[];
}

async function finishedRows(dir: string): Promise<number | null> {
  if (existsSync(join(dir, RUN_LOCK_FILE)) || !existsSync(join(dir, KB_CSV)) || !existsSync(join(dir, KB_JSONL))) return null;
  const meta = await readFile(join(dir, KB_META), "utf8")
    .then((text) => JSON.parse(text) as { rows?: unknown })
    .catch(() => ({}) as { rows?: unknown });
  return typeof meta.rows === "number" ? meta.rows : null;
}

/** A shard's phase: the scheduler's while its task is queued or running, then what its folder holds. */
export function shardPhase(task: JobState | null, rows: number | null): ShardPhase {
  if (task?.phase === "pending") return "queued";
  if (task?.phase === "running") return "running";
  if (rows !== null) return "done";
  if (task?.phase === "cancelled") return "cancelled";
  if (task?.phase === "failed" || task?.phase === "completed") return "failed";
  return "unknown";
}

function reasonOf(phase: ShardPhase, task: JobState | null, lines: readonly string[]): string | null {
  if (phase === "queued") return task?.reason ? `waiting: ${task.reason}` : null;
  if (phase === "cancelled") return cancelLine(lines) ?? `cancelled${task?.reason ? ` (${task.reason})` : ""}`;
  if (phase === "unknown") return "the scheduler does not know its task, and its folder holds no finished KB";
  if (phase !== "failed") return null;
  const parts = [task!.state];
  if (task!.reason) parts.push(`reason ${task!.reason}`);
  if (task!.exitCode) parts.push(`exit code ${task!.exitCode}`);
  if (task!.phase === "completed") parts.push("but it wrote no KB");
  const said = [...lines].reverse().find((line) => /^harness(?: distill)?: (?:error: )?/.test(line));
  if (said) parts.push(said);
  return parts.join(", ");
}

/** Every shard looked at once: one scheduler query for the whole array. */
export async function observeArray(dir: string, manifest: DistillArrayManifest): Promise<ShardStatus[]> {
  const tasks = manifest.jobId ? await queryArrayTasks(manifest.jobId, manifest.script) : new Map<number, JobState>();
  const shards: ShardStatus[] = [];
  for (let index = 1; index <= manifest.shards; index++) {
    const task = tasks.get(index) ?? null;
    const rows = await finishedRows(shardDir(dir, index, manifest.shards));
    const log = shardLog(dir, index, manifest.shards);
    const logLines = logLinesOf(await readFile(log, "utf8").catch(() => ""));
    const phase = shardPhase(task, rows);
    shards.push({ index, phase, reason: reasonOf(phase, task, logLines), task, rows, log, logLines });
  }
  return shards;
}

function shardLine(shard: ShardStatus, count: number): string {
  const task = shard.task ? ` (task ${shard.index}: ${forTerminal(shard.task.state)}, from ${shard.task.from})` : "";
  const what = shard.phase === "done" ? `done, ${shard.rows} row(s)` : shard.phase;
  return `shard ${shard.index}/${count}: ${what}${shard.reason ? `: ${forTerminal(shard.reason)}` : ""}${task}`;
}

function render(dir: string, manifest: DistillArrayManifest, shards: readonly ShardStatus[], tail: number, io: Io): void {
  const count = (phase: ShardPhase) => shards.filter((s) => s.phase === phase).length;
  const out = [
    manifest.jobId
      ? `array job ${manifest.jobId}: ${manifest.shards} shard(s): ${count("done")} done, ${count("running")} running, ${count("queued")} queued, ${count("failed") + count("cancelled") + count("unknown")} failed`
      : `not submitted: ${manifest.script} (sbatch it from a login node)`,
    ...shards.map((s) => shardLine(s, manifest.shards)),
  ];
  for (const shard of shards.filter((s) => ["failed", "cancelled", "unknown"].includes(s.phase))) {
    const lines = shard.logLines.slice(-tail);
    out.push(
      lines.length === 0
        ? `log of shard ${shard.index}: ${shard.log} (${existsSync(shard.log) ? "empty" : "not written"})`
        : `log of shard ${shard.index}: ${shard.log} (last ${lines.length === 1 ? "line" : `${lines.length} lines`})`,
      ...lines.map((line) => `  ${forTerminal(line)}`),
    );
  }
  if (count("done") === shards.length) out.push(`next: harness distill merge ${dir} --out ${join(dir, "kb")}`);
  else if (!shards.some((s) => s.phase === "queued" || s.phase === "running"))
    out.push("resubmit: the same `harness distill ... --slurm N` command; the shared cache answers what the shards already asked");
  io.stdout.write(`${out.join("\n")}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const live = (shards: readonly ShardStatus[]) => shards.some((s) => s.phase === "queued" || s.phase === "running");

/** Whether `dir` is the folder of a `distill --slurm` array (its manifest is there). */
export const isDistillArray = (dir: string): boolean => existsSync(join(dir, ARRAY_FILES.manifest));

/** Exit 0 while shards are queued or running and once all are done; 1 when one failed, was cancelled or is unknown. */
export async function runDistillArrayStatus(config: FinetuneStatusConfig, io: Io = processIo()): Promise<ShardStatus[]> {
  const dir = resolve(config.runDir);
  const manifest = await readArrayManifest(dir);
  if (!manifest) throw usageError(`${dir}: no ${ARRAY_FILES.manifest}; expected a folder written by \`harness distill --slurm\``);
  let shards = await observeArray(dir, manifest);
  let shown = "";
  while (config.wait && manifest.jobId && live(shards)) {
    const line = `array job ${manifest.jobId}: ${shards.map((s) => `${s.index}:${s.phase}`).join(" ")}`;
    if (line !== shown) io.stderr.write(`${line}\n`);
    shown = line;
    await sleep(config.pollMs);
    shards = await observeArray(dir, manifest);
  }
  render(dir, manifest, shards, config.tail, io);
  const bad = shards.filter((s) => ["failed", "cancelled", "unknown"].includes(s.phase));
  if (bad.length > 0 && !live(shards))
    throw new HarnessError(`distill array: ${bad.length} shard(s) did not finish: ${dir}`, { exitCode: EXIT.failed });
  return shards;
}
