/** What a build's settings resolve to before the KB is read: every usage error and a broken registry are raised here. */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { assertKbReadable, detectKbFormat } from "../kb/read.ts";
import type { KbFormat } from "../kb/schema.ts";
import { usageError } from "../util/errors.ts";
import { refuseOutputOverInput } from "../util/paths.ts";
import { DATASET_INFO_FILE, readDatasetInfo, validateDatasetKey } from "./dataset-info.ts";
import type { BuildSftConfig } from "./defaults.ts";
import { parseRecipes, type Recipe } from "./recipes.ts";

export interface BuildPlan {
  recipes: Recipe[];
  keys: string[];
  format: KbFormat;
  outDir: string;
  kbBytes: number;
  usesCritic: boolean;
}

export function datasetKeys(recipes: readonly Recipe[], name: string | undefined): string[] {
  const keys = recipes.map((recipe) =>
    name === undefined ? `intentionqa_${recipe.name}` : recipes.length === 1 ? name : `${name}_${recipe.name}`,
  );
  for (const key of keys) validateDatasetKey(key);
  return keys;
}

/** Every build setting the recipes and keys do not cover, checked before any data is read; errors name the flag. */
export function validateBuildSftConfig(config: BuildSftConfig): void {
  const threshold = config.criticThreshold;
  if (!(threshold >= 0 && threshold <= 1)) throw usageError(`--critic-threshold must be in 0..1, got ${threshold}`);
}

export async function planBuild(config: BuildSftConfig): Promise<BuildPlan> {
  const recipes = parseRecipes(config.recipes.join(","));
  const format = detectKbFormat(config.kb, config.format);
  const outDir = resolve(config.out);
  const keys = datasetKeys(recipes, config.name);
  validateBuildSftConfig(config);
  await assertKbReadable(config.kb);
  await refuseOutputOverInput(
    { label: "--out", path: config.out, writes: [...keys.flatMap((key) => [`${key}.jsonl`, `${key}.stats.json`]), DATASET_INFO_FILE] },
    [{ label: "--kb", path: config.kb }, config.criticFile ? { label: "--critic-file", path: config.criticFile } : undefined],
  );
  const kbBytes = (await stat(config.kb)).size;
  // Fail on a broken registry before the long pass, not after it.
  await readDatasetInfo(outDir);
  return { recipes, keys, format, outDir, kbBytes, usesCritic: recipes.some((recipe) => recipe.needs.criticScores) };
}
