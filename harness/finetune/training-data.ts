import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { usageError } from "../util/errors.ts";
import { sha256, sha256File } from "../util/fs.ts";
import type { BenchmarkOverlap } from "../sft/decontaminate.ts";
import type { SftStats } from "../sft/stats.ts";
import { datasetKeyFor } from "./plan.ts";

export interface ResolvedDataset {
  key: string;
  /** Absolute, so LLaMA-Factory finds it whatever its working directory. */
  dir: string;
  infoFile: string;
  infoSha256: string;
  file: string;
  fileSha256: string;
  records: number;
  /** What build-sft's stats (<key>.stats.json beside the data) say about the benchmark; null when there are none for this file. */
  buildStats: { decontaminated: boolean; benchmarkOverlap: BenchmarkOverlap | null } | null;
}

/**
 * build-sft's stats for a dataset, when they describe this very file (same path and record
 * count); anything else (no stats, a file made by hand, stats of an older build) is null.
 */
async function readBuildStats(dir: string, key: string, file: string, records: number): Promise<ResolvedDataset["buildStats"]> {
  let stats: Partial<SftStats>;
  try {
    stats = JSON.parse(await readFile(join(dir, `${key}.stats.json`), "utf8")) as Partial<SftStats>;
  } catch {
    return null;
  }
  if (stats.file !== file || stats.rows?.kept !== records || typeof stats.decontamination?.enabled !== "boolean") return null;
  return { decontaminated: stats.decontamination.enabled, benchmarkOverlap: stats.benchmarkOverlap ?? null };
}

export function validateRecipeName(recipe: string): void {
  if (!/^[A-Za-z0-9_-]+$/.test(recipe)) {
    throw usageError(`--recipe "${recipe}": expected a recipe name such as mind, unimodal, critic, unfiltered (letters, digits, _ -)`);
  }
}

/**
 * Finds the recipe's dataset (intentionqa_<recipe>) in <dir>/dataset_info.json, the file
 * `harness build-sft` writes, and hashes it and its data file for the manifest.
 */
export async function resolveDataset(datasetDir: string, recipe: string): Promise<ResolvedDataset> {
  validateRecipeName(recipe);
  const dir = resolve(datasetDir);
  const infoFile = join(dir, "dataset_info.json");
  const key = datasetKeyFor(recipe);
  const build = `build it with \`harness build-sft --recipe ${recipe} --out ${datasetDir}\``;
  let text: string;
  try {
    text = await readFile(infoFile, "utf8");
  } catch {
    throw usageError(`${infoFile} not found: no SFT datasets in --dataset-dir ${datasetDir}; ${build}`);
  }
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch (error) {
    throw usageError(`${infoFile}: not valid JSON (${(error as Error).message})`);
  }
  if (info === null || typeof info !== "object" || Array.isArray(info))
    throw usageError(`${infoFile}: expected a JSON object of dataset entries`);
  const entries = info as Record<string, unknown>;
  const entry = entries[key];
  if (entry === undefined) {
    const known = Object.keys(entries);
    throw usageError(
      `${infoFile} has no dataset "${key}" (recipe ${recipe}); it has: ${known.length ? known.join(", ") : "none"}. ${build[0]!.toUpperCase()}${build.slice(1)}`,
    );
  }
  const fileName = (entry as { file_name?: unknown }).file_name;
  if (typeof fileName !== "string" || fileName === "") throw usageError(`${infoFile}: ${key}.file_name: expected the data file's name`);
  const file = isAbsolute(fileName) ? fileName : join(dir, fileName);
  let data: string;
  try {
    data = await readFile(file, "utf8");
  } catch {
    throw usageError(`${infoFile}: ${key}.file_name names ${file}, which does not exist; ${build}`);
  }
  const records = data.split("\n").filter((line) => line.trim() !== "").length;
  if (records === 0) throw usageError(`${file}: no training records; ${build}`);
  return {
    key,
    dir,
    infoFile,
    infoSha256: sha256(text),
    file,
    fileSha256: await sha256File(file),
    records,
    buildStats: await readBuildStats(dir, key, file, records),
  };
}
