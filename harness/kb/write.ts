import { stringify } from "csv-stringify/sync";
import { join } from "node:path";
import { writeFileAtomic } from "../util/fs.ts";
import { KB_COLUMNS, type KbExtras, type KbRow } from "./schema.ts";

export const KB_CSV = "mind_kb.csv";
export const KB_JSONL = "mind_kb.jsonl";

/** The released MIND CSV: the KB_COLUMNS header, RFC 4180 quoting for commas, quotes and newlines. */
export function kbCsv(rows: readonly KbRow[]): string {
  return stringify(
    rows.map((row) => KB_COLUMNS.map((column) => row[column])),
    { header: true, columns: [...KB_COLUMNS], quoted_match: /^\s|\s$/ },
  );
}

/** JSON Lines with the released columns first, then the extras (verdict, text_only, critic_score). */
export function kbJsonl(rows: ReadonlyArray<KbRow & KbExtras>): string {
  return rows
    .map((row) => {
      const ordered: Record<string, unknown> = {};
      for (const column of KB_COLUMNS) ordered[column] = row[column];
      if (row.verdict !== undefined) ordered["verdict"] = row.verdict;
      if (row.text_only !== undefined) ordered["text_only"] = row.text_only;
      if (row.critic_score !== undefined) ordered["critic_score"] = row.critic_score;
      return `${JSON.stringify(ordered)}\n`;
    })
    .join("");
}

/** Writes mind_kb.csv and mind_kb.jsonl into `dir`, each atomically (temp file + rename). */
export async function writeKb(dir: string, rows: ReadonlyArray<KbRow & KbExtras>): Promise<{ csv: string; jsonl: string }> {
  const csv = join(dir, KB_CSV);
  const jsonl = join(dir, KB_JSONL);
  await writeFileAtomic(jsonl, kbJsonl(rows));
  await writeFileAtomic(csv, kbCsv(rows));
  return { csv, jsonl };
}
