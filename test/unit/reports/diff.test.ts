import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { diffReports } from "../../../harness/reports/diff.ts";
import { loadReportFile, type LoadedReport } from "../../../harness/reports/load.ts";
import { renderDiff } from "../../../harness/reports/render-diff.ts";
import { holmAdjust } from "../../../harness/stats/holm.ts";
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
      expect(split.paired).toMatchObject({
        baseOnly: 0,
        headOnly: 0,
        pValue: 1,
        pHolm: 1,
        lostIds: [],
        gainedIds: [],
        change: 0,
        ci95: { low: 0, high: 0 },
      });
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

  it("lists the questions that flipped, per split, in every format", async () => {
    const head = await variant("flipped", (r) => {
      plantRegression(r, "understanding", "easy", 5);
      // And two questions the other way: wrong in base, right in head.
      const wrong = r.results[0]!.outcomes.filter((o) => o.level === "medium" && o.parses.official === 0).slice(0, 2);
      for (const o of wrong) o.parses.official = o.parses.strict = 1;
    });
    const baseById = new Map(base.report.results[0]!.outcomes.map((o) => [o.id, o.parses.official]));
    const headOutcomes = head.report.results[0]!.outcomes;
    const lost = headOutcomes.filter((o) => baseById.get(o.id) === 1 && o.parses.official === 0).map((o) => o.id);
    const gained = headOutcomes.filter((o) => baseById.get(o.id) === 0 && o.parses.official === 1).map((o) => o.id);
    expect(gained).toHaveLength(2);
    const diff = diffReports(base, head);
    const split = (name: string) => diff.tasks[0]!.splits.find((s) => s.split === name)!;
    expect(split("easy").paired).toMatchObject({ lostIds: lost, gainedIds: [] });
    expect(split("medium").paired).toMatchObject({ lostIds: [], gainedIds: gained });
    expect(split("avg").paired).toMatchObject({ lostIds: lost, gainedIds: gained });
    expect(split("avg").paired.lostIds).toHaveLength(split("avg").paired.baseOnly);
    expect(diff.tasks[1]!.splits.every((s) => s.paired.lostIds.length + s.paired.gainedIds.length === 0)).toBe(true);

    const terminal = renderDiff(diff, "terminal");
    expect(terminal).toContain("lists cut at 10 ids, all of them with --format json");
    expect(terminal).toContain(
      `understanding / Easy: right->wrong (${lost.length}): ${lost.slice(0, 10).join(", ")} ... and ${lost.length - 10} more`,
    );
    expect(terminal).toContain(`understanding / Medium: wrong->right (2): ${gained.join(", ")}\n`);
    expect(terminal).not.toContain("utilization / ");
    const markdown = renderDiff(diff, "markdown");
    expect(markdown).toContain(`<details><summary>understanding / Easy: ${lost.length} right → wrong</summary>`);
    expect(markdown).toContain(`<details><summary>understanding / Avg: ${lost.length} right → wrong, 2 wrong → right</summary>`);
    expect(markdown).toContain(`- right → wrong (${lost.length}): ${lost.join(", ")}\n`);
    const json = JSON.parse(renderDiff(diff, "json"));
    expect(json.tasks[0].splits.find((s: { split: string }) => s.split === "avg").paired.lostIds).toEqual(lost);
  });

  it("cuts long flip lists with a count, and escapes hostile ids for the terminal and the PR comment", async () => {
    const hostile = ["</details><script>x</script>", "a`b|c", "\u001b[2Jwipe".replace("\\u001b", "\u001b")];
    const renamed = await variant("hostile-base", (r) => {
      const hard = r.results[0]!.outcomes.filter((o) => o.level === "hard" && o.parses.official === 1);
      hostile.forEach((id, i) => {
        hard[i]!.id = id;
      });
    });
    const head = await variant("hostile-head", (r) => {
      Object.assign(r, structuredClone(renamed.report));
      r.runId = "hostile-head";
      for (const o of r.results[0]!.outcomes.filter((o) => o.level === "hard" && o.parses.official === 1).slice(0, 250))
        o.parses.official = o.parses.strict = 0;
    });
    const diff = diffReports(renamed, head);
    const hard = diff.tasks[0]!.splits.find((s) => s.split === "hard")!;
    expect(hard.paired.lostIds.slice(0, 3)).toEqual(hostile);
    expect(hard.paired.lostIds).toHaveLength(250);
    const terminal = renderDiff(diff, "terminal");
    expect(terminal).not.toContain("\u001b");
    expect(terminal).toContain("\\u001b[2Jwipe");
    expect(terminal).toContain("... and 240 more");
    const markdown = renderDiff(diff, "markdown");
    expect(markdown).not.toContain("<script>");
    expect(markdown).not.toContain("</details><");
    expect(markdown).toContain("(250): &lt;/details&gt;&lt;script&gt;x&lt;/script&gt;, a\\`b\\|c, \\\\u001b[2Jwipe, FS_");
    expect(markdown).toContain("... and 50 more (all of them: `harness diff --format json`)");
    // The only </details> are the lines the renderer closes its two lists with.
    expect(markdown.match(/<\/details>/g)).toHaveLength(2);
    expect(markdown.split("\n").filter((l) => l === "</details>")).toHaveLength(2);
  });

  it("corrects McNemar's p across every split tested (Holm) and gates on the corrected p", async () => {
    // Eight easy questions lost, none gained: p = 2 / 2^8 = 0.0078 on Easy and on Avg, below 0.05
    // uncorrected; across the 8 splits tested Holm makes them 8 x and 7 x that: above 0.05.
    const head = await variant("borderline", (r) => {
      for (const o of r.results[0]!.outcomes.filter((o) => o.level === "easy" && o.parses.official === 1).slice(0, 8))
        o.parses.official = o.parses.strict = 0;
    });
    const diff = diffReports(base, head, { maxDrop: 0 });
    expect(diff).toMatchObject({ correction: "holm", tests: 8, ciMethod: "paired-bootstrap" });
    const all = diff.tasks.flatMap((t) => t.splits);
    const adjusted = holmAdjust(all.map((s) => s.paired.pValue));
    expect(all.map((s) => s.paired.pHolm)).toEqual(adjusted);
    const easy = all.find((s) => s.task === "understanding" && s.split === "easy")!;
    expect(easy.paired.pValue).toBeCloseTo(2 / 256, 12);
    expect(easy.paired.pHolm).toBeCloseTo((8 * 2) / 256, 12);
    expect(easy.significant).toBe(false);
    expect(diff.regressions).toEqual([]);
    // A looser alpha lets the corrected p through: then it is a regression, with both p-values.
    const loose = diffReports(base, head, { maxDrop: 0, alpha: 0.1 });
    expect(loose.regressions).toEqual([
      { task: "understanding", split: "easy", change: expect.any(Number), pValue: easy.paired.pValue, pHolm: easy.paired.pHolm },
      { task: "understanding", split: "avg", change: expect.any(Number), pValue: easy.paired.pValue, pHolm: easy.paired.pHolm },
    ]);
    const terminal = renderDiff(diff, "terminal");
    expect(terminal).toMatch(/McNemar p +Holm p +verdict/);
    expect(terminal).toContain("No regression: no split dropped by more than 0 point(s) with Holm-corrected McNemar p < 0.05 (8 tests).");
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
