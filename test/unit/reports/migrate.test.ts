import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffReports } from "../../../harness/reports/diff.ts";
import { parseReport } from "../../../harness/reports/load.ts";
import { intervalMethodOf, intervalNote, reportIntervalMethods } from "../../../harness/reports/parses.ts";
import { renderRunText } from "../../../harness/reports/run-report.ts";
import { renderReport } from "../../../harness/reports/render.ts";
import { buildTables } from "../../../harness/reports/tables.ts";
import { wilsonInterval } from "../../../harness/stats/proportion.ts";

/** A report@1 file as the last release (7711ae2) wrote it; see test/integration/report-parses.test.ts. */
const V1_FIXTURE = join(import.meta.dirname, "..", "..", "fixtures", "reports", "report-v1-7711ae2.json");
const v1Text = readFileSync(V1_FIXTURE, "utf8");

describe("report@1 migration", () => {
  it("moves each parse's split accuracy and outcome under parses, with the split's n", () => {
    const old = JSON.parse(v1Text);
    const report = parseReport(v1Text, V1_FIXTURE);
    const oldAvg = old.results[1].splits.avg;
    expect(report.results[1]!.splits.avg).toEqual({
      n: oldAvg.n,
      parses: { official: { n: oldAvg.n, ...oldAvg.official }, strict: { n: oldAvg.n, ...oldAvg.strict } },
      unreadable: oldAvg.unreadable,
    });
    expect(report.results[1]!.outcomes.map((o) => o.parses)).toEqual(
      old.results[1].outcomes.map((o: { official: number; strict: number }) => ({ official: o.official, strict: o.strict })),
    );
  });

  it("keeps a report@1 logprob accuracy (with its own n) for tables, and refuses to diff it: @1 has no per-question logprob", () => {
    const old = JSON.parse(v1Text);
    old.results[0].splits.avg.logprob = { n: 25, correct: 20, accuracy: 80, ci95: { low: 64, high: 96 } };
    const report = parseReport(JSON.stringify(old), "old.json");
    expect(report.results[0]!.splits.avg!.parses.logprob).toEqual({ n: 25, correct: 20, accuracy: 80, ci95: { low: 64, high: 96 } });
    const built = buildTables([{ path: "old.json", report }], { table: "2", parse: "logprob" });
    expect(built.tables[0]!.blocks[0]!.rows[0]!.cells.find((c) => c.value !== undefined)).toMatchObject({ value: 80, n: 25 });
    const loaded = { path: "old.json", report };
    expect(() => diffReports(loaded, loaded, { parse: "logprob" })).toThrow(
      'old.json: has "logprob" accuracies but no per-question "logprob" outcomes (a report written before named parses): diff cannot pair its questions',
    );
  });
});

describe("intervals of older reports", () => {
  it("load and render as percentile bootstraps: no ciMethod stored, bootstrap shown", () => {
    const report = parseReport(v1Text, V1_FIXTURE);
    const avg = report.results[0]!.splits.avg!.parses.official!;
    expect(avg.ciMethod).toBeUndefined();
    expect(intervalMethodOf(avg)).toBe("bootstrap");
    expect(reportIntervalMethods(report)).toEqual(["bootstrap"]);
    expect(intervalNote(report)).toBe(
      `95% intervals of each accuracy: percentile bootstrap (${report.config.bootstrapResamples} resamples, seed ${report.config.seed}; written before Wilson intervals)`,
    );
    const built = buildTables([{ path: "old.json", report }], { table: "2", parse: "official" });
    const cell = built.tables[0]!.blocks[0]!.rows[0]!.cells.find((c) => c.value !== undefined)!;
    expect(cell).toMatchObject({ ci95: avg.ci95, ciMethod: "bootstrap" });
    expect(renderRunText(report)).toContain("95% intervals of each accuracy: percentile bootstrap");
    expect(renderReport(built, "html")).toContain(`title="95% CI (percentile bootstrap) ${avg.ci95.low.toFixed(2)}–`);
    // A report of today's format beside it: its cells say Wilson.
    const today = structuredClone(report);
    for (const result of today.results)
      for (const split of Object.values(result.splits))
        for (const accuracy of Object.values(split?.parses ?? {})) {
          accuracy.ciMethod = "wilson";
          accuracy.ci95 = wilsonInterval(accuracy.correct, accuracy.n);
        }
    const html = renderReport(buildTables([{ path: "new.json", report: today }], { table: "2", parse: "official" }), "html");
    expect(html).toContain("95% CI (Wilson score) ");
    expect(html).not.toContain("percentile bootstrap");
  });
});
