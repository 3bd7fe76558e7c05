import { open, readFile } from "node:fs/promises";
import { extname } from "node:path";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { assertUniqueColumns } from "../util/csv-header.ts";
import { EXIT, briefMessage, HarnessError, usageError } from "../util/errors.ts";
import { csvRecords, type CsvRecord, type CsvRecordOptions, type CsvSkip } from "./csv-records.ts";
import { ACK, type CsvWorkerInput, type CsvWorkerMessage } from "./csv-worker.ts";
import {
  DEFAULT_CRITIC_COLUMN,
  KB_COLUMNS,
  KB_FORMATS,
  KB_PROMPT_SETS,
  KB_UNITS,
  type KbExtras,
  type KbFormat,
  type KbPromptSet,
  type KbRow,
  type KbUnit,
} from "./schema.ts";
import { createUtf8ReadStream, notRegularInput } from "../util/text.ts";
import { specialPathKind } from "../util/paths.ts";
import { decimalNumber } from "../util/validate.ts";

/**
 * Streaming readers for an intention knowledge base: the released MIND CSV layout, or the JSONL
 * that `harness distill` writes (one object per line with the same keys plus optional extras).
 * Rows come out one at a time with their line number, so memory stays flat however big the KB.
 */

export interface KbRecord extends KbExtras {
  /** 1-based line where the record starts in the file (a quoted CSV field may span lines). */
  line: number;
  row: KbRow;
}

export interface BadRow {
  file: string;
  line: number;
  reason: string;
}

export interface ReadKbOptions {
  /** Overrides detection by extension. */
  format?: KbFormat;
  /**
   * Where the critic score lives: an extra CSV column, or a JSONL key (default "critic_score").
   * Empty or absent -> no score for that row; present but not a number in 0..1 -> a bad row.
   */
  criticColumn?: string;
  /** Read critic scores at all (default true); off, an odd critic column cannot fail a row. */
  readCriticScores?: boolean;
  /** Count a bad row through onBadRow and go on, instead of failing on it. */
  skipBadRows?: boolean;
  onBadRow?: (bad: BadRow) => void;
  /** Called once a CSV header is read, with its column names (after trimming). */
  onHeader?: (columns: readonly string[]) => void;
  /**
   * Parse CSV on a worker thread, overlapping parsing (csv-parse, the slowest step) with the
   * consumer. Off by default: on a 2-vCPU machine it cost ~20% more CPU time than it saved in
   * wall time (bench/build-sft.ts measures both); it pays only with spare cores.
   */
  parseInWorker?: boolean;
}

/** .csv -> csv; .jsonl / .json / .ndjson (JSON lines) -> jsonl; anything else needs --format. */
export function detectKbFormat(file: string, override?: string): KbFormat {
  if (override !== undefined) {
    if ((KB_FORMATS as readonly string[]).includes(override)) return override as KbFormat;
    throw usageError(`--format "${override}" is not a KB format: expected ${KB_FORMATS.join(" or ")}`);
  }
  const ext = extname(file.replace(/\.gz$/, "")).toLowerCase();
  if (ext === ".csv") return "csv";
  if (ext === ".jsonl" || ext === ".json" || ext === ".ndjson") return "jsonl";
  throw usageError(`${file}: cannot tell the KB format from the extension "${ext}": name it .csv or .jsonl, or pass --format csv|jsonl`);
}

/**
 * Streams the KB's rows. A bad row throws a HarnessError naming file and line, unless skipBadRows.
 * Repeated rows are legitimate here (the released KB has them; build-sft drops and counts them), so
 * the reader does not key rows; a header naming a column twice is refused.
 */
export async function* readKb(file: string, options: ReadKbOptions = {}): AsyncGenerator<KbRecord> {
  const format = options.format ?? detectKbFormat(file);
  await assertKbReadable(file);
  if (format === "csv") yield* readCsv(file, options);
  else yield* readJsonl(file, options);
}

/** Throws the reader's "cannot read KB" error now, for a stage that must not start work on a KB it cannot open. */
export async function assertKbReadable(file: string): Promise<void> {
  // Opening a FIFO to read waits for a writer forever; a device would be read forever.
  const special = specialPathKind(file);
  if (special !== null) throw notRegularInput(`KB ${file}`, special);
  try {
    const handle = await open(file, "r");
    await handle.close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new HarnessError(`cannot read KB ${file}: ${code === "ENOENT" ? "no such file" : (code ?? String(error))}`, {
      // A path that is not there is a usage error, like any flag; an unreadable one is the environment's.
      exitCode: code === "ENOENT" ? EXIT.usage : EXIT.failed,
    });
  }
}

function reportBad(options: ReadKbOptions, bad: BadRow): void {
  if (!options.skipBadRows)
    throw new HarnessError(`${bad.file}:${bad.line}: ${bad.reason} (pass --skip-bad-rows to count and skip such rows)`);
  options.onBadRow?.(bad);
}

/** A critic score from a cell: undefined when empty, a number in 0..1, or a string saying what is wrong. */
export function parseCriticScore(value: unknown): number | undefined | { invalid: string } {
  if (value === undefined || value === null || value === "") return undefined;
  const score = typeof value === "number" ? value : typeof value === "string" ? decimalNumber(value) : Number.NaN;
  if (!Number.isFinite(score) || score < 0 || score > 1)
    return { invalid: `critic score ${JSON.stringify(value).slice(0, 40)} is not a number in 0..1` };
  return score;
}

async function* readCsv(file: string, options: ReadKbOptions): AsyncGenerator<KbRecord> {
  const criticColumn = options.criticColumn ?? DEFAULT_CRITIC_COLUMN;
  const skipBadRows = options.skipBadRows === true;
  const onSkip = (skip: CsvSkip) => reportBad(options, { file, line: skip.line, reason: skip.reason });
  const records = options.parseInWorker ? csvRecordsInWorker(file, { skipBadRows, onSkip }) : csvRecords(file, { skipBadRows, onSkip });

  let header: string[] | null = null;
  let index: number[] = [];
  let criticIndex = -1;
  for await (const { fields, line } of records) {
    if (header === null) {
      header = fields.map((name) => name.trim());
      assertUniqueColumns(header, `${file}:${line}`);
      const missing = KB_COLUMNS.filter((column) => !header!.includes(column));
      if (missing.length > 0) {
        throw new HarnessError(
          `${file}:${line}: the header lacks the column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; expected the released MIND layout ${KB_COLUMNS.join(",")}`,
        );
      }
      index = KB_COLUMNS.map((column) => header!.indexOf(column));
      criticIndex = options.readCriticScores === false ? -1 : header.indexOf(criticColumn);
      options.onHeader?.(header);
      continue;
    }
    if (fields.length !== header.length) {
      reportBad(options, { file, line, reason: `expected ${header.length} columns as in the header, got ${fields.length}` });
      continue;
    }
    const row = {} as KbRow;
    for (let c = 0; c < KB_COLUMNS.length; c++) row[KB_COLUMNS[c]!] = fields[index[c]!]!;
    const out: KbRecord = { line, row };
    if (criticIndex >= 0) {
      const score = parseCriticScore(fields[criticIndex]);
      if (typeof score === "object") {
        reportBad(options, { file, line, reason: `column ${criticColumn}: ${score.invalid}` });
        continue;
      }
      if (score !== undefined) out.critic_score = score;
    }
    yield out;
  }
  if (header === null) throw new HarnessError(`${file}: empty file: expected a header line ${KB_COLUMNS.join(",")}`);
}

/** csvRecords, run on a worker thread (csv-worker.ts); same records, same lines, same errors. */
async function* csvRecordsInWorker(file: string, options: CsvRecordOptions): AsyncGenerator<CsvRecord> {
  const input: CsvWorkerInput = { csvWorker: true, file, skipBadRows: options.skipBadRows, batchBytes: 1 << 19, maxBatchesInFlight: 4 };
  const worker = startCsvWorker(input);
  const inbox: CsvWorkerMessage[] = [];
  let failure: Error | null = null;
  let notify: (() => void) | null = null;
  const wakeUp = () => {
    const resume = notify;
    notify = null;
    resume?.();
  };
  worker.on("message", (message: CsvWorkerMessage) => {
    inbox.push(message);
    wakeUp();
  });
  worker.on("error", (error) => {
    failure = error;
    wakeUp();
  });
  worker.on("exit", (code) => {
    // Every message is delivered before "exit"; an exit with no "end" in the inbox lost rows.
    if (!failure && !inbox.some((message) => message.kind !== "batch"))
      failure = new Error(`the CSV parse worker stopped early (exit code ${code})`);
    wakeUp();
  });
  try {
    for (;;) {
      const message = inbox.shift();
      if (message === undefined) {
        if (failure) throw new HarnessError(`reading ${file}: ${(failure as Error).message}`, { exitCode: EXIT.bug });
        await new Promise<void>((resolve) => (notify = resolve));
        continue;
      }
      if (message.kind === "end") return;
      if (message.kind === "error") throw new HarnessError(message.message, { exitCode: message.exitCode });
      for (const skip of message.skips) options.onSkip(skip);
      const { ends, widths, lines } = message;
      const bytes = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength);
      let field = 0;
      let start = 0;
      for (let i = 0; i < widths.length; i++) {
        const fields = new Array<string>(widths[i]!);
        for (let f = 0; f < fields.length; f++) {
          const end = ends[field++]!;
          fields[f] = bytes.toString("utf8", start, end);
          start = end;
        }
        yield { fields, line: lines[i]! };
      }
      worker.postMessage(ACK);
    }
  } finally {
    await worker.terminate();
  }
}

/**
 * Starts csv-worker, compiled (dist/) or from the TypeScript sources (dev, tests). From the
 * sources the worker registers tsx first: loader hooks are not inherited by worker threads.
 */
function startCsvWorker(input: CsvWorkerInput): Worker {
  const fromSources = import.meta.url.endsWith(".ts");
  const entry = JSON.stringify(new URL(fromSources ? "./csv-worker.ts" : "./csv-worker.js", import.meta.url).href);
  const source = fromSources
    ? `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((tsx) => { tsx.register(); return import(${entry}); });`
    : `import(${entry});`;
  // Its live data is a few batches: small heap limits keep its memory from growing with the input.
  return new Worker(source, { eval: true, workerData: input, resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 } });
}

async function* readJsonl(file: string, options: ReadKbOptions): AsyncGenerator<KbRecord> {
  const criticColumn = options.criticColumn ?? DEFAULT_CRITIC_COLUMN;
  const input = createUtf8ReadStream(file);
  let lineNumber = 0;
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber += 1;
      if (text.trim() === "") continue;
      const parsed = parseJsonlRow(text, options.readCriticScores === false ? null : criticColumn);
      if (typeof parsed === "string") {
        reportBad(options, { file, line: lineNumber, reason: parsed });
        continue;
      }
      parsed.line = lineNumber;
      yield parsed;
    }
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new HarnessError(`cannot read KB ${file}: ${code ?? String(error)}`, { cause: error });
  } finally {
    input.destroy();
  }
}

/** One JSONL line -> a record (line 0, filled in by the caller), or the reason it is bad. */
export function parseJsonlRow(text: string, criticColumn: string | null = DEFAULT_CRITIC_COLUMN): KbRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not valid JSON (${briefMessage(error)})`;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return `expected a JSON object with the keys ${KB_COLUMNS.join(", ")}, got ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`;
  }
  const object = value as Record<string, unknown>;
  const row = {} as KbRow;
  for (const column of KB_COLUMNS) {
    const cell = object[column];
    if (typeof cell === "string") row[column] = cell;
    else if (typeof cell === "number" && (column === "id_a" || column === "id_b")) row[column] = String(cell);
    else
      return cell === undefined
        ? `lacks the key "${column}"`
        : `key "${column}" must be a string, got ${cell === null ? "null" : typeof cell}`;
  }
  const record: KbRecord = { line: 0, row };
  if (criticColumn !== null) {
    const score = parseCriticScore(object[criticColumn]);
    if (typeof score === "object") return `key "${criticColumn}": ${score.invalid}`;
    if (score !== undefined) record.critic_score = score;
  }
  const verdict = object["verdict"];
  if (verdict === "yes" || verdict === "no" || verdict === "unparsed") record.verdict = verdict;
  const textOnly = object["text_only"];
  if (typeof textOnly === "boolean") record.text_only = textOnly;
  const promptSet = object["prompt_set"];
  if ((KB_PROMPT_SETS as readonly unknown[]).includes(promptSet)) record.prompt_set = promptSet as KbPromptSet;
  const unit = object["unit"];
  if ((KB_UNITS as readonly unknown[]).includes(unit)) record.unit = unit as KbUnit;
  return record;
}

/** What distill records beside a KB (mind_kb.meta.json): how it was made. */
export interface KbMeta {
  promptSet?: KbPromptSet;
  unit?: KbUnit;
}

/**
 * The metadata file beside a KB, "<name>.meta.json" for "<name>.csv" or "<name>.jsonl" (distill
 * writes mind_kb.meta.json), or null when there is none or it says nothing this reader knows.
 */
export async function readKbMeta(kbFile: string): Promise<KbMeta | null> {
  const metaFile = `${kbFile.replace(/(\.gz)?$/, "").replace(/\.[^./]+$/, "")}.meta.json`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(metaFile, "utf8"));
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { promptSet, unit } = parsed as Record<string, unknown>;
  const meta: KbMeta = {};
  if ((KB_PROMPT_SETS as readonly unknown[]).includes(promptSet)) meta.promptSet = promptSet as KbPromptSet;
  if ((KB_UNITS as readonly unknown[]).includes(unit)) meta.unit = unit as KbUnit;
  return meta.promptSet || meta.unit ? meta : null;
}
