import { CsvError, parse, type Options } from "csv-parse";
import { briefMessage, HarnessError } from "../util/errors.ts";
import { createUtf8ReadStream } from "../util/text.ts";

/**
 * The raw CSV layer under the KB reader: csv-parse over a file, yielding each record's fields with
 * the line it starts on (a quoted field can span lines). Used in-thread, and inside the opt-in
 * parse worker (csv-worker.ts), so both report the same lines.
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

/**
 * csv-parse's line counter counts a CRLF inside a quoted field as two lines (CR, then LF); a
 * CRLF between records counts once. This is how many lines it over-counted in this record.
 */
function crlfsIn(fields: readonly string[]): number {
  let count = 0;
  for (const field of fields) {
    for (let at = field.indexOf("\r\n"); at !== -1; at = field.indexOf("\r\n", at + 2)) count += 1;
  }
  return count;
}

/** Line breaks inside the record's (quoted) fields: the record starts that many lines earlier. */
function newlinesIn(fields: readonly string[]): number {
  let count = 0;
  for (const field of fields) {
    for (let at = field.indexOf("\n"); at !== -1; at = field.indexOf("\n", at + 1)) count += 1;
  }
  return count;
}

const UNTERMINATED =
  "a quoted field opened in the record starting here is never closed (unterminated quote); the rest of the file cannot be read";

export function csvRecords(file: string, options: CsvRecordOptions): AsyncGenerator<CsvRecord> {
  return options.skipBadRows ? csvRecordsSkippingBad(file, options.onSkip) : csvRecordsStrict(file);
}

/**
 * The common case: the first malformed record is an error. Lines are counted here, one per
 * record plus the line breaks inside its fields (blank lines come through as [""] and are
 * dropped), which spares csv-parse building an info object per record (~5% of the time).
 */
async function* csvRecordsStrict(file: string): AsyncGenerator<CsvRecord> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false });
  const input = createUtf8ReadStream(file);
  input.on("error", (error) => parser.destroy(error));
  input.pipe(parser);
  let nextLine = 1;
  let overcount = 0;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      const line = nextLine;
      nextLine += 1 + newlinesIn(fields);
      overcount += crlfsIn(fields);
      if (fields.length === 1 && fields[0] === "") continue;
      yield { fields, line };
    }
  } catch (error) {
    // csv-parse delivers every record before it reports an unterminated quote at the end of the
    // input, so nextLine is where the record with the open quote starts.
    throw asHarnessError(error, file, nextLine, overcount);
  } finally {
    input.destroy();
  }
}

/**
 * With skipBadRows: csv-parse skips records it cannot parse and says so through on_skip, which
 * runs ahead of the consumer; lines come from its own counters.
 */
async function* csvRecordsSkippingBad(file: string, onSkip: (skip: CsvSkip) => void): AsyncGenerator<CsvRecord> {
  // Where the last parsed record ended (parsing runs ahead of the consumer): an unterminated
  // quote opened in the record after it, past any blank lines.
  let parsedEnd = 0;
  let parsedEmpty = 0;
  let overcount = 0;
  const openQuoteLine = (error: CsvError) => parsedEnd + 1 + Math.max(0, numberProp(error, "empty_lines") - parsedEmpty);
  let fatal: HarnessError | null = null;
  let lastSkippedLine = 0;
  const options: Options<CsvRecord, string[]> = {
    bom: true,
    // context.lines: the line the record ends on.
    on_record: (fields, context) => {
      overcount += crlfsIn(fields);
      parsedEnd = context.lines - overcount;
      parsedEmpty = context.empty_lines;
      return { fields, line: parsedEnd - newlinesIn(fields) };
    },
    relax_column_count: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    on_skip: (error: CsvError | undefined) => {
      if (!error) return;
      if (error.code === "CSV_QUOTE_NOT_CLOSED") {
        // Everything after the open quote was swallowed: skipping would lose an unknown number of rows.
        fatal = new HarnessError(`${file}:${openQuoteLine(error)}: ${UNTERMINATED}`);
        return;
      }
      const line = numberProp(error, "lines") - overcount || parsedEnd + 1;
      // csv-parse resumes right after the bad character, so one broken line can raise several
      // errors: count the line once, and start counting lines for the next record after it.
      if (line !== lastSkippedLine) onSkip({ line, reason: csvReason(error) });
      lastSkippedLine = line;
    },
  };
  // The typings' overloads only accept on_record returning the record type itself.
  const parser = parse(options as unknown as Options);
  const input = createUtf8ReadStream(file);
  input.on("error", (error) => parser.destroy(error));
  input.pipe(parser);
  try {
    yield* parser as AsyncIterable<CsvRecord>;
  } catch (error) {
    throw asHarnessError(error, file, error instanceof CsvError ? openQuoteLine(error) : parsedEnd + 1, overcount);
  } finally {
    input.destroy();
  }
  if (fatal) throw fatal;
}

/** A parse or read failure as a HarnessError naming file and line. */
function asHarnessError(error: unknown, file: string, openQuoteStart: number, overcount: number): HarnessError {
  if (error instanceof HarnessError) return error;
  if (error instanceof CsvError) {
    if (error.code === "CSV_QUOTE_NOT_CLOSED") return new HarnessError(`${file}:${openQuoteStart}: ${UNTERMINATED}`);
    return new HarnessError(`${file}:${numberProp(error, "lines") - overcount || openQuoteStart}: ${csvReason(error)}`);
  }
  const code = (error as NodeJS.ErrnoException).code;
  return new HarnessError(`cannot read KB ${file}: ${code ?? String(error)}`, { cause: error });
}

/** csv-parse copies its counters (lines, empty_lines) onto the error. */
function numberProp(error: CsvError, key: "lines" | "empty_lines"): number {
  const value = (error as CsvError & Partial<Record<typeof key, unknown>>)[key];
  return typeof value === "number" ? value : 0;
}

function csvReason(error: CsvError): string {
  // csv-parse messages say "at line N"; the line is already in our prefix.
  return `malformed CSV: ${briefMessage(error.message.replace(/\s+at line \d+/, ""))}`;
}
