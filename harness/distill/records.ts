import { createReadStream } from "node:fs";
import { extname } from "node:path";
import { createInterface } from "node:readline";
import { parse as parseCsvStream } from "csv-parse";
import { parse as parseCsv } from "csv-parse/sync";
import { relationFromName, RELATION_NAMES, type RelationName } from "../prompts/mind.ts";
import { assertUniqueColumns } from "../util/csv-header.ts";
import { briefMessage, errorMessage, EXIT, HarnessError, usageError } from "../util/errors.ts";
import { sha256 } from "../util/fs.ts";
import { notRegularInput, utf8CheckStream } from "../util/text.ts";
import { specialPathKind } from "../util/paths.ts";
import { MAX_SHARDS } from "../util/validate.ts";
import type { Transform } from "node:stream";

/** One side of a co-buy pair. */
export interface Product {
  id: string;
  name: string;
  /** The catalogue description; read and kept for provenance, not sent (the MIND prompts take the name only). */
  description: string;
  /**
   * Path relative to --images, absolute path, or http(s) URL; a path ending in "/" is a folder whose
   * first image file is the product's image (FolkScope rows: "<id>/"); "" when the record has none.
   */
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
  /**
   * The row's own relation: the record gets one intention, under it (the original's unit). null for
   * a bare pair, which `--relations` fans out over relations.
   */
  relation: RelationName | null;
}

/** How the records file was read: the original's FolkScope CSV, or this harness's record fields. */
export const RECORD_LAYOUTS = ["folkscope-csv", "records-csv", "records-jsonl"] as const;
export type RecordLayout = (typeof RECORD_LAYOUTS)[number];

export interface RecordsFile {
  layout: RecordLayout;
  records: CoBuyRecord[];
}

/**
 * The FolkScope co-buy CSV as the original scripts read it (intention_generation.py): these
 * columns, other columns ignored; a product's image is the first image file in <--images>/<id>/.
 */
export const FOLKSCOPE_COLUMNS = ["item_a_id", "item_b_id", "item_a_name", "item_b_name", "relation", "assertion"] as const;

/** Field names, as in the JSONL keys and the CSV header. */
export const RECORD_FIELDS = {
  required: ["id_a", "name_a", "id_b", "name_b"],
  optional: ["pair_id", "desc_a", "desc_b", "image_a", "image_b", "tail", "relation"],
} as const;

const ALL_FIELDS: readonly string[] = [...RECORD_FIELDS.required, ...RECORD_FIELDS.optional];

/** Validates one parsed row (JSON object or CSV row) into a record; errors name file:line and field. */
export function recordFromFields(fields: Record<string, unknown>, where: { file: string; line: number }): CoBuyRecord {
  const at = `${where.file}:${where.line}`;
  const text = (key: string, required: boolean): string => {
    const value = fields[key];
    if (value === undefined || value === null || value === "") {
      if (required)
        throw new HarnessError(`${at}: field "${key}" is missing or empty; every record needs ${RECORD_FIELDS.required.join(", ")}`);
      return "";
    }
    if (typeof value === "number" && (key === "id_a" || key === "id_b" || key === "pair_id")) return String(value);
    if (typeof value !== "string")
      throw new HarnessError(`${at}: field "${key}" must be a string, got ${Array.isArray(value) ? "an array" : typeof value}`);
    if (required && value.trim() === "") throw new HarnessError(`${at}: field "${key}" is blank`);
    return value;
  };
  const unknown = Object.keys(fields).filter((k) => !ALL_FIELDS.includes(k));
  if (unknown.length > 0) {
    throw new HarnessError(
      `${at}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown
        .slice(0, 5)
        .map((k) => `"${k.slice(0, 40)}"`)
        .join(", ")}; expected ${ALL_FIELDS.join(", ")}`,
    );
  }
  const a: Product = {
    id: text("id_a", true),
    name: text("name_a", true),
    description: text("desc_a", false),
    image: text("image_a", false),
  };
  const b: Product = {
    id: text("id_b", true),
    name: text("name_b", true),
    description: text("desc_b", false),
    image: text("image_b", false),
  };
  const pairId = text("pair_id", false) || `${a.id}|${b.id}`;
  const relation = text("relation", false);
  return { pairId, line: where.line, a, b, tail: text("tail", false), relation: relation === "" ? null : knownRelation(relation, at) };
}

function knownRelation(raw: string, at: string): RelationName {
  const relation = relationFromName(raw);
  if (relation === null)
    throw new HarnessError(
      `${at}: relation "${raw.slice(0, 80)}" is not a MIND relation; expected one of: ${RELATION_NAMES.join(", ")} (or the original's propertOf, or the paper's Table 1 spelling)`,
    );
  return relation;
}

/** One FolkScope row -> a record with the row's relation and its assertion as tail; images from <id>/ folders. */
export function recordFromFolkScopeRow(row: Record<string, string>, where: { file: string; line: number }): CoBuyRecord {
  const at = `${where.file}:${where.line}`;
  const text = (column: string): string => {
    const value = row[column] ?? "";
    if (value.trim() === "")
      throw new HarnessError(
        `${at}: column "${column}" is empty; every FolkScope row needs ${FOLKSCOPE_COLUMNS.filter((c) => c !== "assertion").join(", ")}`,
      );
    return value;
  };
  const product = (id: string, name: string): Product => {
    if (id.includes("/") || id === "." || id === "..")
      throw new HarnessError(`${at}: product id "${id.slice(0, 80)}" cannot name an image folder under --images`);
    return { id, name, description: "", image: `${id}/` };
  };
  const a = product(text("item_a_id"), text("item_a_name"));
  const b = product(text("item_b_id"), text("item_b_name"));
  return { pairId: `${a.id}|${b.id}`, line: where.line, a, b, tail: row["assertion"] ?? "", relation: knownRelation(text("relation"), at) };
}

/** One JSONL line -> a record; errors name file:line. */
function jsonlRecord(raw: string, file: string, line: number): CoBuyRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new HarnessError(`${file}:${line}: not valid JSON (${briefMessage(error)}); expected one JSON object per line`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new HarnessError(`${file}:${line}: expected a JSON object, got ${Array.isArray(parsed) ? "an array" : typeof parsed}`);
  return recordFromFields(parsed as Record<string, unknown>, { file, line });
}

/** Parses JSONL text (one object per line; blank lines skipped). */
export function parseJsonlRecords(content: string, file: string): CoBuyRecord[] {
  const records: CoBuyRecord[] = [];
  const lines = content.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() !== "") records.push(jsonlRecord(raw, file, i + 1));
  }
  return records;
}

/**
 * Parses CSV text with a header row (RFC 4180 quoting). A header with item_a_id or item_b_id is the
 * FolkScope layout (FOLKSCOPE_COLUMNS, others ignored); any other header names record fields.
 */
export function parseCsvRecords(content: string, file: string): RecordsFile {
  let header: string[] = [];
  let rows: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    rows = parseCsv(content, {
      columns: (names: string[]) => (header = csvHeader(names, file)),
      ...CSV_OPTIONS,
    }) as typeof rows;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    if (error instanceof HarnessError) throw error;
    throw new HarnessError(`${file}${line ? `:${line}` : ""}: not valid CSV (${briefMessage(error)})`);
  }
  // info.lines is the line the record ends on; a record spans lines when a field holds newlines.
  const layout = csvLayout(header, file);
  const toRecord = csvRecordReader(layout);
  return { layout, records: rows.map(({ record, info }) => toRecord(record, { file, line: info.lines })) };
}

/** A header with item_a_id or item_b_id is the FolkScope layout (which must have FOLKSCOPE_COLUMNS); any other names record fields. */
function csvLayout(header: readonly string[], file: string): RecordLayout {
  if (!header.includes("item_a_id") && !header.includes("item_b_id")) return "records-csv";
  const missing = FOLKSCOPE_COLUMNS.filter((column) => !header.includes(column));
  if (missing.length > 0) {
    throw new HarnessError(
      `${file}:1: the FolkScope CSV lacks the column${missing.length > 1 ? "s" : ""} ${missing.map((c) => `"${c}"`).join(", ")}; expected ${FOLKSCOPE_COLUMNS.join(", ")} (other columns are ignored)`,
    );
  }
  return "folkscope-csv";
}

function csvRecordReader(layout: RecordLayout): (row: Record<string, string>, where: { file: string; line: number }) => CoBuyRecord {
  return layout === "folkscope-csv" ? recordFromFolkScopeRow : recordFromFields;
}

/** The header's names, trimmed; a name given twice is refused (rows are keyed by name: the last would win). */
function csvHeader(names: readonly string[], file: string): string[] {
  const header = names.map((name) => name.trim());
  assertUniqueColumns(header, `${file}:1`);
  return header;
}

const CSV_OPTIONS = { info: true, skip_empty_lines: true, bom: true, relax_column_count: false } as const;

/** The record layout a file's extension promises, before reading it. */
function fileKind(file: string): "jsonl" | "csv" {
  const ext = extname(file).toLowerCase();
  if (ext === ".jsonl" || ext === ".json" || ext === ".ndjson") return "jsonl";
  if (ext === ".csv") return "csv";
  throw new HarnessError(`--records ${file}: unknown format "${ext}"; expected a .jsonl or .csv file`);
}

/**
 * Streams co-buy records from .jsonl/.json (JSON Lines) or .csv (record fields, or the FolkScope
 * layout) in file order, each validated as it is read (errors name file:line), holding only the
 * record at hand: a paper-scale file is never loaded whole. `onLayout` hears the layout once known.
 */
export async function* streamRecords(
  file: string,
  onLayout: (layout: RecordLayout) => void = () => undefined,
): AsyncGenerator<CoBuyRecord> {
  const kind = fileKind(file);
  // A FIFO or device would block or be read forever: refused before it is opened.
  const special = specialPathKind(file);
  if (special !== null) throw notRegularInput(`--records ${file}`, special);
  const bytes = createReadStream(file);
  const opened = new Promise<void>((resolve, reject) => {
    bytes.once("open", () => resolve());
    bytes.once("error", (error) =>
      reject(
        new HarnessError(`--records ${file}: cannot read (${errorMessage(error)})`, {
          // A path that is not there is a usage error, like any flag; an unreadable one is the environment's.
          exitCode: (error as NodeJS.ErrnoException).code === "ENOENT" ? EXIT.usage : EXIT.failed,
        }),
      ),
    );
  });
  let input: Transform | undefined;
  try {
    await opened;
    // Checked as UTF-8 as it streams (a BOM dropped): a Latin-1 export is an error naming the line.
    input = bytes.pipe(utf8CheckStream(file));
    bytes.on("error", (error) => input!.destroy(error));
    if (kind === "jsonl") {
      onLayout("records-jsonl");
      let line = 0;
      for await (const raw of createInterface({ input, crlfDelay: Infinity })) {
        line += 1;
        const text = line === 1 ? raw.replace(/^\uFEFF/, "") : raw;
        if (text.trim() !== "") yield jsonlRecord(text, file, line);
      }
      return;
    }
    let header: string[] | null = null;
    let toRecord: ReturnType<typeof csvRecordReader> | null = null;
    const parser = input.pipe(parseCsvStream({ columns: (names: string[]) => (header = csvHeader(names, file)), ...CSV_OPTIONS }));
    // pipe() does not pass errors on: a bad byte must end the loop below.
    input.on("error", (error) => parser.destroy(error));
    const rows = parser[Symbol.asyncIterator]() as AsyncIterator<{ record: Record<string, string>; info: { lines: number } }>;
    for (;;) {
      let next: IteratorResult<{ record: Record<string, string>; info: { lines: number } }>;
      try {
        next = await rows.next();
      } catch (error) {
        if (error instanceof HarnessError) throw error;
        const line = (error as { lines?: number }).lines;
        throw new HarnessError(`${file}${line ? `:${line}` : ""}: not valid CSV (${briefMessage(error)})`);
      }
      if (next.done) break;
      if (!toRecord) {
        const layout = csvLayout(header ?? [], file);
        onLayout(layout);
        toRecord = csvRecordReader(layout);
      }
      yield toRecord(next.value.record, { file, line: next.value.info.lines });
    }
    if (!toRecord && header) onLayout(csvLayout(header, file));
  } finally {
    input?.destroy();
    bytes.destroy();
  }
}

/** Every record carries a relation (one intention per row) or none does (bare pairs for --relations): checked as records stream by. */
export class UnitCheck {
  private first: CoBuyRecord | null = null;
  constructor(private readonly file: string) {}

  check(record: CoBuyRecord): void {
    const first = (this.first ??= record);
    if ((record.relation === null) === (first.relation === null)) return;
    const [withRelation, without] = first.relation === null ? [record, first] : [first, record];
    throw new HarnessError(
      `${this.file}:${without.line}: no relation, but ${this.file}:${withRelation.line} has one; give every record a relation (one intention per row) or none (bare pairs, fanned out with --relations)`,
    );
  }
}

/**
 * Reads a whole records file (see streamRecords). A pair may repeat (e.g. with another relation or
 * tail): its rows repeat too, and its requests are asked once.
 */
export async function readRecords(file: string): Promise<RecordsFile> {
  let layout: RecordLayout = fileKind(file) === "csv" ? "records-csv" : "records-jsonl";
  const records: CoBuyRecord[] = [];
  const unit = new UnitCheck(file);
  for await (const record of streamRecords(file, (l) => (layout = l))) {
    unit.check(record);
    records.push(record);
  }
  if (records.length === 0) throw new HarnessError(`--records ${file}: no records`);
  return { layout, records };
}

/** `--shard i/n` -> {index: i-1, count: n}. */
export function parseShard(spec: string | undefined): { index: number; count: number } | null {
  if (spec === undefined) return null;
  const match = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const i = match ? Number(match[1]) : NaN;
  const n = match ? Number(match[2]) : NaN;
  if (!match || n < 1 || i < 1 || i > n || n > MAX_SHARDS)
    throw usageError(`--shard "${spec}": expected i/n with 1 <= i <= n <= ${MAX_SHARDS}, e.g. 1/4`);
  return { index: i - 1, count: n };
}

/** The shard a pair belongs to: a hash of its pair id, so every record lands in exactly one shard whatever the file order. */
export function shardOf(pairId: string, count: number): number {
  return parseInt(sha256(pairId).slice(0, 8), 16) % count;
}

export function selectShard(records: readonly CoBuyRecord[], shard: { index: number; count: number } | null): CoBuyRecord[] {
  return shard === null ? [...records] : records.filter((r) => shardOf(r.pairId, shard.count) === shard.index);
}
