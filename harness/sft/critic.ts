import { createInterface } from "node:readline";
import { CsvError, parse } from "csv-parse";
import type { KbRecord } from "../kb/read.ts";
import { detectKbFormat, parseCriticScore } from "../kb/read.ts";
import { HarnessError } from "../util/errors.ts";
import { FingerprintTable, fingerprint } from "./fingerprint.ts";
import { createUtf8ReadStream } from "../util/text.ts";
import { restoreSheetCell } from "../util/escape.ts";

/**
 * Critic scores from a side file (CSV or JSONL), for KBs that do not carry them. Two keyings:
 * - by content: columns id_a, id_b, Relation, Intention and the score column: matched exactly
 *   (the key is fingerprinted, so a 1.26M-row side file stays small in memory);
 * - by position: columns row and the score column, where row is the 0-based index of the data
 *   record in the KB (header and blank lines not counted, bad rows counted).
 * A file with id_a, id_b, Relation and Intention is keyed by content even if it also has row.
 */

export type CriticLookup = (record: KbRecord, rowIndex: number) => number | undefined;

export interface CriticSideFile {
  keyedBy: "content" | "row";
  entries: number;
  lookup: CriticLookup;
}

const CONTENT_KEYS = ["id_a", "id_b", "Relation", "Intention"] as const;

export function criticContentKey(idA: string, idB: string, relation: string, intention: string): string {
  return `${idA}\u0000${idB}\u0000${relation}\u0000${intention}`;
}

export async function loadCriticSideFile(file: string, scoreColumn: string, formatOverride?: string): Promise<CriticSideFile> {
  const format = detectKbFormat(file, formatOverride);
  const byContent = new FingerprintTable({ withValues: true });
  let byRow = new Float64Array(1024).fill(Number.NaN);
  let keyedBy: "content" | "row" | null = null;
  let entries = 0;

  const take = (fields: Record<string, unknown>, line: number): void => {
    if (keyedBy === null) {
      if (CONTENT_KEYS.every((key) => key in fields)) keyedBy = "content";
      else if ("row" in fields) keyedBy = "row";
      else
        throw new HarnessError(
          `${file}:${line}: a critic side file needs the columns ${CONTENT_KEYS.join(", ")} (keyed by content) or row (0-based KB row index), plus ${scoreColumn}`,
        );
      if (!(scoreColumn in fields))
        throw new HarnessError(`${file}:${line}: no column "${scoreColumn}" with the critic score (set it with --critic-column)`);
    }
    const score = parseCriticScore(fields[scoreColumn]);
    if (score === undefined) return;
    if (typeof score === "object") throw new HarnessError(`${file}:${line}: ${scoreColumn}: ${score.invalid}`);
    if (keyedBy === "content") {
      const parts = CONTENT_KEYS.map((key) => fields[key]);
      if (!parts.every((part) => typeof part === "string"))
        throw new HarnessError(`${file}:${line}: ${CONTENT_KEYS.join(", ")} must all be strings`);
      byContent.set(fingerprint(criticContentKey(...(parts as [string, string, string, string]))), score);
    } else {
      const row = Number(fields["row"]);
      if (!Number.isInteger(row) || row < 0)
        throw new HarnessError(`${file}:${line}: row ${JSON.stringify(fields["row"])} is not a 0-based row index`);
      if (row >= byRow.length) {
        const grown = new Float64Array(Math.max(row + 1, byRow.length * 2)).fill(Number.NaN);
        grown.set(byRow);
        byRow = grown;
      }
      byRow[row] = score;
    }
    entries += 1;
  };

  try {
    if (format === "csv") {
      let previousEnd = 0;
      const source = createUtf8ReadStream(file);
      const parser = source.pipe(
        parse({ bom: true, columns: (header: string[]) => header.map((h) => h.trim()), skip_empty_lines: true, info: true }),
      );
      // pipe() does not pass errors on: a missing file or a bad byte must end the loop below.
      source.on("error", (error) => parser.destroy(error));
      for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
        // critic writes formula-like cells quoted ('=...) for spreadsheets: undone exactly.
        take(Object.fromEntries(Object.entries(record).map(([key, value]) => [key, restoreSheetCell(value)])), previousEnd + 1);
        previousEnd = info.lines;
      }
    } else {
      let line = 0;
      for await (const text of createInterface({ input: createUtf8ReadStream(file), crlfDelay: Infinity })) {
        line += 1;
        if (text.trim() === "") continue;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw new HarnessError(`${file}:${line}: not valid JSON`);
        }
        if (value === null || typeof value !== "object" || Array.isArray(value))
          throw new HarnessError(`${file}:${line}: expected a JSON object`);
        take(value as Record<string, unknown>, line);
      }
    }
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    if (error instanceof CsvError)
      throw new HarnessError(`${file}:${(error as CsvError & { lines?: number }).lines ?? "?"}: malformed CSV: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    throw new HarnessError(`cannot read critic file ${file}: ${code === "ENOENT" ? "no such file" : (code ?? String(error))}`, {
      exitCode: code === "ENOENT" ? 2 : 1,
    });
  }
  if (keyedBy === null) throw new HarnessError(`${file}: no critic scores in the file`);
  const scores = byRow;
  const lookup: CriticLookup =
    keyedBy === "content"
      ? (record) =>
          byContent.get(fingerprint(criticContentKey(record.row.id_a, record.row.id_b, record.row.Relation, record.row.Intention)))
      : (_record, rowIndex) => {
          const score = rowIndex < scores.length ? scores[rowIndex]! : Number.NaN;
          return Number.isNaN(score) ? undefined : score;
        };
  return { keyedBy, entries, lookup };
}
