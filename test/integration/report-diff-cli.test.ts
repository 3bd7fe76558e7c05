import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { EvalReport } from "../../harness/reports/schema.ts";
import { runHarness } from "../helpers/cli.ts";
import { evalBaselines, plantRegression, writeVariant } from "../helpers/reports.ts";

let dir: string;
let base: string;
let other: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "harness-cli-rd-"));
  const runs = await evalBaselines(join(dir, "runs"), { difficulty: true, labels: { majority: { backbone: "mistral", recipe: "mind" } } });
  base = runs.majority;
  other = runs.random;
});

describe("harness diff", () => {
  it("exits 0 for an identical rerun", async () => {
    const rerun = await writeVariant(base, join(dir, "rerun"), (r) => {
      r.runId = "rerun";
    });
    const result = await runHarness(["diff", base, rerun]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain("No regression");
  });

  it("exits 1 and names the split for a planted 5-point regression", async () => {
    const regressed = await writeVariant(base, join(dir, "regressed"), (r) => {
      plantRegression(r, "utilization", "medium", 5);
    });
    const before = JSON.parse(await readFile(base, "utf8")) as EvalReport;
    const after = JSON.parse(await readFile(regressed, "utf8")) as EvalReport;
    const wasRight = new Set(before.results[1]!.outcomes.filter((o) => o.parses.official === 1).map((o) => o.id));
    const flipped = after.results[1]!.outcomes.filter((o) => o.parses.official === 0 && wasRight.has(o.id)).map((o) => o.id);
    expect(flipped.length).toBeGreaterThan(10);
    const out = join(dir, "comment.md");
    const result = await runHarness(["diff", base, regressed, "--format", "markdown", "--out", out]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /regression: utilization\/medium \(-\d+\.\d\d points, Holm p[<=]\d.*\) dropped by more than 1 point\(s\) with Holm-corrected McNemar p < 0\.05 \(8 tests\)/,
    );
    expect(result.stderr).not.toMatch(/understanding\//);
    const comment = await readFile(out, "utf8");
    expect(comment).toMatch(/\| Utilization \| Medium \|.*REGRESSION/);
    expect(comment).toMatch(/\| McNemar p \| Holm p \| verdict \|/);
    // Every flipped id in a collapsible list, per split.
    expect(comment).toContain(`<details><summary>utilization / Medium: ${flipped.length} right → wrong</summary>`);
    expect(comment).toContain(`- right → wrong (${flipped.length}): ${flipped.join(", ")}\n`);
    // The terminal lists the first ten and says how many more; JSON has them all with Holm p beside McNemar's.
    const terminal = await runHarness(["diff", base, regressed]);
    expect(terminal.stdout).toContain(
      `utilization / Medium: right->wrong (${flipped.length}): ${flipped.slice(0, 10).join(", ")} ... and ${flipped.length - 10} more`,
    );
    expect(terminal.stdout).toMatch(/McNemar p +Holm p +verdict/);
    const json = JSON.parse((await runHarness(["diff", base, regressed, "--format", "json"])).stdout);
    const medium = json.tasks[1].splits.find((s: { split: string }) => s.split === "medium");
    expect(medium.paired.lostIds).toEqual(flipped);
    expect(medium.paired.gainedIds).toEqual([]);
    expect(medium.paired.pHolm).toBeGreaterThanOrEqual(medium.paired.pValue);
    expect(json).toMatchObject({ correction: "holm", tests: 8, ciMethod: "paired-bootstrap" });
    // --out writes atomically: no temp files left beside it.
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    // A looser gate lets the same change through.
    expect((await runHarness(["diff", base, regressed, "--max-drop", "10"])).exitCode).toBe(0);
  });

  it("exits 2 with the file's name for a file that is not a report", async () => {
    const notReport = join(dir, "notes.json");
    await writeFile(notReport, '{"hello": "world"}');
    const result = await runHarness(["diff", base, notReport]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`${notReport}: not a harness report`);
  });

  it("exits 2 for two reports with no task in common", async () => {
    const onlyUnderstanding = await writeVariant(base, join(dir, "u"), (r) => {
      // A run of one task, as eval writes it (config.tasks names what it ran).
      r.config.tasks = ["understanding"];
      r.results = r.results.filter((t) => t.task === "understanding");
    });
    const onlyUtilization = await writeVariant(base, join(dir, "t"), (r) => {
      // A run of one task, as eval writes it (config.tasks names what it ran).
      r.config.tasks = ["utilization"];
      r.results = r.results.filter((t) => t.task === "utilization");
    });
    const result = await runHarness(["diff", onlyUnderstanding, onlyUtilization]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/have no task in common/);
  });

  it("exits 1 naming what the head lacks, unless --allow-partial", async () => {
    const onlyUnderstanding = await writeVariant(base, join(dir, "head-u"), (r) => {
      // A run of one task, as eval writes it (config.tasks names what it ran).
      r.config.tasks = ["understanding"];
      r.results = r.results.filter((t) => t.task === "understanding");
    });
    const result = await runHarness(["diff", base, onlyUnderstanding]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "harness: error: incomplete comparison: head lacks task(s) the base has: utilization; pass --allow-partial to accept it",
    );
    expect(result.stdout).toContain("INCOMPLETE");
    const allowed = await runHarness(["diff", base, onlyUnderstanding, "--allow-partial"]);
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    expect(allowed.stderr).toContain(
      "warning: incomplete comparison (allowed by --allow-partial): head lacks task(s) the base has: utilization",
    );
  });

  it("prints JSON with --format json", async () => {
    const result = await runHarness(["diff", other, base, "--format", "json", "--seed", "3", "--bootstrap", "200"]);
    expect(result.exitCode, result.stderr).toBe(0);
    const diff = JSON.parse(result.stdout);
    expect(diff).toMatchObject({ schema: "intentionqa-harness/diff@1", seed: 3, resamples: 200, metric: "official" });
    expect(diff.changes.map((c: { what: string }) => c.what)).toContain("backend.id");
  });
});

describe("harness report", () => {
  it("writes Table 3 as markdown to --out", async () => {
    const out = join(dir, "tables.md");
    const result = await runHarness(["report", join(dir, "runs"), "--table", "3", "--format", "markdown", "--published", "--out", out]);
    expect(result.exitCode, result.stderr).toBe(0);
    const text = await readFile(out, "utf8");
    expect(text).toContain("### Table 3: recipes per backbone");
    expect(text).toContain("| mistral | mind |");
    expect(text).toContain("(published)");
    expect(text).not.toContain("### Table 2");
    // Every paper row of Table 3, each printed number as printed.
    expect(text).toContain(
      "| mistral | MIND Distilled (published) | 78.57 | 74.31 | 80.89 | 76.97 |  | 61.14 | 62.02".replace(
        " | 62.02",
        " | 65.42 | 62.16 | 62.02",
      ),
    );
    expect(text).toMatch(
      /\| LLAMA-7B-chat \(published\) \| w\. Unimodal \(published\) \[[a-z]\] \| 65\.03 \| 65\.49 \| 56\.71 \| 64\.99 \| {2}\| 59\.08 \| 54\.71 \| 45\.59 \| 57\.34 \| {2}\|/,
    );
  });

  it("shows the paper's rows without runs, and refuses an unknown paper model", async () => {
    const result = await runHarness(["report", "--table", "2", "--published", "Human", "--format", "csv"]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain("2,Human,Human (published),yes,89.96,90.00,80.96,89.33,95.50,85.19,100.0,94.00");
    const unknown = await runHarness(["report", "--published", join(dir, "runs")]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(
      /--published ".*runs": no row of the paper's Tables 2-3 .*Files go before --published or after --published=all/,
    );
    const none = await runHarness(["report"]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain("no report files given");
  });

  it("exits 2 naming a file that is not a report", async () => {
    const bad = join(dir, "bad.json");
    await writeFile(bad, "[1, 2, 3]");
    const result = await runHarness(["report", base, bad]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`${bad}: not a harness report`);
  });
});
