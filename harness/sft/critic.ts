import { createInterface } from "node:readline";
import { CsvError, parse } from "csv-parse";
import type { KbRecord } from "../kb/read.ts";
import { detectKbFormat, parseCriticScore } from "../kb/read.ts";
import { briefMessage, EXIT, HarnessError } from "../util/errors.ts";
import { assertUniqueColumns, csvRecordStartLine } from "../util/csv-header.ts";
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
  // Keyed by content: fingerprint -> entry number; keyed by row: row index -> entry number. Scores
  // and lines by entry number, so memory grows with the file, never with a row index it names.
  const byContent = new FingerprintTable({ withValues: true });
  const byRow = new Map<number, number>();
  let scores = new Float64Array(1024);
  let lines = new Float64Array(1024);
  let keyedBy: "content" | "row" | null = null;
  let entries = 0;

  const take = (fields: Record<string, unknown>, line: number): void => {
    if (keyedBy === null) {
      if (CONTENT_KEYS.every((key) => Object.hasOwn(fields, key))) keyedBy = "content";
      else if (Object.hasOwn(fields, "row")) keyedBy = "row";
      else
        throw new HarnessError(
          `${file}:${line}: a critic side file needs the columns ${CONTENT_KEYS.join(", ")} (keyed by content) or row (0-based KB row index), plus ${scoreColumn}`,
        );
      if (!Object.hasOwn(fields, scoreColumn))
        throw new HarnessError(`${file}:${line}: no column "${scoreColumn}" with the critic score (set it with --critic-column)`);
    }
    const score = parseCriticScore(fields[scoreColumn]);
    if (typeof score === "object") throw new HarnessError(`${file}:${line}: ${scoreColumn}: ${score.invalid}`);
    // The key is checked on every row, scored or not: a key given twice is refused, not last-wins.
    let earlier: number | undefined;
    if (keyedBy === "content") {
      const parts = CONTENT_KEYS.map((key) => fields[key]);
      if (!parts.every((part) => typeof part === "string"))
        throw new HarnessError(`${file}:${line}: ${CONTENT_KEYS.join(", ")} must all be strings`);
      const key = fingerprint(criticContentKey(...(parts as [string, string, string, string])));
      earlier = byContent.get(key);
      if (earlier === undefined) byContent.set(key, entries);
    } else {
      const row = rowIndex(fields["row"]);
      if (row === null)
        throw new HarnessError(`${file}:${line}: row ${JSON.stringify(fields["row"])?.slice(0, 40)} is not a 0-based row index`);
      earlier = byRow.get(row);
      if (earlier === undefined) byRow.set(row, entries);
    }
    if (earlier !== undefined)
      throw new HarnessError(
        `${file}:${line}: the same ${keyedBy === "content" ? `${CONTENT_KEYS.join(", ")}` : "row"} as line ${lines[earlier]}; give each ${keyedBy === "content" ? "intention" : "row"} one score`,
      );
    if (entries === scores.length) {
      scores = grow(scores);
      lines = grow(lines);
    }
    scores[entries] = score ?? Number.NaN;
    lines[entries] = line;
    entries += 1;
  };

  try {
    if (format === "csv") {
      const source = createUtf8ReadStream(file);
      const parser = source.pipe(
        parse({
          bom: true,
          columns: (header: string[]) => {
            const names = header.map((h) => h.trim());
            assertUniqueColumns(names, `${file}:1`);
            return names;
          },
          skip_empty_lines: true,
          info: true,
        }),
      );
      // pipe() does not pass errors on: a missing file or a bad byte must end the loop below.
      source.on("error", (error) => parser.destroy(error));
      for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
        // critic writes formula-like cells quoted ('=...) for spreadsheets: undone exactly.
        const restored = Object.fromEntries(Object.entries(record).map(([key, value]) => [key, restoreSheetCell(value)]));
        take(restored, csvRecordStartLine(info.lines, Object.values(record)));
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
      throw new HarnessError(`${file}:${(error as CsvError & { lines?: number }).lines ?? "?"}: malformed CSV: ${briefMessage(error)}`);
    const code = (error as NodeJS.ErrnoException).code;
    throw new HarnessError(`cannot read critic file ${file}: ${code === "ENOENT" ? "no such file" : (code ?? String(error))}`, {
      exitCode: code === "ENOENT" ? EXIT.usage : EXIT.failed,
    });
  }
  if (keyedBy === null) throw new HarnessError(`${file}: no critic scores in the file`);
  const scoreOf = (entry: number | undefined) => (entry === undefined || Number.isNaN(scores[entry]!) ? undefined : scores[entry]);
  const lookup: CriticLookup =
    keyedBy === "content"
      ? (record) =>
          scoreOf(byContent.get(fingerprint(criticContentKey(record.row.id_a, record.row.id_b, record.row.Relation, record.row.Intention))))
      : (_record, rowIndex) => scoreOf(byRow.get(rowIndex));
  const scored = scores.subarray(0, entries).filter((score) => !Number.isNaN(score)).length;
  return { keyedBy, entries: scored, lookup };
}

/** A 0-based row index: a non-negative safe integer, as a number or its decimal digits. */
function rowIndex(value: unknown): number | null {
  const row = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  return Number.isSafeInteger(row) && row >= 0 ? row : null;
}

function grow(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(array.length * 2);
  grown.set(array);
  return grown;
}
