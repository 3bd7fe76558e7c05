import { stringify } from "csv-stringify/sync";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { StagedFileSet } from "../util/staged-output.ts";
import { KB_COLUMNS, type KbExtras, type KbRow } from "./schema.ts";

export const KB_CSV = "mind_kb.csv";
export const KB_JSONL = "mind_kb.jsonl";
/** Beside the CSV (whose columns stay the released ten): how the KB was made (prompt set, unit, images). */
export const KB_META = "mind_kb.meta.json";

/** What csv-stringify quotes with kbCsv's options: a quote, a comma, a line break, or (quoted_match) a space at either end. */
const NEEDS_QUOTES = /[",\n\r]|^\s|\s$/;

/** One cell as csv-stringify writes a string with kbCsv's options. */
function csvCell(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * The released MIND CSV: the KB_COLUMNS header, RFC 4180 quoting for commas, quotes and newlines
 * (and for leading or trailing spaces, which trimming readers would lose). Rows of strings (every
 * row distill writes) are joined here, byte for byte what csv-stringify writes (a property test
 * holds them equal): its per-cell work was a tenth of a zero-latency distill run's CPU. Anything
 * else goes through csv-stringify.
 */
export function kbCsv(rows: readonly KbRow[], header = true): string {
  if (!rows.every((row) => KB_COLUMNS.every((column) => typeof row[column] === "string"))) return kbCsvStringify(rows, header);
  let text = header ? `${KB_COLUMNS.map(csvCell).join(",")}\n` : "";
  for (const row of rows) text += `${KB_COLUMNS.map((column) => csvCell(row[column])).join(",")}\n`;
  return text;
}

/** csv-stringify with the KB's options: the reference kbCsv matches, and the path for cells that are not strings. */
export function kbCsvStringify(rows: readonly KbRow[], header = true): string {
  return stringify(
    rows.map((row) => KB_COLUMNS.map((column) => row[column])),
    { header, columns: [...KB_COLUMNS], quoted_match: /^\s|\s$/ },
  );
}

/** JSON Lines with the released columns first, then the extras (verdict, text_only, prompt_set, unit, critic_score). */
export function kbJsonl(rows: ReadonlyArray<KbRow & KbExtras>): string {
  return rows
    .map((row) => {
      const ordered: Record<string, unknown> = {};
      for (const column of KB_COLUMNS) ordered[column] = row[column];
      if (row.verdict !== undefined) ordered["verdict"] = row.verdict;
      if (row.text_only !== undefined) ordered["text_only"] = row.text_only;
      if (row.prompt_set !== undefined) ordered["prompt_set"] = row.prompt_set;
      if (row.unit !== undefined) ordered["unit"] = row.unit;
      if (row.critic_score !== undefined) ordered["critic_score"] = row.critic_score;
      return `${JSON.stringify(ordered)}\n`;
    })
    .join("");
}

/**
 * Rows held before a write: two writes per dozen rows instead of per record, and each batch's text
 * (a row is 2-3 KB with its two descriptions) stays under V8's large-object size (128 KiB), so it
 * dies young: with 256 rows a batch, distill's peak RSS at 30,000 rows rose by a fifth.
 */
const ROWS_PER_WRITE = 12;

/**
 * Streams a KB to mind_kb.csv and mind_kb.jsonl in `dir`: rows go to temp files in batches as they
 * come, and the final names appear only on commit(), so a failed or killed run never leaves a KB
 * that looks finished (nothing is lost by batching: the temp files of a run that did not finish
 * are never read, and a rerun rebuilds the KB from the request cache). abandon() removes them.
 */
export class KbWriter {
  private readonly files: StagedFileSet;
  private pending: Array<KbRow & KbExtras> = [];
  rows = 0;

  private constructor(dir: string) {
    this.files = new StagedFileSet([join(dir, KB_CSV), join(dir, KB_JSONL)]);
    try {
      this.files.file(0).write(kbCsv([], true));
    } catch (error) {
      // A full disk already at the header: the caller has no writer to abandon.
      this.files.abandon();
      throw error;
    }
  }

  static async open(dir: string): Promise<KbWriter> {
    await mkdir(dir, { recursive: true });
    return new KbWriter(dir);
  }

  get csvPath(): string {
    return this.files.file(0).target;
  }

  append(rows: ReadonlyArray<KbRow & KbExtras>): void {
    for (const row of rows) this.pending.push(row);
    this.rows += rows.length;
    // One csv-stringify call and one write per file for many records: per record, both showed in
    // distill's profile at thousands of requests a second.
    if (this.pending.length >= ROWS_PER_WRITE) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    this.files.file(0).write(kbCsv(rows, false));
    this.files.file(1).write(kbJsonl(rows));
  }

  commit(): { csv: string; jsonl: string } {
    this.flush();
    this.files.commit();
    return { csv: this.files.file(0).target, jsonl: this.files.file(1).target };
  }

  abandon(): void {
    this.pending = [];
    this.files.abandon();
  }
}
