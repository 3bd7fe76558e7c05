import { extname } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import type { Question } from "../benchmark/intentionqa.ts";
import type { DifficultySource } from "../reports/schema.ts";
import type { OpenedEmbedder } from "../requests/open-model.ts";
import { assertUniqueColumns, csvRecordStartLine } from "../util/csv-header.ts";
import { briefMessage, errorMessage, HarnessError } from "../util/errors.ts";
import { topLevelEntries } from "../util/json-positions.ts";
import { cosine } from "../stats/cosine.ts";
import { readTextFile } from "../util/text.ts";
import { decimalNumber } from "../util/validate.ts";

export type Level = "easy" | "medium" | "hard";
export const LEVELS: readonly Level[] = ["easy", "medium", "hard"];

/** The benchmark's cut-offs on the cosine similarity of the two co-bought products. */
export function levelFromSimilarity(similarity: number): Level {
  if (similarity < 0.6) return "hard";
  if (similarity < 0.85) return "medium";
  return "easy";
}

export interface Difficulty {
  source: DifficultySource;
  /** Level per question id; empty for source "none". One id has one level in every task. */
  levels: ReadonlyMap<string, Level>;
}

export const NO_DIFFICULTY: Difficulty = {
  source: { kind: "none", approximate: false, description: "none: the official similarities were not released; Avg only" },
  levels: new Map(),
};

function levelOrSimilarity(value: unknown, where: string): Level {
  if (typeof value === "number" && Number.isFinite(value)) return levelFromSimilarity(value);
  if (typeof value === "string") {
    const lower = value.trim().toLowerCase();
    if (lower === "easy" || lower === "medium" || lower === "hard") return lower;
    const asNumber = decimalNumber(lower);
    if (Number.isFinite(asNumber)) return levelFromSimilarity(asNumber);
  }
  throw new HarnessError(
    `${where}: expected a similarity (a number) or a level (easy, medium, hard), got ${JSON.stringify(value)?.slice(0, 80)}`,
  );
}

/**
 * A per-id file the user has: CSV with a header naming `id` and `similarity` or `level`, or JSON
 * as {id: similarity|level} or [{id, similarity|level}]. An id given twice is refused with the
 * line of each (it was last-wins: a pasted-twice block silently moved questions between levels).
 */
export async function loadDifficultyFile(path: string): Promise<Difficulty> {
  const text = await readTextFile(path, `--difficulty-file ${path}`);
  const levels = new Map<string, Level>();
  const lines = new Map<string, number>();
  const add = (id: unknown, value: unknown, line: number, where: string) => {
    if (typeof id !== "string" || id.trim() === "")
      throw new HarnessError(`${path}:${line}: ${where} has no id (expected a non-empty string)`);
    const first = lines.get(id);
    if (first !== undefined)
      throw new HarnessError(`${path}:${line}: duplicate id "${id.slice(0, 80)}" (first at line ${first}); give each id one level`);
    levels.set(id, levelOrSimilarity(value, `${path}:${line}: ${where} (id ${id.slice(0, 80)})`));
    lines.set(id, line);
  };
  if (extname(path).toLowerCase() === ".json") {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new HarnessError(`${path}: not valid JSON (${briefMessage(error)})`);
    }
    const entries = topLevelEntries(text);
    if (Array.isArray(data)) {
      data.forEach((entry, i) => {
        const line = entries[i]?.line ?? 1;
        if (entry === null || typeof entry !== "object" || Array.isArray(entry))
          throw new HarnessError(`${path}:${line}: entry ${i} must be an object {id, similarity|level}`);
        const record = entry as Record<string, unknown>;
        add(record["id"], record["similarity"] ?? record["level"], line, `entry ${i}`);
      });
    } else if (data !== null && typeof data === "object") {
      // JSON.parse kept only the last of equal keys: the positions still hold each occurrence.
      const values = data as Record<string, unknown>;
      for (const { key, line } of entries) if (key !== null) add(key, values[key], line, `key "${key.slice(0, 80)}"`);
      // Every key is taken even if the positions missed one (they cannot for text JSON.parse accepted).
      for (const key of Object.keys(values)) if (!lines.has(key)) add(key, values[key], 1, `key "${key.slice(0, 80)}"`);
    } else {
      throw new HarnessError(`${path}: expected an object of id -> similarity|level or an array of {id, similarity|level}`);
    }
  } else {
    let header: string[] = [];
    let rows: Array<{ record: Record<string, string>; info: { lines: number } }>;
    try {
      rows = parseCsv(text, {
        columns: (names: string[]) => {
          header = names.map((name) => name.trim());
          assertUniqueColumns(header, `${path}:1`);
          return header;
        },
        skip_empty_lines: true,
        trim: true,
        info: true,
      }) as typeof rows;
    } catch (error) {
      if (error instanceof HarnessError) throw error;
      const line = (error as { lines?: number }).lines;
      throw new HarnessError(`${path}${line ? `:${line}` : ""}: not valid CSV (${briefMessage(error)})`);
    }
    const column = header.includes("similarity") ? "similarity" : header.includes("level") ? "level" : null;
    if (!header.includes("id") || column === null) {
      throw new HarnessError(
        `${path}:1: the header must name an "id" column and a "similarity" or "level" column (found: ${header.join(", ").slice(0, 200) || "nothing"})`,
      );
    }
    for (const { record, info } of rows) {
      const line = csvRecordStartLine(info.lines, Object.values(record));
      add(record["id"], record[column], line, `column ${column}`);
    }
  }
  if (levels.size === 0) throw new HarnessError(`${path}: no entries`);
  return { source: { kind: "file", approximate: false, description: `per-id file ${path}` }, levels };
}

/**
 * Approximate levels from the cosine similarity of the two product names' embeddings. The
 * benchmark used ASER-based product embeddings that were never released, so these levels
 * are labelled approximate wherever they appear. The embedder (openEmbedder) retries, times out
 * and caches per name, under the run's signal.
 */
export async function approximateDifficulty(
  questions: readonly Question[],
  embedder: Pick<OpenedEmbedder, "id" | "embed">,
  options: { batchSize?: number } = {},
): Promise<Difficulty> {
  const names = [...new Set(questions.flatMap((q) => [q.itemAName, q.itemBName]))];
  const vectors = new Map<string, number[]>();
  const batchSize = options.batchSize ?? 64;
  for (let i = 0; i < names.length; i += batchSize) {
    const batch = names.slice(i, i + batchSize);
    let embedded: number[][];
    try {
      embedded = await embedder.embed(batch);
    } catch (error) {
      throw new HarnessError(`difficulty embeddings from ${embedder.id()} failed: ${errorMessage(error)}`, { cause: error });
    }
    for (const [j, name] of batch.entries()) vectors.set(name, embedded[j]!);
  }
  const levels = new Map<string, Level>();
  for (const q of questions) {
    if (levels.has(q.id)) continue;
    levels.set(q.id, levelFromSimilarity(cosine(vectors.get(q.itemAName)!, vectors.get(q.itemBName)!)));
  }
  return {
    source: {
      kind: "embeddings",
      approximate: true,
      description: `APPROXIMATE: cosine similarity of product-name embeddings from ${embedder.id()} (not the benchmark's unreleased ASER similarities)`,
    },
    levels,
  };
}
