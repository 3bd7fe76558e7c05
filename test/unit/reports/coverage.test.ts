import { copyFile, mkdir, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { beforeAll, describe, expect, it } from "vitest";
import { loadReports } from "../../../harness/reports/load.ts";
import { renderReport, REPORT_FORMATS, type ReportFormat } from "../../../harness/reports/render.ts";
import { escapeXml } from "../../../harness/render/charts.ts";
import { escapeLatex } from "../../../harness/reports/formats/latex.ts";
import { writeRunReport } from "../../../harness/reports/run-report.ts";
import { buildTables, type BuiltTables } from "../../../harness/reports/tables.ts";
import { paperRows } from "../../../harness/published/tables.ts";
import { evalBaselines, evalWithFailures, readReport, writeVariant } from "../../helpers/reports.ts";

let dir: string;
let limited: string;
let failing: string;
let full: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "harness-coverage-"));
  limited = (await evalBaselines(join(dir, "limited"), { limit: 100, labels: { majority: { backbone: "mistral", recipe: "mind" } } }))
    .majority;
  full = (await evalBaselines(join(dir, "full"))).majority;
  failing = await evalWithFailures(join(dir, "failing"), { failEvery: 10 });
});

const build = async (files: string[], options: Parameters<typeof buildTables>[1] = {}): Promise<BuiltTables> =>
  buildTables(await loadReports(files), { table: "2", ...options });

describe("eval records coverage", () => {
  it("a --limit run is a subset, a run with failed questions says how many, a full run is complete", async () => {
    const [l, f, c] = await Promise.all([limited, failing, full].map(readReport));
    expect(l!.results[0]!.coverage).toEqual({
      scorable: 2245,
      selected: 100,
      answered: 100,
      failed: 0,
      subset: { limit: 100, ids: null },
      complete: false,
    });
    const failed = f!.results[0]!.questions.apiErrors;
    expect(failed).toBeGreaterThan(100);
    expect(f!.results[0]!.coverage).toEqual({
      scorable: 2245,
      selected: 2245,
      answered: 2245 - failed,
      failed,
      subset: null,
      complete: false,
    });
    expect(c!.results.map((r) => r.coverage!.complete)).toEqual([true, true]);
    // eval's own summary says so too.
    expect(await readFile(join(limited, "..", "report.md"), "utf8")).toContain(
      "- understanding: PARTIAL: 100 of 2245 scored questions answered (subset: --limit 100)",
    );
    expect(await readFile(join(failing, "..", "report.md"), "utf8")).toMatch(
      /- utilization: PARTIAL: \d+ of 2143 scored questions answered \(\d+ failed\)/,
    );
    // No NaN anywhere: JSON would have written it as null.
    for (const path of [limited, failing, full]) expect(await readFile(path, "utf8")).not.toMatch(/"(accuracy|low|high)": null/);
  });

  it("writes a split with no answered question as null, and refuses to write NaN", async () => {
    const allFailed = await evalWithFailures(join(dir, "all-failed"), {
      failEvery: 1,
      task: "understanding",
      limit: 5,
      runId: "all-failed",
    });
    const text = await readFile(allFailed, "utf8");
    expect(JSON.parse(text).results[0].splits).toEqual({ avg: null });
    expect(text).not.toContain("NaN");
    const [loaded] = await loadReports([allFailed]);
    expect(renderReport(buildTables([loaded!], { table: "2" }), "markdown")).toMatch(
      /\| openai:test-model \[partial: --limit 5; 5 failed\] \| — \| — \| — \| — \| 0\/2245 \|/,
    );
    const report = await readReport(full);
    report.results[0]!.splits.avg!.parses.official!.accuracy = Number.NaN;
    await expect(writeRunReport(join(dir, "nan"), report, [])).rejects.toThrow(
      /does not match its schema at "results\.0\.splits\.avg\.parses\.official\.accuracy"/,
    );
  });
});

describe("report marks partial rows in every format and shows n", () => {
  const limitedLabel = "mistral / mind [partial: --limit 100]";
  const failingLabel = /openai:test-model \[partial: \d+ failed\]/;
  const marks: Record<ReportFormat, (text: string) => void> = {
    terminal: (t) => {
      expect(t).toMatch(/^mistral \/ mind \[partial: --limit 100\] +— +— +— +\d+\.\d\d +100\/2245 .* 100\/2143$/m);
      expect(t).toMatch(/^openai:test-model \[partial: \d+ failed\] +— +— +— +\d+\.\d\d +\d+\/2245 /m);
      expect(t).toMatch(/^baseline:majority +— +— +— +\d+\.\d\d +2245 /m);
      expect(t).toMatch(
        /PARTIAL rows .*mistral \/ mind, understanding: 100 of 2245 scored questions answered \(subset: --limit 100\).*openai:test-model, understanding: \d+ of 2245 scored questions answered \(\d+ failed\)/,
      );
    },
    markdown: (t) => {
      expect(t).toMatch(/^\| mistral \/ mind \[partial: --limit 100\] \| — \| — \| — \| \d+\.\d\d \| 100\/2245 \|/m);
      expect(t).toMatch(/^\| openai:test-model \[partial: \d+ failed\] \| .* \| \d+\/2245 \|/m);
    },
    csv: (t) => {
      const records = parseCsv(t, { columns: true }) as Array<Record<string, string>>;
      expect(records.find((r) => r["row"] === "mistral / mind")).toMatchObject({
        partial: "partial: --limit 100",
        "Understanding n": "100/2245",
        "Utilization n": "100/2143",
      });
      expect(records.find((r) => r["row"] === "openai:test-model")!["partial"]).toMatch(/^partial: \d+ failed$/);
      expect(records.find((r) => r["row"] === "baseline:majority")).toMatchObject({ partial: "", "Understanding n": "2245" });
    },
    latex: (t) => {
      expect(t).toMatch(/^mistral \/ mind \[partial: --limit 100\] & --- & --- & --- & \d+\.\d\d & 100\/2245 &/m);
      expect(t).toMatch(failingLabel);
    },
    json: (t) => {
      const rows = (JSON.parse(t) as BuiltTables).tables[0]!.blocks[0]!.rows;
      expect(rows.find((r) => r.label === "mistral / mind")).toMatchObject({
        partial: "partial: --limit 100",
        coverage: { understanding: { answered: 100, scorable: 2245, complete: false, subset: { limit: 100 } } },
      });
      expect(rows.find((r) => r.label === "openai:test-model")!.cells.every((c) => c.value === undefined || c.partial)).toBe(true);
      expect(rows.find((r) => r.label === "baseline:majority")!.partial).toBeUndefined();
    },
    html: (t) => {
      expect(t).toContain(`<tr class="partial"><td class="label">${limitedLabel}</td>`);
      expect(t).toMatch(
        /<p class="partial-mark">PARTIAL: mistral \/ mind \[partial: --limit 100\]; openai:test-model \[partial: \d+ failed\]/,
      );
      expect(t).toContain('<td class="n" data-task="understanding">100/2245</td>');
    },
    svg: (t) => {
      expect(t).toContain(`data-series="${limitedLabel}"`);
      expect(t).toMatch(/data-series="openai:test-model \[partial: \d+ failed\]"/);
    },
    "vega-lite": (t) => {
      expect(t).toContain(`"series": "${limitedLabel}"`);
      expect(t).toMatch(/"series": "openai:test-model \[partial: \d+ failed\]"/);
    },
  };
  for (const format of REPORT_FORMATS) {
    it(format, async () => {
      marks[format](renderReport(await build([limited, failing, full]), format));
    });
  }

  it("loads a report written before coverage was recorded, derives it and says so", async () => {
    const old = await writeVariant(limited, join(dir, "old"), (r) => {
      for (const t of r.results) delete t.coverage;
    });
    const built = await build([old]);
    const row = built.tables[0]!.blocks[0]!.rows[0]!;
    expect(row.partial).toBe("partial: --limit 100");
    expect(row.coverage.understanding).toMatchObject({ answered: 100, scorable: 2245, recorded: false });
    expect(built.tables[0]!.notes.join("\n")).toContain("Coverage of mistral / mind is derived from question counts");
  });
});

describe("report finds reports in nested folders", () => {
  it("reads every cell of an ablation's folder, any depth", async () => {
    const root = join(dir, "ablation");
    for (const cell of ["mistral-mind", "mistral-zero-shot"]) {
      await mkdir(join(root, "runs", "ablation", "cells", cell), { recursive: true });
      await copyFile(full, join(root, "runs", "ablation", "cells", cell, "report.json"));
    }
    await mkdir(join(root, "node_modules", "x"), { recursive: true });
    await copyFile(full, join(root, "node_modules", "x", "report.json"));
    const loaded = await loadReports([root]);
    expect(loaded.map((l) => l.path)).toEqual(
      ["mistral-mind", "mistral-zero-shot"].map((c) => join(root, "runs", "ablation", "cells", c, "report.json")),
    );
  });
});

describe("--gap: ours minus the paper's, per split", () => {
  it("subtracts the matched paper row and flags a paper number outside our interval", async () => {
    const built = await build([full, limited, failing], { table: "2", gap: true });
    const gap = built.tables.find((t) => t.table === "gap")!;
    const report = await readReport(full);
    const majority = gap.blocks[0]!.rows.find((r) => r.label === "baseline:majority")!;
    expect(majority.paperLabel).toBe("Table 2: Majority Vote");
    const paper = paperRows(2).find((r) => r.model === "Majority Vote")!;
    const avg = gap.columns.findIndex((c) => c.task === "understanding" && c.split === "avg");
    const ours = report.results[0]!.splits.avg!.parses.official!;
    const cell = majority.cells[avg]!;
    expect(cell.value).toBeCloseTo(ours.accuracy - paper.values.understanding.avg.value, 2);
    expect(cell.paper).toBe("26.15");
    expect(cell.outside).toBe(
      paper.values.understanding.avg.value < ours.ci95.low || paper.values.understanding.avg.value > ours.ci95.high,
    );
    // The limited run (majority answers, labelled as MIND-distilled Mistral) is far below the paper's 76.97: flagged.
    const mind = gap.blocks[0]!.rows.find((r) => r.label === "mistral / mind")!;
    expect(mind.paperLabel).toBe("Table 2: Mistral-7B-Instruct-v0.2 / MIND Distilled");
    expect(mind.cells[avg]!.outside).toBe(true);
    expect(renderReport(built, "terminal")).toMatch(
      /^mistral \/ mind \[partial: --limit 100\] +Table 2: Mistral-7B-Instruct-v0\.2 \/ MIND Distilled +— +— +— +-\d+\.\d\d! +100\/2245/m,
    );
    // The Majority Vote row's footnote follows it into the gap view.
    expect(majority.footnotes).toHaveLength(1);
    expect(gap.notes.join("\n")).toContain("No paper row for: openai:test-model");
    for (const format of REPORT_FORMATS) expect(renderReport(built, format), format).toMatch(/Gap to the paper|"gap"|gap/i);
  });
});

describe("settings under the tables", () => {
  it("prints the decoding and the training data's contamination when the report records them", async () => {
    const variant = await writeVariant(full, join(dir, "settings"), (r) => {
      r.config.decoding = {
        maxTokens: 16,
        temperature: 0.7,
        topP: 0.9,
        samples: 1,
        preset: "model-default",
        from: "generation_config.json of mistralai/Mistral-7B-Instruct-v0.2",
        notSent: { top_k: 50 },
      };
      r.training = {
        recipe: "mind",
        dataset: "datasets/sft/mind.json",
        records: 1000,
        decontaminated: false,
        benchmarkOverlap: { understanding: { questions: 1200, scored: 2245 }, utilization: { questions: 1100, scored: 2143 } },
      };
    });
    const built = await build([variant]);
    const line =
      "decoding: zero-shot, temperature 0.7, top_p 0.9, max_tokens 16 (model-default: generation_config.json of mistralai/Mistral-7B-Instruct-v0.2); the model's top_k 50 not sent (no such request field); " +
      "training: mind data datasets/sft/mind.json (1000 records), not decontaminated (all intentions, as the paper); scored questions whose product pair is in the training data: understanding 1200 of 2245, utilization 1100 of 2143";
    for (const format of ["terminal", "markdown", "json"] as const) expect(renderReport(built, format), format).toContain(line);
    expect(renderReport(built, "html")).toContain(escapeXml(line));
    expect(renderReport(built, "latex")).toContain(escapeLatex(line));
    expect(renderReport(await build([full]), "terminal")).toMatch(
      /Settings: baseline:majority: decoding: zero-shot, temperature 0\.1, top_p 1, max_tokens 10 \(official: /,
    );
  });
});
