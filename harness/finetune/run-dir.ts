import { existsSync } from "node:fs";
import { readdir, readFile, rename } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { usageError } from "../util/errors.ts";
import { sha256 } from "../util/fs.ts";
import { readManifest, type RunManifest } from "./manifest.ts";
import { checkpointIsComplete } from "./plan.ts";
import { processAlive } from "../util/run-lock.ts";
import { findTool } from "../llamafactory/tool.ts";
import { querySlurmJob } from "../slurm/jobs.ts";

/** A run directory before a launch: who else uses it, what an earlier run left in it. */

export async function listDir(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

export async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Refuses a run directory another live harness on this host is training in. */
export async function assertNotInUse(runDir: string): Promise<void> {
  let previous: RunManifest | null = null;
  try {
    previous = await readManifest(runDir);
  } catch {
    return; // an unreadable old manifest is replaced
  }
  if (
    previous?.status === "running" &&
    previous.owner.host === hostname() &&
    previous.owner.pid !== process.pid &&
    processAlive(previous.owner.pid)
  ) {
    throw usageError(
      `${runDir} is in use by another harness finetune (pid ${previous.owner.pid}); wait for it, stop it, or use another --run-dir`,
    );
  }
}

/**
 * Refuses a run directory whose earlier SLURM job is still queued or running: a second job would
 * train into the same output folder. Where SLURM's commands are not installed there is nothing to ask.
 */
export async function assertNoLiveJob(runDir: string): Promise<void> {
  const previous = await readManifest(runDir).catch(() => null);
  const jobId = previous?.status === "submitted" ? previous.launch.slurm?.jobId : null;
  if (!jobId || !findTool("squeue", "HARNESS_SQUEUE").path) return;
  const job = await querySlurmJob(jobId, previous?.launch.slurm?.script);
  if (job && (job.phase === "pending" || job.phase === "running"))
    throw usageError(
      `${runDir}: its SLURM job ${jobId} is still ${job.state.toLowerCase()}; follow it with \`harness status ${runDir}\`, or cancel it (scancel ${jobId}) before submitting again`,
    );
}

/**
 * The earlier run's manifest when it finished with the same train YAML and data, and its adapter is
 * still there: relaunching would load the model, "resume" at the last step and rewrite the adapter.
 */
export async function finishedRun(runDir: string, trainYaml: string, datasetSha256: string): Promise<RunManifest | null> {
  const previous = await readManifest(runDir).catch(() => null);
  const finished =
    previous?.status === "succeeded" &&
    previous.trainYaml.sha256 === sha256(trainYaml) &&
    previous.dataset.fileSha256 === datasetSha256 &&
    previous.outputs.adapter !== null &&
    existsSync(join(previous.outputs.adapter, "adapter_config.json"));
  return finished ? previous : null;
}

/**
 * Moves half-saved checkpoint-N directories (a stop or crash during a save) out of LLaMA-Factory's
 * way, to incomplete-checkpoint-N, so a rerun resumes from the last whole checkpoint. Nothing is deleted.
 */
export async function setAsideIncompleteCheckpoints(outputDir: string): Promise<string[]> {
  const moved: string[] = [];
  for (const name of await listDir(outputDir)) {
    if (!/^checkpoint-\d+$/.test(name)) continue;
    const dir = join(outputDir, name);
    const files = await listDir(dir);
    const stateReadable = files.includes("trainer_state.json") && (await readJson(join(dir, "trainer_state.json"))) !== null;
    if (checkpointIsComplete(files) && stateReadable) continue;
    let target = join(outputDir, `incomplete-${name}`);
    if (existsSync(target)) target = `${target}-${Date.now()}`;
    await rename(dir, target);
    moved.push(name);
  }
  return moved;
}
