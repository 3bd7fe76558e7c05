import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { diffReports } from "../../../harness/reports/diff.ts";
import { loadReportFile, type LoadedReport } from "../../../harness/reports/load.ts";
import { renderDiff } from "../../../harness/reports/render-diff.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import { evalBaselines, plantRegression, restate, writeVariant } from "../../helpers/reports.ts";

let dir: string;
let base: LoadedReport;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "harness-diff-"));
  const paths = await evalBaselines(join(dir, "runs"), { difficulty: true });
  base = await loadReportFile(paths.majority);
});

/** A changed copy of the base, its stored numbers restated from its outcomes as eval would write them. */
async function variant(name: string, change: Parameters<typeof writeVariant>[2]): Promise<LoadedReport> {
  return loadReportFile(
    await writeVariant(base.path, join(dir, name), (report) => {
      change(report);
      restate(report);
    }),
  );
}

describe("diffReports", () => {
  it("finds nothing between a report and an identical rerun", async () => {
    const rerun = await variant("rerun", (r) => {
      r.runId = "rerun";
      r.createdAt = "2030-01-01T00:00:00.000Z";
    });
    const diff = diffReports(base, rerun);
    expect(diff.regressions).toEqual([]);
    expect(diff.changes).toEqual([]);
    for (const split of diff.tasks.flatMap((t) => t.splits)) {
      expect(split.change).toBe(0);
      expect(split.paired).toMatchObject({ baseOnly: 0, headOnly: 0, pValue: 1, change: 0, ci95: { low: 0, high: 0 } });
    }
    expect(diff.tasks.map((t) => t.splits.map((s) => s.split))).toEqual([
      ["easy", "medium", "hard", "avg"],
      ["easy", "medium", "hard", "avg"],
    ]);
  });

  it("flags a planted 5-point drop on one split, and only that split", async () => {
    let flips = 0;
    const head = await variant("regressed", (r) => {
      flips = plantRegression(r, "understanding", "easy", 5);
    });
    const diff = diffReports(base, head);
    expect(diff.regressions.map((r) => `${r.task}/${r.split}`)).toEqual(["understanding/easy"]);
    const easy = diff.tasks[0]!.splits.find((s) => s.split === "easy")!;
    expect(easy.change).toBeLessThanOrEqual(-5);
    expect(easy.paired).toMatchObject({ baseOnly: flips, headOnly: 0 });
    expect(easy.paired.pValue).toBeLessThan(1e-4);
    expect(easy.paired.ci95!.high).toBeLessThan(0);
    // Avg moved too, but by less than --max-drop 1 point: reported, not a regression.
    const avg = diff.tasks[0]!.splits.find((s) => s.split === "avg")!;
    expect(avg.significant).toBe(true);
    expect(avg.regression).toBe(false);
  });

  it("does not fail a significant drop within --max-drop, nor a large drop that is not significant", async () => {
    const head = await variant("small-drop", (r) => {
      plantRegression(r, "understanding", "easy", 5);
    });
    expect(diffReports(base, head, { maxDrop: 6 }).regressions).toEqual([]);
    expect(diffReports(base, head, { alpha: 1e-12 }).regressions).toEqual([]);
  });

  it("compares the strict parse with --metric strict", async () => {
    const head = await variant("strict-only", (r) => {
      const task = r.results[0]!;
      for (const o of task.outcomes) if (o.level === "easy" && o.parses.strict === 1) o.parses.strict = 0;
    });
    expect(diffReports(base, head).regressions).toEqual([]);
    // Avg holds the easy questions too: restated honestly, it drops with them.
    expect(diffReports(base, head, { parse: "strict" }).regressions.map((r) => r.split)).toEqual(["easy", "avg"]);
  });

  it("reports questions only in one report and leaves them out of the paired test", async () => {
    const head = await variant("fewer", (r) => {
      r.results[0]!.outcomes = r.results[0]!.outcomes.filter((o) => o.id !== "FS_1" && o.id !== "FS_2");
    });
    const diff = diffReports(base, head);
    expect(diff.tasks[0]!.onlyInBase).toEqual(["FS_1", "FS_2"]);
    const avg = diff.tasks[0]!.splits.find((s) => s.split === "avg")!;
    expect(avg.paired.n).toBe(base.report.results[0]!.outcomes.length - 2);
    expect(renderDiff(diff, "terminal")).toContain("2 question(s) only in base (FS_1, FS_2), excluded from the paired test");
  });

  it("calls out changed mode, decoding, backend and data checksums", async () => {
    const head = await variant("changed", (r) => {
      r.config.mode = "cot";
      r.config.decoding.maxTokens = 200;
      r.backend.model = "other-model";
      r.results[1]!.data.sha256 = "0".repeat(64);
      r.results[1]!.data.matchesRelease = false;
    });
    const what = diffReports(base, head).changes.map((c) => c.what);
    expect(what).toEqual(expect.arrayContaining(["config.mode", "config.decoding.maxTokens", "backend.model", "utilization: data sha256"]));
    expect(what).not.toContain("understanding: data sha256");
  });

  it("calls a head incomplete when it lacks a task or split, has failed questions, is a smaller subset or pairs too few", async () => {
    expect(diffReports(base, base).incomplete).toEqual([]);
    const noUtilization = await variant("no-utilization", (r) => {
      // A run of one task, as eval writes it (config.tasks names what it ran).
      r.config.tasks = ["understanding"];
      r.results = r.results.filter((t) => t.task === "understanding");
    });
    expect(diffReports(base, noUtilization).incomplete).toEqual(["head lacks task(s) the base has: utilization"]);
    const noHard = await variant("no-hard", (r) => {
      // A difficulty file without hard levels: no question is hard, so there is no Hard split.
      for (const o of r.results[0]!.outcomes) if (o.level === "hard") delete o.level;
      delete r.results[0]!.splits.hard;
    });
    expect(diffReports(base, noHard).incomplete).toEqual(["head lacks understanding split(s) the base has: hard"]);
    const failed = await variant("failed", (r) => {
      const t = r.results[1]!;
      for (const o of t.outcomes.slice(0, 30)) o.parses.official = o.parses.strict = null;
      t.questions.apiErrors = 30;
      t.coverage = { ...t.coverage!, answered: t.coverage!.answered - 30, failed: 30, complete: false };
    });
    expect(diffReports(base, failed).incomplete).toEqual(["head utilization: 30 question(s) failed (not scored)"]);
    // As many questions, but 245 of them other ids (no subset): only the pairing check sees it.
    const unpaired = await variant("unpaired", (r) => {
      for (const o of r.results[0]!.outcomes.slice(2000)) o.id = `other-${o.id}`;
    });
    expect(diffReports(base, unpaired).incomplete).toEqual([
      "understanding: only 2000 of the base's 2245 answered questions are paired with the head (less than 95%)",
    ]);
    expect(diffReports(base, unpaired, { minPaired: 0.8 }).incomplete).toEqual([]);
    const subset = await variant("subset", (r) => {
      r.config.limit = 100;
      for (const t of r.results) {
        t.outcomes = t.outcomes.slice(0, 100);
        t.coverage = { ...t.coverage!, selected: 100, answered: 100, subset: { limit: 100, ids: null }, complete: false };
      }
    });
    expect(diffReports(base, subset).incomplete).toEqual([
      "head understanding is a subset: 100 of 2245 scored questions (--limit 100), base has 2245",
      "head utilization is a subset: 100 of 2143 scored questions (--limit 100), base has 2143",
    ]);
    // Two runs on the same subset compare fine.
    expect(diffReports(subset, subset).incomplete).toEqual([]);
    expect(renderDiff(diffReports(base, noUtilization), "terminal")).toContain(
      "INCOMPLETE: the head does not cover what the base does (head lacks task(s) the base has: utilization)",
    );
    expect(() => diffReports(base, base, { minPaired: 2 })).toThrow(/--min-paired must be a share between 0 and 1/);
  });

  it("refuses two reports with no task in common", async () => {
    const onlyUnderstanding = await variant("only-u", (r) => {
      // A run of one task, as eval writes it (config.tasks names what it ran).
      r.config.tasks = ["understanding"];
      r.results = r.results.filter((t) => t.task === "understanding");
    });
    const onlyUtilization = await variant("only-t", (r) => {
      // A run of one task, as eval writes it (config.tasks names what it ran).
      r.config.tasks = ["utilization"];
      r.results = r.results.filter((t) => t.task === "utilization");
    });
    expect(() => diffReports(onlyUnderstanding, onlyUtilization)).toThrow(/no task in common/);
    try {
      diffReports(onlyUnderstanding, onlyUtilization);
    } catch (error) {
      expect(error).toBeInstanceOf(HarnessError);
      expect((error as HarnessError).exitCode).toBe(2);
    }
    const partial = diffReports(base, onlyUnderstanding);
    expect(partial.tasks.map((t) => t.task)).toEqual(["understanding"]);
    expect(partial.tasksOnlyInBase).toEqual(["utilization"]);
  });

  it("renders a PR comment that says which split regressed", async () => {
    const head = await variant("regressed-md", (r) => {
      plantRegression(r, "utilization", "hard", 5);
    });
    const markdown = renderDiff(diffReports(base, head), "markdown");
    expect(markdown.startsWith("<!-- harness-diff -->")).toBe(true);
    expect(markdown).toContain("❌");
    expect(markdown).toMatch(/REGRESSION in utilization\/hard/);
    expect(markdown).toMatch(/\| Utilization \| Hard \|.*\| REGRESSION \|/);
  });
});
