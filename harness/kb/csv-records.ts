import { createReadStream } from "node:fs";
import { CsvError, parse, type Options } from "csv-parse";
import { HarnessError } from "../util/errors.ts";

/**
 * The raw CSV layer under the KB reader: csv-parse over a file, yielding each record's fields with
 * the line it starts on (a quoted field can span lines). Used in-thread for small files and
 * inside the parse worker (csv-worker.ts) for big ones, so both report the same lines.
 */

export interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts. */
  line: number;
}

/** A record csv-parse itself rejected (a stray quote); only reported with skipBadRows. */
export interface CsvSkip {
  line: number;
  reason: string;
}

export interface CsvRecordOptions {
  skipBadRows: boolean;
  onSkip: (skip: CsvSkip) => void;
}

/** Line breaks inside the record's (quoted) fields: the record starts that many lines earlier. */
function newlinesIn(fields: readonly string[]): number {
  let count = 0;
  for (const field of fields) {
    for (let at = field.indexOf("\n"); at !== -1; at = field.indexOf("\n", at + 1)) count += 1;
  }
  return count;
}

const UNTERMINATED = "a quoted field opened in the record starting here is never closed (unterminated quote); the rest of the file cannot be read";

export async function* csvRecords(file: string, { skipBadRows, onSkip }: CsvRecordOptions): AsyncGenerator<CsvRecord> {
  // Where the last parsed record ended (parsing runs ahead of the consumer): an unterminated
  // quote opened in the record after it, past any blank lines.
  let parsedEnd = 0;
  let parsedEmpty = 0;
  const openQuoteLine = (error: CsvError) => parsedEnd + 1 + Math.max(0, numberProp(error, "empty_lines") - parsedEmpty);
  let fatal: HarnessError | null = null;
  let lastSkippedLine = 0;
  const options: Options<CsvRecord, string[]> = {
    bom: true,
    // context.lines: the line the record ends on.
    on_record: (fields, context) => {
      parsedEnd = context.lines;
      parsedEmpty = context.empty_lines;
      return { fields, line: context.lines - newlinesIn(fields) };
    },
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: skipBadRows,
    on_skip: (error: CsvError | undefined) => {
      if (!error) return;
      if (error.code === "CSV_QUOTE_NOT_CLOSED") {
        // Everything after the open quote was swallowed: skipping would lose an unknown number of rows.
        fatal = new HarnessError(`${file}:${openQuoteLine(error)}: ${UNTERMINATED}`);
        return;
      }
      const line = numberProp(error, "lines") || parsedEnd + 1;
      // csv-parse resumes right after the bad character, so one broken line can raise several
      // errors: count the line once, and start counting lines for the next record after it.
      if (line !== lastSkippedLine) onSkip({ line, reason: csvReason(error) });
      lastSkippedLine = line;
    },
  };
  // The typings' overloads only accept on_record returning the record type itself.
  const parser = parse(options as unknown as Options);
  const input = createReadStream(file, { highWaterMark: 1 << 18 });
  input.on("error", (error) => parser.destroy(error));
  input.pipe(parser);
  try {
    yield* parser as AsyncIterable<CsvRecord>;
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    if (error instanceof CsvError) {
      if (error.code === "CSV_QUOTE_NOT_CLOSED") throw new HarnessError(`${file}:${openQuoteLine(error)}: ${UNTERMINATED}`);
      throw new HarnessError(`${file}:${numberProp(error, "lines") || parsedEnd + 1}: ${csvReason(error)}`);
    }
    const code = (error as NodeJS.ErrnoException).code;
    throw new HarnessError(`cannot read KB ${file}: ${code ?? String(error)}`, { cause: error });
  } finally {
    input.destroy();
  }
  if (fatal) throw fatal;
}

/** csv-parse copies its counters (lines, empty_lines) onto the error. */
function numberProp(error: CsvError, key: "lines" | "empty_lines"): number {
  const value = (error as CsvError & Partial<Record<typeof key, unknown>>)[key];
  return typeof value === "number" ? value : 0;
}

function csvReason(error: CsvError): string {
  // csv-parse messages say "at line N"; the line is already in our prefix.
  return `malformed CSV: ${error.message.replace(/\s+at line \d+/, "")}`;
}
