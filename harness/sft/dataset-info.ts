import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { HarnessError, usageError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";

/**
 * LLaMA-Factory's dataset registry (data/README.md): dataset_info.json maps a dataset key to its
 * file (joined to dataset_dir) and the alpaca column mapping. Other keys in the file are kept.
 */

export const DATASET_INFO_FILE = "dataset_info.json";

export interface AlpacaDatasetEntry {
  file_name: string;
  formatting: "alpaca";
  columns: { prompt: "instruction"; query: "input"; response: "output" };
}

export type DatasetInfo = Record<string, unknown>;

export function alpacaEntry(fileName: string): AlpacaDatasetEntry {
  return { file_name: fileName, formatting: "alpaca", columns: { prompt: "instruction", query: "input", response: "output" } };
}

/** A copy of `existing` with the entries added or replaced, other keys untouched and in place. */
export function mergeDatasetInfo(existing: DatasetInfo, entries: Record<string, AlpacaDatasetEntry>): DatasetInfo {
  return { ...existing, ...entries };
}

/** The registry in `dir`, or {} when there is none. Invalid JSON is an error, never overwritten. */
export async function readDatasetInfo(dir: string): Promise<DatasetInfo> {
  const file = join(dir, DATASET_INFO_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new HarnessError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HarnessError(`${file} is not valid JSON (${(error as Error).message}); fix or remove it, it was left unchanged`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HarnessError(`${file} must hold a JSON object of dataset key -> entry; it was left unchanged`);
  }
  return value as DatasetInfo;
}

export async function writeDatasetInfo(dir: string, info: DatasetInfo): Promise<void> {
  await writeFileAtomic(join(dir, DATASET_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
}

/** LLaMA-Factory dataset keys end up in YAML and on command lines: keep them plain. */
export function validateDatasetKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(key)) {
    throw usageError(`dataset name "${key}" must start with a letter or digit and use only letters, digits, ".", "_" and "-"`);
  }
}
