import { stringify } from "csv-stringify/sync";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { StagedFileSet } from "../util/staged-output.ts";
import { KB_COLUMNS, type KbExtras, type KbRow } from "./schema.ts";

export const KB_CSV = "mind_kb.csv";
export const KB_JSONL = "mind_kb.jsonl";
/** Beside the CSV (whose columns stay the released ten): how the KB was made (prompt set, unit, images). */
export const KB_META = "mind_kb.meta.json";

/**
 * The released MIND CSV: the KB_COLUMNS header, RFC 4180 quoting for commas, quotes and newlines
 * (and for leading or trailing spaces, which trimming readers would lose).
 */
export function kbCsv(rows: readonly KbRow[], header = true): string {
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
 * Streams a KB to mind_kb.csv and mind_kb.jsonl in `dir`: rows go to temp files as they come, and
 * the final names appear only on commit(), so a failed or killed run never leaves a KB that looks
 * finished. abandon() removes the temp files.
 */
export class KbWriter {
  private readonly files: StagedFileSet;
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
    if (rows.length === 0) return;
    this.files.file(0).write(kbCsv(rows, false));
    this.files.file(1).write(kbJsonl(rows));
    this.rows += rows.length;
  }

  commit(): { csv: string; jsonl: string } {
    this.files.commit();
    return { csv: this.files.file(0).target, jsonl: this.files.file(1).target };
  }

  abandon(): void {
    this.files.abandon();
  }
}
