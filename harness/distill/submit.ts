/**
 * `harness distill --slurm N`: writes the array folder (script, manifest, logs/, shards/) and
 * submits the array with sbatch. The tasks distill elsewhere; `harness status <folder>` follows
 * them and `harness distill merge <folder>` combines their shards.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { queryArrayTasks } from "../slurm/jobs.ts";
import { harnessArgv, submitSbatch } from "../slurm/sbatch.ts";
import { cacheRoot } from "../util/cache-root.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { processIo, type Io } from "../util/io.ts";
import { checkWritableDir } from "../util/paths.ts";
import { checkUsage } from "../util/validate.ts";
import { MAX_SHARDS } from "../util/validate.ts";
import {
  ARRAY_FILES,
  buildArrayScript,
  readArrayManifest,
  shardFlags,
  shardLog,
  writeArrayManifest,
  type DistillArrayManifest,
} from "./array.ts";
import type { DistillArrayConfig } from "./defaults.ts";
import { validateDistillConfig } from "./run.ts";

/** Every array setting checked before anything is written; errors name the flag. */
function validateArrayConfig(config: DistillArrayConfig): void {
  const { distill } = config;
  validateDistillConfig(distill);
  checkUsage(
    Number.isSafeInteger(config.shards) && config.shards >= 1 && config.shards <= MAX_SHARDS,
    `--slurm ${config.shards}: expected the number of shards, a whole number from 1 to ${MAX_SHARDS}`,
  );
  checkUsage(distill.shard === undefined, "--slurm N gives every task its own --shard i/N: leave out --shard");
  checkUsage(distill.emitBatch === undefined, "--emit-batch writes one batch file on this machine: leave out --slurm");
  const urls = distill.baseUrl ?? [];
  checkUsage(
    !(config.serverCommand !== undefined && urls.length > 0),
    "--server-command starts each task's own server and asks it: leave out --base-url (or drop --server-command to ask --base-url)",
  );
  checkUsage(config.serverCommand === undefined || config.serverCommand.trim() !== "", "--server-command is empty");
  const lastPort = config.serverPort + config.shards - 1;
  checkUsage(
    Number.isSafeInteger(config.serverPort) && config.serverPort >= 1 && lastPort <= 65_535,
    `--server-port ${config.serverPort}: task i listens on --server-port + i - 1, so it must be from 1 to ${65_536 - config.shards} with ${config.shards} shards`,
  );
  checkUsage(config.serverTimeoutMs > 0, `--server-timeout must be > 0 seconds, got ${config.serverTimeoutMs / 1000}`);
  for (const url of urls) {
    const parsed = new URL(url);
    // The script is a file others may read: a key goes in --api-key-env's variable, never in it.
    checkUsage(
      parsed.username === "" && parsed.password === "",
      `--base-url ${parsed.host}: credentials in a URL would be written into the batch script; put the key in the variable --api-key-env names`,
    );
  }
  checkUsage(existsSync(distill.records), `--records ${distill.records}: no such file (the tasks read it from this folder)`);
}

/** A second array into a folder whose array is still queued or running would write the same shards twice. */
async function refuseRunningArray(dir: string): Promise<void> {
  const previous = await readArrayManifest(dir);
  if (!previous?.jobId) return;
  const tasks = await queryArrayTasks(previous.jobId, previous.script).catch(() => new Map());
  const live = [...tasks.values()].some((t) => t.phase === "pending" || t.phase === "running");
  checkUsage(
    !live,
    `--out ${dir}: its SLURM array job ${previous.jobId} is still queued or running; follow it with \`harness status ${dir}\``,
  );
}

/** The whole `harness distill --slurm N`: returns the manifest, with the job id once sbatch answered. */
export async function submitDistillArray(config: DistillArrayConfig, io: Io = processIo()): Promise<DistillArrayManifest> {
  validateArrayConfig(config);
  const dir = resolve(config.distill.out);
  await checkWritableDir("--out", dir);
  await refuseRunningArray(dir);
  await mkdir(join(dir, ARRAY_FILES.logs), { recursive: true });
  await mkdir(join(dir, ARRAY_FILES.shards), { recursive: true });
  const flags = shardFlags(config.distill, cacheRoot(config.distill.cacheDir));
  const harness = harnessArgv("distill");
  const script = join(dir, ARRAY_FILES.script);
  const text = buildArrayScript({
    // sbatch splits a directive at blanks: the name keeps the folder's plain characters only.
    jobName: `harness-distill-${basename(dir).replace(/[^A-Za-z0-9._-]+/g, "-")}`.slice(0, 64),
    shards: config.shards,
    arrayDir: dir,
    cwd: process.cwd(),
    harness,
    flags,
    baseUrls: config.distill.baseUrl ?? [],
    ...(config.serverCommand !== undefined ? { serverCommand: config.serverCommand } : {}),
    serverPort: config.serverPort,
    serverTimeoutS: Math.ceil(config.serverTimeoutMs / 1000),
    ...(config.slurmDirectives ? { extraDirectives: config.slurmDirectives } : {}),
  });
  await writeFileAtomic(script, text);
  const commandLine = text.trimEnd().split("\n").pop()!;
  const manifest: DistillArrayManifest = {
    schema: "intentionqa-harness/distill-array@1",
    createdAt: new Date().toISOString(),
    shards: config.shards,
    jobId: null,
    script,
    cwd: process.cwd(),
    command: commandLine,
    serverCommand: config.serverCommand ?? null,
  };
  await writeArrayManifest(dir, manifest);
  const jobId = await submitSbatch(script);
  const submitted = { ...manifest, jobId };
  await writeArrayManifest(dir, submitted);
  io.stdout.write(
    [
      `submitted SLURM array job ${jobId} (${config.shards} shard(s)): ${script}`,
      `logs: ${shardLog(dir, "%a", config.shards).replace("%a", "<i>")}`,
      `follow: harness status ${dir}`,
      `then: harness distill merge ${dir} --out ${join(dir, "kb")}`,
      "",
    ].join("\n"),
  );
  return submitted;
}
