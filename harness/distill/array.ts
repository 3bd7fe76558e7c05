/**
 * `harness distill --slurm N`: the pieces of a distill array job that submit, status and merge share:
 * the folder's layout, its manifest, the shard command and the sbatch script (pure).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { shellQuote } from "../llamafactory/process.ts";
import { sbatchDirectiveLines, sbatchFilePattern } from "../slurm/sbatch.ts";
import { usageError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { RUN_LOCK_FILE } from "../util/run-lock.ts";
import { formatConcurrency } from "../util/request-flags.ts";
import { DISTILL_DEFAULTS, type DistillConfig } from "./defaults.ts";

export const ARRAY_FILES = {
  manifest: "distill-array.json",
  script: "distill-array.sbatch",
  shards: "shards",
  logs: "logs",
} as const;

/** Shard i of n (1-based, as --shard writes it) runs in shards/<i>-of-<n>/. */
export const shardDir = (arrayDir: string, index: number, count: number): string =>
  join(arrayDir, ARRAY_FILES.shards, `${index}-of-${count}`);
/** The task's log: SLURM's %a is the array task id, which is the shard's index (the array is 1..n). */
export const shardLog = (arrayDir: string, index: number | "%a", count: number): string =>
  join(arrayDir, ARRAY_FILES.logs, `shard-${index}-of-${count}.log`);

export const distillArrayManifestSchema = z.object({
  schema: z.literal("intentionqa-harness/distill-array@1"),
  createdAt: z.string(),
  shards: z.number().int().positive(),
  /** Null until sbatch answered (a script written where sbatch is missing). */
  jobId: z.string().nullable(),
  script: z.string(),
  /** The folder the tasks run in: relative paths of the command are relative to it. */
  cwd: z.string(),
  /** One shard's command as the script runs it, $shard standing for the task's index. */
  command: z.string(),
  serverCommand: z.string().nullable(),
});
export type DistillArrayManifest = z.infer<typeof distillArrayManifestSchema>;

/** The manifest of an array folder, null when `dir` has none; a usage error naming the file when it is not one. */
export async function readArrayManifest(dir: string): Promise<DistillArrayManifest | null> {
  const file = join(dir, ARRAY_FILES.manifest);
  if (!existsSync(file)) return null;
  try {
    return distillArrayManifestSchema.parse(JSON.parse(await readFile(file, "utf8")));
  } catch (error) {
    throw usageError(
      `${file}: not a distill array manifest written by \`harness distill --slurm\` (${(error as Error).message.split("\n")[0]})`,
    );
  }
}

export async function writeArrayManifest(dir: string, manifest: DistillArrayManifest): Promise<void> {
  await writeFileAtomic(join(dir, ARRAY_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * The distill flags of one shard, in `--flag=value` form (a value that starts with "-" stays a
 * value). Every setting is written out, defaults included, so that every task and a later
 * unsharded run agree; --out, --shard and --base-url are the script's. No secret: --api-key-env
 * names a variable, whose value the job inherits from the submitting shell.
 */
export function shardFlags(config: DistillConfig, cacheDir: string): string[] {
  const flags: string[] = [`--records=${config.records}`];
  if (config.images !== undefined) flags.push(`--images=${config.images}`);
  flags.push(`--model=${config.model}`);
  if (config.apiKeyEnv !== undefined) flags.push(`--api-key-env=${config.apiKeyEnv}`);
  if (config.relations !== undefined) flags.push(`--relations=${config.relations}`);
  if (config.textOnly) flags.push("--text-only", `--text-prompts=${config.textPrompts}`);
  if (config.stage2Prompt !== undefined) flags.push(`--stage2-prompt=${config.stage2Prompt}`);
  flags.push(
    `--image-layout=${config.imageLayout}`,
    config.padImages ? "--pad-images" : "--no-pad-images",
    `--max-image-bytes=${config.maxImageBytes}`,
    `--temperature=${config.temperature}`,
    `--max-tokens=${config.maxTokens}`,
    `--concurrency=${formatConcurrency({ concurrency: config.concurrency, concurrencyMode: config.concurrencyMode ?? DISTILL_DEFAULTS.concurrencyMode })}`,
    `--timeout=${config.timeoutMs / 1000}`,
    `--retries=${config.retries}`,
  );
  if (config.ingestBatch !== undefined) flags.push(`--ingest-batch=${config.ingestBatch}`);
  flags.push(`--cache-dir=${cacheDir}`, "--no-progress");
  return flags;
}

export interface ArrayScriptOptions {
  jobName: string;
  shards: number;
  /** The array folder, absolute. */
  arrayDir: string;
  /** Where the tasks run (the submitting shell's folder), absolute. */
  cwd: string;
  /** How the harness is started on a node: node and the harness's entry script, absolute. */
  harness: readonly string[];
  flags: readonly string[];
  /** The servers every task asks (none with serverCommand). */
  baseUrls: readonly string[];
  /** Started on the task's node, listening on $PORT; the task asks it and stops it at the end. */
  serverCommand?: string;
  /** Task i's server listens on serverPort + i - 1 (tasks sharing a node do not collide). */
  serverPort: number;
  serverTimeoutS: number;
  extraDirectives?: readonly string[];
}

/** Answers 0 once GET <url> answers 2xx within 5 seconds (node is there: the harness runs on it). */
const PROBE = "fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";

/** Starts the server command in its own process group, stops the group on exit, waits for /models. */
function serverBlock(options: ArrayScriptOptions, node: string): string[] {
  return [
    `export PORT=$((${options.serverPort} + shard - 1))`,
    `server_log=${shellQuote(join(options.arrayDir, ARRAY_FILES.logs))}/server-"$shard"-of-${options.shards}.log`,
    'url="http://127.0.0.1:$PORT/v1"',
    `echo "harness distill: starting the server command (port $PORT, log $server_log)"`,
    `setsid bash -c ${shellQuote(options.serverCommand!)} >"$server_log" 2>&1 &`,
    "server_pid=$!",
    `trap 'kill -TERM -- "-$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT`,
    `deadline=$((SECONDS + ${options.serverTimeoutS}))`,
    `until ${shellQuote(node)} -e ${shellQuote(PROBE)} "$url/models"; do`,
    '  if ! kill -0 "$server_pid" 2>/dev/null; then',
    `    echo "harness distill: the server command exited before $url/models answered; the end of $server_log:" >&2`,
    '    tail -n 20 "$server_log" >&2 || true',
    "    exit 1",
    "  fi",
    '  if [ "$SECONDS" -ge "$deadline" ]; then',
    `    echo "harness distill: $url/models did not answer within ${options.serverTimeoutS}s of starting the server command (see $server_log)" >&2`,
    "    exit 1",
    "  fi",
    "  sleep 2",
    "done",
    'echo "harness distill: the server answers at $url"',
  ];
}

/**
 * The array job: task i (1..n) runs `harness distill ... --shard i/n --out <dir>/shards/i-of-n`,
 * through the shared request cache; with a server command, it first starts its own server and asks
 * only it. Everything from outside is shell-quoted; the script holds no secret.
 */
export function buildArrayScript(options: ArrayScriptOptions): string {
  const n = options.shards;
  const directives = [
    `--job-name=${options.jobName}`,
    `--array=1-${n}`,
    "--ntasks=1",
    `--output=${sbatchFilePattern(join(options.arrayDir, ARRAY_FILES.logs), `shard-%a-of-${n}.log`)}`,
    ...(options.extraDirectives ?? []),
  ];
  const [node, ...entry] = options.harness;
  const out = `${shellQuote(join(options.arrayDir, ARRAY_FILES.shards))}/"$shard"-of-${n}`;
  // A task of an earlier array of this folder killed with its node leaves its run lock, naming a
  // host this task may not be on; none of them runs now (submitting refuses a folder whose array does).
  const staleLock = [
    `lock=${out}/${RUN_LOCK_FILE}`,
    `if [ -e "$lock" ]; then echo "harness distill: removing $lock, left by an earlier task of this array folder: $(cat "$lock")"; rm -f -- "$lock"; fi`,
  ];
  const urls = options.serverCommand ? ['"--base-url=$url"'] : options.baseUrls.map((u) => shellQuote(`--base-url=${u}`));
  const command = [node!, ...entry, "distill", ...options.flags].map(shellQuote);
  return [
    "#!/bin/bash",
    ...sbatchDirectiveLines(directives),
    "# Written by `harness distill --slurm`; submit with: sbatch <this file>",
    "set -euo pipefail",
    `cd ${shellQuote(options.cwd)}`,
    'shard="$SLURM_ARRAY_TASK_ID"',
    `echo "harness distill: shard $shard/${n} of array job \${SLURM_ARRAY_JOB_ID:-?} on $(hostname)"`,
    ...staleLock,
    ...(options.serverCommand ? serverBlock(options, node!) : []),
    `${command.join(" ")} ${urls.join(" ")}${urls.length ? " " : ""}"--shard=$shard/${n}" --out=${out}`,
    "",
  ].join("\n");
}
