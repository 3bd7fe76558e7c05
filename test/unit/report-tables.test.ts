import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { loadReports } from "../../harness/reports/load.ts";
import { renderReport, REPORT_FORMATS } from "../../harness/reports/render.ts";
import type { EvalReport } from "../../harness/reports/schema.ts";
import { buildTables, type BuiltTables, type ReportTable } from "../../harness/reports/tables.ts";
import { evalBaselines, readReport, writeVariant } from "../helpers/reports.ts";

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
    cells: TASKS.flatMap((task) => SPLITS.map((split) => report.results.find((r) => r.task === task)?.splits[split]?.official.accuracy.toFixed(2))),
    body: TASKS.flatMap((task) => {
      const result = report.results.find((r) => r.task === task);
      return [...SPLITS.map((split) => result?.splits[split]?.official.accuracy.toFixed(2)), String(result!.coverage!.answered)];
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
    for (const t of r.results) t.difficulty = { kind: "embeddings", approximate: true, description: "product-name embeddings (approximate)" };
  });
  files = [leveled.random, leveled.majority, avgOnly.majority, approximate];
  const labels = ["mistral / zero-shot", "mistral / mind", "llama / zero-shot", "llama / mind"];
  expected = await Promise.all(files.map(async (f, i) => expectedRow(labels[i]!, await readReport(f))));
});

const build = async (options: Parameters<typeof buildTables>[1] = {}): Promise<BuiltTables> => buildTables(await loadReports(files), { table: "2", ...options });
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
      const cells = line.split(" | ").slice(1).map((c) => strip(c.replace(/ \|$/, "")));
      expect(cells, row.label).toEqual(row.body.map((c) => c ?? "—"));
    }
  });

  it("csv", async () => {
    const records = parseCsv(renderReport(await build(), "csv"), { columns: true }) as Array<Record<string, string>>;
    const columns = ["Understanding", "Utilization"].flatMap((t) => ["Easy", "Medium", "Hard", "Avg"].map((s) => `${t} ${s}`));
    for (const row of expected) {
      const record = records.find((r) => r["row"] === row.label)!;
      expect(columns.map((c) => record[c]), row.label).toEqual(row.cells.map((c) => c ?? ""));
    }
  });

  it("latex", async () => {
    const lines = renderReport(await build(), "latex").split("\n");
    for (const row of expected) {
      const line = lines.find((l) => l.startsWith(`${row.label} &`))!;
      const cells = line.replace(/\s*\\\\$/, "").split(" & ").slice(1).map(strip);
      expect(cells, row.label).toEqual(row.body.map((c) => c ?? "---"));
    }
  });

  it("json", async () => {
    const json = JSON.parse(renderReport(await build(), "json")) as { tables: ReportTable[] };
    for (const row of expected) {
      const found = json.tables[0]!.blocks[0]!.rows.find((r) => r.label === row.label)!;
      expect(found.cells.map((c) => (c.value === undefined ? undefined : c.value.toFixed(2))), row.label).toEqual(row.cells);
      expect(found.cells.every((c) => c.value === undefined || Number(c.value.toFixed(2)) === c.value)).toBe(true);
    }
  });

  it("html", async () => {
    const html = renderReport(await build(), "html");
    for (const row of expected) {
      const tr = new RegExp(`<tr[^>]*><td class="label">${row.label}</td>(.*?)</tr>`).exec(html)![1]!;
      const cells = [...tr.matchAll(/<td class="num"[^>]*>(.*?)<\/td>/g)].map((m) => strip(m[1]!.replace(/<sup.*?<\/sup>/g, "").replace(/<[^>]+>/g, "")));
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

  it("--metric strict prints the strict numbers", async () => {
    const report = await readReport(files[1]!);
    const json = JSON.parse(renderReport(await build({ metric: "strict" }), "json")) as { tables: ReportTable[] };
    const row = json.tables[0]!.blocks[0]!.rows.find((r) => r.label === "mistral / mind")!;
    expect(row.cells[3]!.value).toBe(report.results[0]!.splits.avg!.strict.accuracy);
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

  it("adds the papers' numbers only with --published, labelled (published)", async () => {
    expect(renderReport(await build({ table: "both" }), "terminal")).not.toContain("(published)");
    const text = renderReport(await build({ table: "both", published: true }), "markdown");
    expect(text).toMatch(/\| Random \(published\) \| 25\.00 \| 25\.00 \| 25\.00 \| 25\.00 \| 25\.00 \| 25\.00 \| 25\.00 \| 25\.00 \|/);
    expect(text).toMatch(/\| Mistral-7B-Instruct-v0\.2 \/ zero-shot \(published\) \| — \| — \| — \| 75\.50 \|/);
    expect(text).toMatch(/\| Mistral-7B-Instruct-v0\.2 \/ MIND distilled \(published\) \| — \| — \| — \| 76\.97 \|/);
    for (const [recipe, value] of [["zero-shot", "75.50"], ["w. unimodal", "73.72"], ["w. critic filter", "72.29"], ["MIND distilled", "76.97"]]) {
      expect(text).toContain(`| Mistral-7B-Instruct-v0.2 (published) | ${recipe} (published) | — | — | — | ${value} |`);
    }
    // Published rows never take the best mark from measured ones.
    const built = await build({ table: "3", published: true });
    expect(built.tables[0]!.blocks.flatMap((b) => b.rows).filter((r) => r.published).every((r) => r.cells.every((c) => !c.best))).toBe(true);
  });
});

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
    expect(fromDir.some((r) => JSON.stringify(r.report.results[0]!.splits.avg) === JSON.stringify(JSON.parse(text).results[0].splits.avg))).toBe(true);
  });
});
