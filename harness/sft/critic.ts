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
  const index = new SideFileIndex(file, scoreColumn);
  try {
    if (format === "csv") await readCsvEntries(file, index.take);
    else await readJsonlEntries(file, index.take);
  } catch (error) {
    throw readError(file, error);
  }
  return index.result();
}

type TakeEntry = (fields: Record<string, unknown>, line: number) => void;

/**
 * The side file's scores as they are read. Keyed by content: fingerprint -> entry number; keyed by
 * row: row index -> entry number. Scores and lines by entry number, so memory grows with the file,
 * never with a row index it names.
 */
class SideFileIndex {
  private readonly byContent = new FingerprintTable({ withValues: true });
  private readonly byRow = new Map<number, number>();
  private scores = new Float64Array(1024);
  private lines = new Float64Array(1024);
  private keyedBy: "content" | "row" | null = null;
  private entries = 0;

  constructor(
    private readonly file: string,
    private readonly scoreColumn: string,
  ) {}

  readonly take: TakeEntry = (fields, line) => {
    const { file, scoreColumn } = this;
    const keyedBy = (this.keyedBy ??= this.keying(fields, line));
    const score = parseCriticScore(fields[scoreColumn]);
    if (typeof score === "object") throw new HarnessError(`${file}:${line}: ${scoreColumn}: ${score.invalid}`);
    // The key is checked on every row, scored or not: a key given twice is refused, not last-wins.
    const earlier = keyedBy === "content" ? this.claimContent(fields, line) : this.claimRow(fields, line);
    if (earlier !== undefined)
      throw new HarnessError(
        `${file}:${line}: the same ${keyedBy === "content" ? `${CONTENT_KEYS.join(", ")}` : "row"} as line ${this.lines[earlier]}; give each ${keyedBy === "content" ? "intention" : "row"} one score`,
      );
    if (this.entries === this.scores.length) {
      this.scores = grow(this.scores);
      this.lines = grow(this.lines);
    }
    this.scores[this.entries] = score ?? Number.NaN;
    this.lines[this.entries] = line;
    this.entries += 1;
  };

  /** The first entry's columns say how the file is keyed; the score column must be there too. */
  private keying(fields: Record<string, unknown>, line: number): "content" | "row" {
    const { file, scoreColumn } = this;
    let keyedBy: "content" | "row";
    if (CONTENT_KEYS.every((key) => Object.hasOwn(fields, key))) keyedBy = "content";
    else if (Object.hasOwn(fields, "row")) keyedBy = "row";
    else
      throw new HarnessError(
        `${file}:${line}: a critic side file needs the columns ${CONTENT_KEYS.join(", ")} (keyed by content) or row (0-based KB row index), plus ${scoreColumn}`,
      );
    if (!Object.hasOwn(fields, scoreColumn))
      throw new HarnessError(`${file}:${line}: no column "${scoreColumn}" with the critic score (set it with --critic-column)`);
    return keyedBy;
  }

  /** Files the entry under its content key; the earlier entry with that key, if any. */
  private claimContent(fields: Record<string, unknown>, line: number): number | undefined {
    const parts = CONTENT_KEYS.map((key) => fields[key]);
    if (!parts.every((part) => typeof part === "string"))
      throw new HarnessError(`${this.file}:${line}: ${CONTENT_KEYS.join(", ")} must all be strings`);
    const key = fingerprint(criticContentKey(...(parts as [string, string, string, string])));
    const earlier = this.byContent.get(key);
    if (earlier === undefined) this.byContent.set(key, this.entries);
    return earlier;
  }

  /** Files the entry under its row index; the earlier entry for that row, if any. */
  private claimRow(fields: Record<string, unknown>, line: number): number | undefined {
    const row = rowIndex(fields["row"]);
    if (row === null)
      throw new HarnessError(`${this.file}:${line}: row ${JSON.stringify(fields["row"])?.slice(0, 40)} is not a 0-based row index`);
    const earlier = this.byRow.get(row);
    if (earlier === undefined) this.byRow.set(row, this.entries);
    return earlier;
  }

  result(): CriticSideFile {
    const { keyedBy, byContent, byRow, scores, entries } = this;
    if (keyedBy === null) throw new HarnessError(`${this.file}: no critic scores in the file`);
    const scoreOf = (entry: number | undefined) => (entry === undefined || Number.isNaN(scores[entry]!) ? undefined : scores[entry]);
    const lookup: CriticLookup =
      keyedBy === "content"
        ? (record) =>
            scoreOf(
              byContent.get(fingerprint(criticContentKey(record.row.id_a, record.row.id_b, record.row.Relation, record.row.Intention))),
            )
        : (_record, rowIndex) => scoreOf(byRow.get(rowIndex));
    const scored = scores.subarray(0, entries).filter((score) => !Number.isNaN(score)).length;
    return { keyedBy, entries: scored, lookup };
  }
}

async function readCsvEntries(file: string, take: TakeEntry): Promise<void> {
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
}

async function readJsonlEntries(file: string, take: TakeEntry): Promise<void> {
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

/** A read failure as the user's error: the file's own messages pass, a CSV or I/O error is named. */
function readError(file: string, error: unknown): unknown {
  if (error instanceof HarnessError) return error;
  if (error instanceof CsvError)
    return new HarnessError(`${file}:${(error as CsvError & { lines?: number }).lines ?? "?"}: malformed CSV: ${briefMessage(error)}`);
  const code = (error as NodeJS.ErrnoException).code;
  return new HarnessError(`cannot read critic file ${file}: ${code === "ENOENT" ? "no such file" : (code ?? String(error))}`, {
    exitCode: code === "ENOENT" ? EXIT.usage : EXIT.failed,
  });
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
