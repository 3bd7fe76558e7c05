import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readJudgements, readSheetRelations } from "../../../harness/annotate/judgements.ts";
import {
  decodeHtml,
  escapeHitValue,
  escapeHtml,
  escapeMarkdown,
  fillUrlTemplate,
  forTerminal,
  forTerminalChunk,
  markdownCode,
  neutraliseSheetCell,
  REDRAW_LINE,
  restoreSheetCell,
  sheetCsv,
} from "../../../harness/util/escape.ts";

/** Strings heavy in what the escapers care about: formula triggers, quotes, markup, controls, bidi. */
const hostileChar = fc.constantFrom(
  ..."=+-@'\"\t\r\n,;|<>&$`*_[]\\{}#!~ a1.".split(""),
  "\uFF1D",
  "\uFF0B",
  "\uFF0D",
  "\uFF20",
  "\u001b",
  "\u0007",
  "\u0085",
  "\u009b",
  "\u202e",
  "\u2066",
  "\u200f",
  "\u0000",
  "\u007f",
  "é",
  "😀",
);
const hostile = fc.oneof(fc.string({ unit: hostileChar, maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 40 }), fc.string());
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
const PLAIN_NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const RUNS = { numRuns: 2000 };

describe("spreadsheet cells (OWASP CSV injection)", () => {
  it("no cell starts with a formula trigger, except a plain number", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const cell = neutraliseSheetCell(text);
        expect(FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell)).toBe(false);
      }),
      RUNS,
    );
  });

  it("restoreSheetCell undoes it exactly, and the CSV round-trips through the harness's reader", () => {
    fc.assert(
      fc.property(fc.array(fc.array(hostile, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 5 }), (rows) => {
        const width = rows[0]!.length;
        const table = rows.map((row) => Array.from({ length: width }, (_, i) => row[i] ?? ""));
        for (const row of table) for (const cell of row) expect(restoreSheetCell(neutraliseSheetCell(cell))).toBe(cell);
        const text = sheetCsv(table);
        const read = (parse(text, { relax_column_count: true }) as string[][]).map((row) => row.map(restoreSheetCell));
        // csv-parse skips nothing here: a row of one empty cell reads as [""] as written.
        expect(read).toEqual(table);
        // Every written cell that is not a plain number is inert: it begins with no trigger once parsed.
        for (const row of parse(text, { relax_column_count: true }) as string[][])
          for (const cell of row) expect(FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it("quotes a neutralised cell and leaves numbers (a negative gap) as numbers", () => {
    expect(sheetCsv([["=1+1", "-2.5", "@SUM(A1)", "-1+2", "plain"]])).toBe(`"'=1+1",-2.5,"'@SUM(A1)","'-1+2",plain\n`);
    expect(neutraliseSheetCell("\uFF1DHYPERLINK()")).toBe("'\uFF1DHYPERLINK()");
    expect(neutraliseSheetCell("'quoted")).toBe("''quoted");
  });

  it("a sheet with hostile cells reads back as judgements with the exact item ids and relations", async () => {
    const dir = await mkdtemp(join(tmpdir(), "escape-test-"));
    try {
      const relation = '=HYPERLINK("http://x","y")';
      const sheet = join(dir, "sheet.csv");
      await writeFile(
        sheet,
        sheetCsv([
          ["item_id", "relation", "annotator", "plausible"],
          [`${relation}:7`, relation, "-ann", "yes"],
        ]),
      );
      const { judgements } = await readJudgements(sheet, ["plausible"]);
      expect(judgements[0]).toMatchObject({ itemId: `${relation}:7`, annotator: "-ann", relation, label: "yes" });
      expect((await readSheetRelations(sheet)).get(`${relation}:7`)).toMatchObject({ relation });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("HTML", () => {
  it("escapeHtml leaves no < > \" ' and no & outside an entity; decodeHtml undoes it", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const html = escapeHtml(text);
        expect(html).not.toMatch(/[<>"']/);
        expect(html).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#39;)/);
        expect(decodeHtml(html)).toBe(text);
      }),
      RUNS,
    );
  });

  it("an MTurk value is HTML-safe, has no ${, starts with no formula trigger, and decodes exactly", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const value = escapeHitValue(text);
        expect(value).not.toMatch(/[<>"'$]/);
        expect(FORMULA_START.test(value)).toBe(false);
        expect(neutraliseSheetCell(value)).toBe(value);
        expect(decodeHtml(value)).toBe(text);
      }),
      RUNS,
    );
  });

  it("a URL template's {id} is one path component of an http(s) URL; other schemes are refused", () => {
    fc.assert(
      fc.property(hostile, (id) => {
        const link = fillUrlTemplate("https://cdn.example.com/images/{id}", id)!;
        if (id === "." || id === "..") expect(link).toBe("");
        else {
          const url = new URL(link);
          expect(url.origin).toBe("https://cdn.example.com");
          expect(url.search + url.hash).toBe("");
          const parts = url.pathname.split("/");
          expect(parts).toHaveLength(3);
          expect(decodeURIComponent(parts[2]!)).toBe(id);
        }
      }),
      RUNS,
    );
    for (const template of [
      "javascript:alert(1)//{id}",
      "JaVaScRiPt:alert(1)",
      "data:text/html,{id}",
      "file:///etc/{id}",
      " javascript:x",
      "java\tscript:x",
      "vbscript:x",
    ])
      expect(fillUrlTemplate(template, "B0001"), template).toBeNull();
    expect(fillUrlTemplate("images/{id}.jpg", "a/../b")).toBe("images/a%2F..%2Fb.jpg");
    expect(fillUrlTemplate("http://cdn/{id}", "x?y#z")).toBe("http://cdn/x%3Fy%23z");
  });
});

describe("markdown", () => {
  it("text from outside makes no tag, no table break, no new line", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const md = escapeMarkdown(text);
        expect(md).not.toMatch(/[<>\n\r]/);
        // Every "|" is escaped (preceded by an odd run of backslashes).
        for (const match of md.matchAll(/(\\*)\|/g)) expect(match[1]!.length % 2).toBe(1);
        const code = markdownCode(text);
        expect(code.slice(1, -1)).not.toMatch(/[`\n\r]/);
        for (const match of code.matchAll(/(\\*)\|/g)) expect(match[1]!.length % 2).toBe(1);
      }),
      RUNS,
    );
  });
});

describe("terminal", () => {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
  it("no ESC, C0 (but tab and newline), C1 or bidi control survives; idempotent", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const shown = forTerminal(text);
        expect(shown).not.toMatch(CONTROLS);
        expect(forTerminal(shown)).toBe(shown);
        expect(shown.split("\n")).toHaveLength(text.split("\n").length);
      }),
      RUNS,
    );
  });

  it("JSON printed through it stays JSON with the same value", () => {
    fc.assert(
      fc.property(fc.dictionary(hostile, hostile, { maxKeys: 4 }), (value) => {
        expect(JSON.parse(forTerminal(JSON.stringify(value)))).toEqual(value);
      }),
      RUNS,
    );
  });

  it("keeps the progress bar's own redraw, and only that", () => {
    expect(forTerminalChunk(`${REDRAW_LINE}eval [##--] 1/2`)).toBe(`${REDRAW_LINE}eval [##--] 1/2`);
    expect(forTerminalChunk(`${REDRAW_LINE}\u001b]0;title\u0007`)).toBe(`${REDRAW_LINE}\\u001b]0;title\\u0007`);
    expect(forTerminalChunk("x\r\u001b[2Jy")).toBe("x\\u000d\\u001b[2Jy");
  });
});
