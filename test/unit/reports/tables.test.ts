import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { loadReports } from "../../../harness/reports/load.ts";
import { renderReport, REPORT_FORMATS } from "../../../harness/reports/render.ts";
import type { EvalReport } from "../../../harness/reports/schema.ts";
import { buildTables, displayLabel, type BuiltTables, type ReportTable } from "../../../harness/reports/tables.ts";
import { parsePublishedOption } from "../../../harness/reports/published.ts";
import { paperRows, PAPER_SPLITS, PAPER_TASKS } from "../../../harness/published/tables.ts";
import { evalBaselines, readReport, writeVariant } from "../../helpers/reports.ts";

const TASKS = ["understanding", "utilization"] as const;
const SPLITS = ["easy", "medium", "hard", "avg"] as const;

/** The rows the fixture reports give, and what each cell must print, read straight from the files. */
interface ExpectedRow {
  label: string;
  cells: Array<string | undefined>;
  /** The cells with each task's n (questions answered) after its splits, as the text formats print them. */
  body: Array<string | undefined>;
  approximate: boolean;
}

let files: string[];
let expected: ExpectedRow[];

function expectedRow(label: string, report: EvalReport): ExpectedRow {
  return {
    label,
    approximate: report.results.some((r) => r.difficulty.approximate),
    cells: TASKS.flatMap((task) =>
      SPLITS.map((split) => report.results.find((r) => r.task === task)?.splits[split]?.parses.official?.accuracy.toFixed(2)),
    ),
    body: TASKS.flatMap((task) => {
      const result = report.results.find((r) => r.task === task);
      return [...SPLITS.map((split) => result?.splits[split]?.parses.official?.accuracy.toFixed(2)), String(result!.coverage!.answered)];
    }),
  };
}

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "harness-report-"));
  const leveled = await evalBaselines(join(dir, "leveled"), {
    difficulty: true,
    labels: { random: { backbone: "mistral", recipe: "zero-shot" }, majority: { backbone: "mistral", recipe: "mind" } },
  });
  const avgOnly = await evalBaselines(join(dir, "avg-only"), { labels: { majority: { backbone: "llama", recipe: "zero-shot" } } });
  // Levels the harness computed itself must be flagged as approximate everywhere.
  const approximate = await writeVariant(leveled.majority, join(dir, "approx"), (r) => {
    r.labels = { backbone: "llama", recipe: "mind" };
    for (const t of r.results)
      t.difficulty = { kind: "embeddings", approximate: true, description: "product-name embeddings (approximate)" };
  });
  files = [leveled.random, leveled.majority, avgOnly.majority, approximate];
  const labels = ["mistral / zero-shot", "mistral / mind", "llama / zero-shot", "llama / mind"];
  expected = await Promise.all(files.map(async (f, i) => expectedRow(labels[i]!, await readReport(f))));
});

const build = async (options: Parameters<typeof buildTables>[1] = {}): Promise<BuiltTables> =>
  buildTables(await loadReports(files), { table: "2", ...options });
const strip = (text: string) => text.replace(/\$\^\\dagger\$|†|\\textbf\{|\}|\*\*|\*/g, "").trim();

describe("every format prints the stored numbers, to the last digit", () => {
  it("terminal", async () => {
    const lines = renderReport(await build(), "terminal").split("\n");
    for (const row of expected) {
      const line = lines.find((l) => l.startsWith(`${row.label} `))!;
      const cells = line.slice(row.label.length).trim().split(/\s+/).map(strip);
      expect(cells, row.label).toEqual(row.body.map((c) => c ?? "—"));
    }
  });

  it("markdown", async () => {
    const lines = renderReport(await build(), "markdown").split("\n");
    for (const row of expected) {
      const line = lines.find((l) => l.startsWith(`| ${row.label} |`))!;
      const cells = line
        .split(" | ")
        .slice(1)
        .map((c) => strip(c.replace(/ \|$/, "")));
      expect(cells, row.label).toEqual(row.body.map((c) => c ?? "—"));
    }
  });

  it("csv", async () => {
    const records = parseCsv(renderReport(await build(), "csv"), { columns: true }) as Array<Record<string, string>>;
    const columns = ["Understanding", "Utilization"].flatMap((t) => ["Easy", "Medium", "Hard", "Avg"].map((s) => `${t} ${s}`));
    for (const row of expected) {
      const record = records.find((r) => r["row"] === row.label)!;
      expect(
        columns.map((c) => record[c]),
        row.label,
      ).toEqual(row.cells.map((c) => c ?? ""));
    }
  });

  it("latex", async () => {
    const lines = renderReport(await build(), "latex").split("\n");
    for (const row of expected) {
      const line = lines.find((l) => l.startsWith(`${row.label} &`))!;
      const cells = line
        .replace(/\s*\\\\$/, "")
        .split(" & ")
        .slice(1)
        .map(strip);
      expect(cells, row.label).toEqual(row.body.map((c) => c ?? "---"));
    }
  });

  it("json", async () => {
    const json = JSON.parse(renderReport(await build(), "json")) as { tables: ReportTable[] };
    for (const row of expected) {
      const found = json.tables[0]!.blocks[0]!.rows.find((r) => r.label === row.label)!;
      expect(
        found.cells.map((c) => (c.value === undefined ? undefined : c.value.toFixed(2))),
        row.label,
      ).toEqual(row.cells);
      expect(found.cells.every((c) => c.value === undefined || Number(c.value.toFixed(2)) === c.value)).toBe(true);
    }
  });

  it("html", async () => {
    const html = renderReport(await build(), "html");
    for (const row of expected) {
      const tr = new RegExp(`<tr[^>]*><td class="label">${row.label}</td>(.*?)</tr>`).exec(html)![1]!;
      const cells = [...tr.matchAll(/<td class="num"[^>]*>(.*?)<\/td>/g)].map((m) =>
        strip(m[1]!.replace(/<sup.*?<\/sup>/g, "").replace(/<[^>]+>/g, "")),
      );
      expect(cells, row.label).toEqual(row.cells.map((c) => c ?? "—"));
    }
  });

  it("svg", async () => {
    const svg = renderReport(await build(), "svg");
    for (const row of expected) {
      for (const [i, value] of row.cells.entries()) {
        const split = ["Easy", "Medium", "Hard", "Avg"][i % 4]!;
        const bar = new RegExp(`class="bar" data-series="${row.label}" data-group="${split}[^"]*" data-value="([\\d.]+)"`, "g");
        const values = [...svg.matchAll(bar)].map((m) => m[1]);
        if (value === undefined) expect(values, `${row.label} ${split}`).toEqual([]);
        else expect(values, `${row.label} ${split}`).toContain(value);
      }
    }
  });

  it("vega-lite: one spec per SVG chart, its data the SVG bars' numbers, series, groups and intervals", async () => {
    const built = await build({ table: "both", published: true, gap: true });
    const svg = renderReport(built, "svg");
    const doc = JSON.parse(renderReport(built, "vega-lite")) as {
      $schema: string;
      vconcat: Array<{ title: string; data: { values: Array<Record<string, string | number>> } }>;
    };
    expect(doc.$schema).toBe("https://vega.github.io/schema/vega-lite/v5.json");
    const charts = svg.split(/(?=<svg x="0")/).slice(1);
    expect(doc.vconcat.map((c) => c.title)).toEqual(charts.map((c) => /<title>([^<]*)<\/title>/.exec(c)![1]!.replace(/&amp;/g, "&")));
    doc.vconcat.forEach((chart, k) => {
      const bars = [...charts[k]!.matchAll(/class="bar" data-series="([^"]*)" data-group="([^"]*)" data-value="([^"]*)"/g)].map((m) =>
        m.slice(1, 4).join("|"),
      );
      const data = chart.data.values.map((d) => `${d["series"]}|${d["group"]}|${(d["value"] as number).toFixed(2)}`);
      expect(data, chart.title).toEqual(bars);
      // A whisker in the SVG for every interval in the spec.
      const intervals = chart.data.values.filter((d) => typeof d["low"] === "number" && typeof d["high"] === "number");
      expect(intervals.length, chart.title).toBe(charts[k]!.match(/class="whisker"/g)?.length ?? 0);
    });
    expect(doc.vconcat.some((c) => c.data.values.some((d) => typeof d["low"] === "number"))).toBe(true);
    // The stored numbers themselves, unrounded: mistral / mind's understanding Avg.
    const report = await readReport(files[1]!);
    const avg = report.results.find((r) => r.task === "understanding")!.splits.avg!.parses.official!;
    const datum = doc.vconcat[0]!.data.values.find((d) => d["series"] === "mistral / mind" && d["group"] === "Avg")!;
    expect(datum["value"]).toBe(avg.accuracy);
  });

  it('report --published "Open LLM,Human": every series of a chart has its own colour (8 colours once gave two pairs one each)', () => {
    const built = buildTables([], { table: "2", published: parsePublishedOption("Open LLM,Human")! });
    const charts = renderReport(built, "svg")
      .split(/(?=<svg x="0")/)
      .slice(1);
    expect(charts.length).toBeGreaterThan(0);
    for (const chart of charts) {
      const looks = [...chart.matchAll(/<g class="legend-item"[^>]*data-color="([^"]+)" data-pattern="([^"]+)"/g)].map(
        (m) => `${m[1]} ${m[2]}`,
      );
      expect(looks.length).toBeGreaterThan(8);
      expect(new Set(looks).size).toBe(looks.length);
    }
  });

  it("--metric strict prints the strict numbers", async () => {
    const report = await readReport(files[1]!);
    const json = JSON.parse(renderReport(await build({ parse: "strict" }), "json")) as { tables: ReportTable[] };
    const row = json.tables[0]!.blocks[0]!.rows.find((r) => r.label === "mistral / mind")!;
    expect(row.cells[3]!.value).toBe(report.results[0]!.splits.avg!.parses.strict!.accuracy);
  });
});

describe("marks", () => {
  it("flags approximate difficulty levels in every format", async () => {
    const built = await build();
    const marks: Record<(typeof REPORT_FORMATS)[number], RegExp> = {
      terminal: /^llama \/ mind +\d+\.\d\d†/m,
      markdown: /^\| llama \/ mind \| \d+\.\d\d† \|/m,
      csv: /,llama \/ mind,no,.*,understanding;utilization,/,
      latex: /^llama \/ mind & \d+\.\d\d\$\^\\dagger\$ &/m,
      json: /"approximate": true/,
      html: /<sup class="approx"/,
      svg: /data-group="Easy \(approx\.\)"/,
      "vega-lite": /"group": "Easy \(approx\.\)"/,
    };
    for (const format of REPORT_FORMATS) expect(renderReport(built, format), format).toMatch(marks[format]);
    // ...and only those: the reports with levels from a file are not flagged.
    expect(renderReport(built, "terminal")).not.toMatch(/^mistral .*†/m);
    expect(renderReport(built, "terminal")).toMatch(/APPROXIMATE difficulty levels.*llama \/ mind/);
  });

  it("shows a missing split as a dash or empty, never 0", async () => {
    const built = await build();
    expect(renderReport(built, "markdown")).toMatch(/^\| llama \/ zero-shot \| — \| — \| — \| \d+\.\d\d \|/m);
    expect(renderReport(built, "csv")).toMatch(/,llama \/ zero-shot,no,,,,\d+\.\d\d,/);
    expect(renderReport(built, "terminal")).not.toMatch(/^llama \/ zero-shot .*0\.00/m);
  });

  it("marks the best recipe of each column within a backbone in Table 3", async () => {
    const built = buildTables(await loadReports(files), { table: "3" });
    const mistral = built.tables[0]!.blocks.find((b) => b.title === "mistral")!;
    const [zeroShot, mind] = [expected[0]!, expected[1]!];
    const avgIndex = 3;
    const winner = Number(zeroShot.cells[avgIndex]) >= Number(mind.cells[avgIndex]) ? "zero-shot" : "mind";
    expect(mistral.rows.find((r) => r.label === winner)!.cells[avgIndex]!.best).toBe(true);
    const markdown = renderReport(built, "markdown");
    expect(markdown).toMatch(new RegExp(`^\\| mistral \\| ${winner} \\|( [^|]+ \\|){3} \\*\\*\\d+\\.\\d\\d\\*\\* \\|`, "m"));
    expect(renderReport(built, "latex")).toMatch(/\\textbf\{\d+\.\d\d\}/);
    expect(renderReport(built, "terminal")).toMatch(/\d+\.\d\d\*/);
  });
});

/** Every published row a built table shows, in order, with its numbers as printed. */
function publishedRowsOf(built: BuiltTables): Array<{ label: string; numbers: string[] }> {
  return built.tables.flatMap((t) =>
    t.blocks.flatMap((b) =>
      b.rows.filter((r) => r.published).map((r) => ({ label: displayLabel(r), numbers: r.cells.map((c) => c.printed ?? "") })),
    ),
  );
}

/** The numbers on the lines naming each row in turn (lines searched in order). */
function numbersOnLines(text: string, labels: readonly string[], separator: RegExp): string[][] {
  const lines = text.split("\n");
  let at = 0;
  return labels.map((label) => {
    while (at < lines.length && !lines[at]!.includes(label)) at++;
    const line = lines[at++] ?? "";
    return line
      .slice(line.indexOf(label) + label.length)
      .split(separator)
      .map((c) => c.trim())
      .filter((c) => /^\d+(\.\d+)?$/.test(c));
  });
}

describe("--published: the paper's rows", () => {
  it("shows every number of Tables 2 and 3 exactly as printed, in every format", async () => {
    const built = await build({ table: "both", published: true });
    const expectedRows = publishedRowsOf(built);
    // Every row of both tables, nothing typed twice: 30 + 8 rows, 8 numbers each.
    expect(expectedRows).toHaveLength(paperRows(2).length + paperRows(3).length);
    expect(expectedRows.map((r) => r.numbers)).toEqual(
      shownPaperRows(built).map((p) => PAPER_TASKS.flatMap((t) => PAPER_SPLITS.map((s) => p.values[t][s].printed))),
    );
    expect(expectedRows.flatMap((r) => r.numbers)).toContain("100.0");
    const labels = expectedRows.map((r) => r.label);
    const numbers = expectedRows.map((r) => r.numbers);
    expect(numbersOnLines(renderReport(built, "terminal"), labels, /\s+/), "terminal").toEqual(numbers);
    expect(numbersOnLines(renderReport(built, "markdown"), labels, /\|/), "markdown").toEqual(numbers);
    expect(numbersOnLines(renderReport(built, "latex"), labels, /&|\\\\/), "latex").toEqual(numbers);
    const records = (parseCsv(renderReport(built, "csv"), { columns: true }) as Array<Record<string, string>>).filter(
      (r) => r["published"] === "yes",
    );
    const columns = ["Understanding", "Utilization"].flatMap((t) => ["Easy", "Medium", "Hard", "Avg"].map((s) => `${t} ${s}`));
    expect(
      records.map((r) => columns.map((c) => r[c])),
      "csv",
    ).toEqual(numbers);
    const json = JSON.parse(renderReport(built, "json")) as BuiltTables;
    expect(publishedRowsOf(json), "json").toEqual(expectedRows);
    const html = renderReport(built, "html");
    const htmlRows = [...html.matchAll(/<tr class="published">(.*?)<\/tr>/g)].map((m) =>
      [...m[1]!.matchAll(/<td class="num"[^>]*>(.*?)<\/td>/g)].map((c) => c[1]!),
    );
    expect(htmlRows, "html").toEqual(numbers);
  });

  it("places the paper row a run reproduces right after it, in Tables 2 and 3", async () => {
    const built = await build({ table: "both", published: { all: false, matched: true, names: [] } });
    const [t2, t3] = built.tables;
    expect(t2!.blocks[0]!.rows.map((r) => r.label)).toEqual([
      "mistral / zero-shot",
      "Mistral-7B-Instruct-v0.2 (published)",
      "mistral / mind",
      "Mistral-7B-Instruct-v0.2 / MIND Distilled (published)",
      "llama / zero-shot",
      // "llama" names no paper model; the run's backend (baseline:majority) does.
      "Majority Vote (published)",
      "llama / mind",
    ]);
    const mistral = t3!.blocks.find((b) => b.title === "mistral")!;
    expect(mistral.rows.map((r) => r.label)).toEqual(["zero-shot", "Zero-shot (published)", "mind", "MIND Distilled (published)"]);
    // Published rows never take the best mark from measured ones.
    expect(
      t3!.blocks
        .flatMap((b) => b.rows)
        .filter((r) => r.published)
        .every((r) => r.cells.every((c) => !c.best)),
    ).toBe(true);
    expect(renderReport(built, "terminal")).not.toContain("GPT 4");
  });

  it("selects rows by model, group or label, and names the choices for an unknown one", async () => {
    const built = await build({ table: "both", published: parsePublishedOption("LLM API,llama2")! });
    const labels = built.tables.flatMap((t) =>
      t.blocks.flatMap((b) => b.rows.filter((r) => r.published).map((r) => `${t.table}:${r.label}`)),
    );
    expect(labels).toEqual([
      "2:LLAMA2-7B-chat (published)",
      "2:LLAMA2-7B-chat / MIND Distilled (published)",
      ...["ChatGPT", "ChatGPT (CoT)", "ChatGPT (CoT-SC)", "GPT 4", "GPT 4 (CoT)", "GPT 4 (CoT-SC)"].map((l) => `2:${l} (published)`),
      ...["Zero-shot", "w. Unimodal", "w. Critic Filter", "MIND Distilled"].map((l) => `3:${l} (published)`),
    ]);
    expect(() => parsePublishedOption("gpt-5")).toThrow(
      /--published "gpt-5": no row of the paper's Tables 2-3 .*one of: Random, Majority Vote, RoBERTa-Large/,
    );
    expect(parsePublishedOption("")).toEqual({ all: true, matched: false, names: [] });
    expect(parsePublishedOption("none")).toBeUndefined();
  });

  it("footnotes the paper's misprints wherever the affected rows are shown", async () => {
    const built = await build({ table: "both", published: true });
    const t2 = built.tables[0]!;
    const llamaMind = t2.blocks[0]!.rows.find((r) => r.label === "LLAMA2-7B-chat / MIND Distilled (published)")!;
    const gpt4 = t2.blocks[0]!.rows.filter((r) => r.label.startsWith("GPT 4 ("))[0]!;
    const noteOf = (mark: string) => t2.footnotes.find((f) => f.mark === mark)!.text;
    expect(llamaMind.footnotes.map(noteOf)).toEqual([expect.stringMatching(/understanding Avg 66\.15 is above all three of its splits/)]);
    expect(gpt4.footnotes.map(noteOf)).toEqual([expect.stringMatching(/GPT 4 and GPT 4 \(CoT\) are printed with the same numbers/)]);
    const t3 = built.tables[1]!;
    expect(t3.footnotes.map((f) => f.text)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Mistral-7B-Instruct-v0\.2 w\. Critic Filter: utilization Avg 57\.63 is below/),
        expect.stringMatching(/LLAMA-7B-chat: it is Llama-2-7b-chat/),
      ]),
    );
    const mark = llamaMind.footnotes[0]!;
    const marks: Record<(typeof REPORT_FORMATS)[number], RegExp> = {
      terminal: new RegExp(
        `LLAMA2-7B-chat / MIND Distilled \\(published\\) \\[${mark}\\][\\s\\S]*\\[${mark}\\] Table 2, LLAMA2-7B-chat / MIND Distilled: understanding Avg 66\\.15`,
      ),
      markdown: new RegExp(`\\| LLAMA2-7B-chat / MIND Distilled \\(published\\) \\[${mark}\\] \\|[\\s\\S]*- \\[${mark}\\] Table 2`),
      csv: /LLAMA2-7B-chat \/ MIND Distilled \(published\),yes,.*understanding Avg 66\.15 is above/,
      latex: new RegExp(`LLAMA2-7B-chat / MIND Distilled \\(published\\) \\[${mark}\\] &[\\s\\S]*\\[${mark}\\] Table 2, LLAMA2-7B-chat`),
      json: /"text": "Table 2, LLAMA2-7B-chat \/ MIND Distilled: understanding Avg 66\.15/,
      html: new RegExp(`LLAMA2-7B-chat / MIND Distilled \\(published\\) \\[${mark}\\]</td>[\\s\\S]*<li>\\[${mark}\\] Table 2`),
      svg: /./,
      "vega-lite": /./,
    };
    for (const format of REPORT_FORMATS) expect(renderReport(built, format), format).toMatch(marks[format]);
  });
});

/** The paper rows in the order the built tables show them (each beside its run, then the rest). */
function shownPaperRows(built: BuiltTables) {
  const ids = built.tables.flatMap((t) => t.blocks.flatMap((b) => b.rows.filter((r) => r.published).map((r) => r.paperId!)));
  expect(new Set(ids).size).toBe(ids.length);
  return ids.map((id) => paperRows().find((p) => p.id === id)!);
}

describe("inputs", () => {
  it("takes the later of two reports for the same cell, with a warning", async () => {
    const built = buildTables(await loadReports([files[0]!, files[0]!]), { table: "2" });
    expect(built.tables[0]!.blocks[0]!.rows).toHaveLength(1);
    expect(built.warnings).toHaveLength(2);
    expect(built.warnings[0]).toMatch(/both give "mistral \/ zero-shot" understanding; using .*report\.json \(the later one\)/);
  });

  it("reads a directory of run folders", async () => {
    const fromDir = await loadReports([join(files[0]!, "..", "..")]);
    expect(fromDir.map((r) => r.report.runId).sort()).toEqual(["majority", "random"]);
    const text = await readFile(files[0]!, "utf8");
    expect(
      fromDir.some((r) => JSON.stringify(r.report.results[0]!.splits.avg) === JSON.stringify(JSON.parse(text).results[0].splits.avg)),
    ).toBe(true);
  });
});
