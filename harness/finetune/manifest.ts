import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../util/fs.ts";
import { RUN_FILES } from "./plan.ts";

export const MANIFEST_SCHEMA_ID = "intentionqa-harness/finetune-run@1";
/** "cancelled": a SLURM job stopped by scancel (a job past its time limit is "failed"); `harness status` records both. */
export const RUN_STATUSES = ["running", "succeeded", "failed", "interrupted", "submitted", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** manifest.json in a run directory: what ran, on what, and what came out. No secrets. */
export const runManifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA_ID),
  status: z.enum(RUN_STATUSES),
  runDir: z.string(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  recipe: z.string(),
  config: z.object({ file: z.string(), sha256: z.string(), name: z.string() }),
  model: z.object({ baseModel: z.string(), template: z.string(), loraRank: z.number() }),
  /** How `harness serve` / `eval --run` serve the adapter by default (the config's serve section). */
  serve: z.object({ engine: z.enum(["huggingface", "vllm"]), inferDtype: z.string() }),
  dataset: z.object({
    key: z.string(),
    dir: z.string(),
    infoSha256: z.string(),
    file: z.string(),
    fileSha256: z.string(),
    records: z.number(),
    /** From build-sft's stats beside the data (null: no matching stats file). Absent in older manifests. */
    decontaminated: z.boolean().nullable().optional(),
    /** Scored IntentionQA questions whose product pair is in the data ("n of 2245" / "n of 2143"). */
    benchmarkOverlap: z
      .object({
        understanding: z.object({ questions: z.number(), scored: z.number() }),
        utilization: z.object({ questions: z.number(), scored: z.number() }),
      })
      .nullable()
      .optional(),
  }),
  /**
   * LLaMA-Factory's version and the values its version-dependent defaults had in this run (the
   * paper used "default hyperparameters" without naming a version). Absent in older manifests.
   */
  llamafactory: z
    .object({
      version: z.string().nullable(),
      /** The value used, where it came from, and the installed version's default. */
      cutoffLen: z.object({ value: z.number().nullable(), from: z.string(), default: z.number().nullable() }),
      template: z.object({ name: z.string(), defaultSystem: z.string().nullable(), from: z.string() }),
      error: z.string().optional(),
    })
    .optional(),
  trainYaml: z.object({ file: z.string(), sha256: z.string() }),
  launch: z.object({
    command: z.array(z.string()),
    env: z.record(z.string(), z.string()),
    nnodes: z.number(),
    nodeRank: z.number(),
    slurm: z
      .object({
        script: z.string(),
        jobId: z.string().nullable(),
        /** The scheduler's last word on the job and its reason, as `harness status` last read them. Absent in older manifests. */
        state: z.string().optional(),
        reason: z.string().nullable().optional(),
      })
      .nullable(),
  }),
  resumedFrom: z.string().nullable(),
  /** Half-saved checkpoints moved aside (output/incomplete-checkpoint-N) so the run resumes from a whole one. */
  incompleteCheckpoints: z.array(z.string()).default([]),
  /** The harness process driving the run, so a second one on the same directory is refused. */
  owner: z.object({ host: z.string(), pid: z.number() }),
  tools: z.object({ harness: z.string(), node: z.string(), packages: z.record(z.string(), z.string()) }),
  gitCommit: z.string().nullable(),
  exitCode: z.number().nullable(),
  failures: z.array(z.object({ id: z.string(), explanation: z.string() })),
  outputs: z.object({
    dir: z.string(),
    adapter: z.string().nullable(),
    files: z.array(z.string()),
    lastLog: z.record(z.string(), z.unknown()).nullable(),
    trainResults: z.record(z.string(), z.unknown()).nullable(),
  }),
});

export type RunManifest = z.infer<typeof runManifestSchema>;

export async function writeManifest(runDir: string, manifest: RunManifest): Promise<void> {
  await writeFileAtomic(join(runDir, RUN_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** The manifest of a run directory, or null when there is none. Throws on a broken one. */
export async function readManifest(runDir: string): Promise<RunManifest | null> {
  let text: string;
  try {
    text = await readFile(join(runDir, RUN_FILES.manifest), "utf8");
  } catch {
    return null;
  }
  return runManifestSchema.parse(JSON.parse(text));
}
