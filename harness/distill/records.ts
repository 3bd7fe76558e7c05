import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { sha256 } from "../util/fs.ts";

/** One side of a co-buy pair. */
export interface Product {
  id: string;
  name: string;
  /** The catalogue description; read and kept for provenance, not sent (the MIND prompts take the name only). */
  description: string;
  /** Path relative to --images, absolute path, or http(s) URL; "" when the record has none. */
  image: string;
}

/** One co-buy record: two products bought together. */
export interface CoBuyRecord {
  /** The record's own pair_id, or "<id_a>|<id_b>"; decides the shard (repeats of a pair share one). */
  pairId: string;
  /** 1-based line of the record in its file (the header is line 1 of a CSV). */
  line: number;
  a: Product;
  b: Product;
  /** The source FolkScope assertion, copied to the KB's tail column ("" when absent). */
  tail: string;
}

/** Field names, as in the JSONL keys and the CSV header. */
export const RECORD_FIELDS = {
  required: ["id_a", "name_a", "id_b", "name_b"],
  optional: ["pair_id", "desc_a", "desc_b", "image_a", "image_b", "tail"],
} as const;

const ALL_FIELDS: readonly string[] = [...RECORD_FIELDS.required, ...RECORD_FIELDS.optional];

/** Validates one parsed row (JSON object or CSV row) into a record; errors name file:line and field. */
export function recordFromFields(fields: Record<string, unknown>, where: { file: string; line: number }): CoBuyRecord {
  const at = `${where.file}:${where.line}`;
  const text = (key: string, required: boolean): string => {
    const value = fields[key];
    if (value === undefined || value === null || value === "") {
      if (required) throw new HarnessError(`${at}: field "${key}" is missing or empty; every record needs ${RECORD_FIELDS.required.join(", ")}`);
      return "";
    }
    if (typeof value === "number" && (key === "id_a" || key === "id_b" || key === "pair_id")) return String(value);
    if (typeof value !== "string") throw new HarnessError(`${at}: field "${key}" must be a string, got ${Array.isArray(value) ? "an array" : typeof value}`);
    if (required && value.trim() === "") throw new HarnessError(`${at}: field "${key}" is blank`);
    return value;
  };
  const unknown = Object.keys(fields).filter((k) => !ALL_FIELDS.includes(k));
  if (unknown.length > 0) {
    throw new HarnessError(`${at}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}; expected ${ALL_FIELDS.join(", ")}`);
  }
  const a: Product = { id: text("id_a", true), name: text("name_a", true), description: text("desc_a", false), image: text("image_a", false) };
  const b: Product = { id: text("id_b", true), name: text("name_b", true), description: text("desc_b", false), image: text("image_b", false) };
  const pairId = text("pair_id", false) || `${a.id}|${b.id}`;
  return { pairId, line: where.line, a, b, tail: text("tail", false) };
}

/** Parses JSONL text (one object per line; blank lines skipped). */
export function parseJsonlRecords(content: string, file: string): CoBuyRecord[] {
  const records: CoBuyRecord[] = [];
  const lines = content.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (error) {
      throw new HarnessError(`${file}:${i + 1}: not valid JSON (${errorMessage(error)}); expected one JSON object per line`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new HarnessError(`${file}:${i + 1}: expected a JSON object, got ${Array.isArray(parsed) ? "an array" : typeof parsed}`);
    records.push(recordFromFields(parsed as Record<string, unknown>, { file, line: i + 1 }));
  }
  return records;
}

/** Parses CSV text with a header row naming the fields (any order, RFC 4180 quoting). */
export function parseCsvRecords(content: string, file: string): CoBuyRecord[] {
  let rows: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    rows = parseCsv(content, { columns: true, info: true, skip_empty_lines: true, bom: true, relax_column_count: false }) as typeof rows;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new HarnessError(`${file}${line ? `:${line}` : ""}: not valid CSV (${errorMessage(error)})`);
  }
  // info.lines is the line the record ends on; a record spans lines when a field holds newlines.
  return rows.map(({ record, info }) => recordFromFields(record, { file, line: info.lines }));
}

/**
 * Reads co-buy records from .jsonl/.json (JSON Lines) or .csv. A pair may repeat (e.g. with another
 * tail): its rows repeat too, and its requests are asked once.
 */
export async function readRecords(file: string): Promise<CoBuyRecord[]> {
  let content: string;
  try {
    content = await readFile(file, "utf8");
  } catch (error) {
    throw new HarnessError(`--records ${file}: cannot read (${errorMessage(error)})`);
  }
  const ext = extname(file).toLowerCase();
  let records: CoBuyRecord[];
  if (ext === ".jsonl" || ext === ".json" || ext === ".ndjson") records = parseJsonlRecords(content, file);
  else if (ext === ".csv") records = parseCsvRecords(content, file);
  else throw new HarnessError(`--records ${file}: unknown format "${ext}"; expected a .jsonl or .csv file`);
  if (records.length === 0) throw new HarnessError(`--records ${file}: no records`);
  return records;
}

/** `--shard i/n` -> {index: i-1, count: n}. */
export function parseShard(spec: string | undefined): { index: number; count: number } | null {
  if (spec === undefined) return null;
  const match = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const i = match ? Number(match[1]) : NaN;
  const n = match ? Number(match[2]) : NaN;
  if (!match || n < 1 || i < 1 || i > n) throw new HarnessError(`--shard "${spec}": expected i/n with 1 <= i <= n, e.g. 1/4`, { exitCode: 2 });
  return { index: i - 1, count: n };
}

/** The shard a pair belongs to: a hash of its pair id, so every record lands in exactly one shard whatever the file order. */
export function shardOf(pairId: string, count: number): number {
  return parseInt(sha256(pairId).slice(0, 8), 16) % count;
}

export function selectShard(records: readonly CoBuyRecord[], shard: { index: number; count: number } | null): CoBuyRecord[] {
  return shard === null ? [...records] : records.filter((r) => shardOf(r.pairId, shard.count) === shard.index);
}
