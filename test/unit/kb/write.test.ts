/**
 * mind_kb.csv is the released layout, byte for byte: kbCsv joins rows of strings itself (per cell,
 * csv-stringify was a tenth of a zero-latency distill run's CPU), so it must write exactly what
 * csv-stringify writes with the KB's options, whatever the text.
 */
import fc from "fast-check";
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { KB_COLUMNS, type KbRow } from "../../../harness/kb/schema.ts";
import { kbCsv, kbCsvStringify } from "../../../harness/kb/write.ts";

/** Text that stresses quoting: quotes, commas, CR and LF, spaces of every kind at the ends, and anything else. */
const cell = fc.oneof(
  fc.string({ unit: fc.constantFrom('"', ",", "\n", "\r", " ", "\t", "\u00a0", "\u2028", "\ufeff", "a", "é", "'", "=", "😀") }),
  fc.string({ unit: "grapheme" }),
  fc.string(),
);
const row = fc.record(Object.fromEntries(KB_COLUMNS.map((column) => [column, cell])) as Record<keyof KbRow, typeof cell>);

describe("mind_kb.csv", () => {
  it("is what csv-stringify writes for any rows of text, with and without the header", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 6 }), fc.boolean(), (rows, header) => {
        expect(kbCsv(rows, header)).toBe(kbCsvStringify(rows, header));
      }),
      { numRuns: 500 },
    );
  });

  it("reads back as the rows it was given", () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 4 }), (rows) => {
        expect(parse(kbCsv(rows), { columns: true, relax_quotes: false })).toEqual(rows);
      }),
    );
  });

  it("quotes exactly the cells csv-stringify quotes", () => {
    const base = Object.fromEntries(KB_COLUMNS.map((column) => [column, "x"])) as KbRow;
    const line = (value: string) => kbCsv([{ ...base, Intention: value }], false);
    expect(line("plain")).toBe("x,x,x,x,x,x,x,plain,x,x\n");
    expect(line('say "hi"')).toBe('x,x,x,x,x,x,x,"say ""hi""",x,x\n');
    expect(line("a,b")).toBe('x,x,x,x,x,x,x,"a,b",x,x\n');
    expect(line("two\nlines")).toBe('x,x,x,x,x,x,x,"two\nlines",x,x\n');
    expect(line(" padded")).toBe('x,x,x,x,x,x,x," padded",x,x\n');
    expect(line("")).toBe("x,x,x,x,x,x,x,,x,x\n");
  });
});
