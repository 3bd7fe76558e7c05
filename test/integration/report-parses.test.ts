import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReport } from "../../harness/reports/load.ts";
import { REPORT_SCHEMA_ID } from "../../harness/reports/schema.ts";
import { runHarness } from "../helpers/cli.ts";
import { goldByPrompt, wrongLetterRightProbabilities } from "../helpers/gold.ts";
import { promptOf, startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";
import { intentionqaDir } from "../helpers/paths.ts";

/**
 * A report.json as the last release (7711ae2, schema report@1: one field per parse) wrote it:
 * baseline:majority, --limit 30, both tasks. Checked against 7711ae2's harness/reports/schema.ts.
 */
const V1_FIXTURE = join(import.meta.dirname, "..", "fixtures", "reports", "report-v1-7711ae2.json");

let dir: string;
let server: TestServer;
/** Two runs of a server whose generated letter is always wrong and whose letter probabilities favour the right one. */
let lpBase: string;
let lpHead: string;

async function evalRun(args: string[], runId: string): Promise<string> {
  const result = await runHarness([
    "eval",
    "--data",
    intentionqaDir(),
    "--out",
    join(dir, "runs"),
    "--task",
    "understanding",
    "--limit",
    "30",
    "--no-cache",
    "--progress=false",
    "--run-id",
    runId,
    ...args,
  ]);
  expect(result.exitCode, result.stderr).toBe(0);
  return join(dir, "runs", runId, "report.json");
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "harness-parses-"));
  const gold = await goldByPrompt(["understanding"]);
  server = await startOpenAIServer({
    chat: (body) => wrongLetterRightProbabilities(gold, promptOf(body)),
  });
  const openai = ["--model", "openai:test-model", "--base-url", server.url];
  lpBase = await evalRun(openai, "lp-base");
  lpHead = await evalRun(openai, "lp-head");
});

afterAll(async () => {
  await server?.close();
});

describe("named parses: --metric logprob", () => {
  it("report shows the logprob parse's accuracy where the run has letter probabilities", async () => {
    const official = await runHarness(["report", lpBase, "--table", "2"]);
    expect(official.exitCode, official.stderr).toBe(0);
    expect(official.stdout).toContain("official parse");
    const logprob = await runHarness(["report", lpBase, "--table", "2", "--metric", "logprob", "--format", "csv"]);
    expect(logprob.exitCode, logprob.stderr).toBe(0);
    // The generated letter is always wrong (official 0), the most probable letter always right.
    expect(logprob.stdout).toMatch(/100\.00/);
    expect(logprob.stdout).not.toMatch(/\b0\.00\b/);
    const report = parseReport(await readFile(lpBase, "utf8"), lpBase);
    expect(report.results[0]!.splits.avg!.parses).toMatchObject({ official: { accuracy: 0 }, logprob: { n: 30, accuracy: 100 } });
    expect(report.results[0]!.outcomes.every((o) => o.parses.logprob === 1 && o.parses.official === 0)).toBe(true);
  });

  it("diff compares the logprob parse question by question", async () => {
    const result = await runHarness(["diff", lpBase, lpHead, "--metric", "logprob", "--format", "json"]);
    expect(result.exitCode, result.stderr).toBe(0);
    const diff = JSON.parse(result.stdout);
    expect(diff.metric).toBe("logprob");
    const avg = diff.tasks[0].splits.find((s: { split: string }) => s.split === "avg");
    expect(avg).toMatchObject({ base: { n: 30, accuracy: 100 }, head: { n: 30, accuracy: 100 }, change: 0, paired: { n: 30 } });
    expect(diff.regressions).toEqual([]);
  });

  it("names the file and lists its parses when the run has no such parse, or the name is no parse", async () => {
    const noLogprob = await runHarness(["report", V1_FIXTURE, "--metric", "logprob"]);
    expect(noLogprob.exitCode).toBe(2);
    expect(noLogprob.stderr).toContain(`${V1_FIXTURE}: has no "logprob" parse`);
    expect(noLogprob.stderr).toContain("this report has: official, strict");
    const diff = await runHarness(["diff", V1_FIXTURE, lpBase, "--metric", "logprob"]);
    expect(diff.exitCode).toBe(2);
    expect(diff.stderr).toContain(`${V1_FIXTURE}: has no "logprob" parse`);
    const bogus = await runHarness(["report", lpBase, "--metric", "flexible"]);
    expect(bogus.exitCode).toBe(2);
    expect(bogus.stderr).toContain(
      '--metric "flexible" is not a parse (the harness knows official, strict, logprob); this report has: official, strict, logprob',
    );
  });
});

describe("a report written by the previous release (report@1)", () => {
  it("loads, migrated to one entry per parse", async () => {
    const report = parseReport(await readFile(V1_FIXTURE, "utf8"), V1_FIXTURE);
    expect(report.schema).toBe(REPORT_SCHEMA_ID);
    const avg = report.results[0]!.splits.avg!;
    expect(avg.parses.official).toMatchObject({ n: 30, correct: 10, accuracy: 33.33 });
    expect(avg.parses.strict).toMatchObject({ n: 30, accuracy: 33.33 });
    expect(Object.keys(report.results[0]!.outcomes[0]!.parses).sort()).toEqual(["official", "strict"]);
  });

  it("is read by report and by diff against a report of today's format", async () => {
    const table = await runHarness(["report", V1_FIXTURE, "--table", "2", "--format", "csv"]);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toContain("33.33");
    expect(table.stdout).toContain("26.67");
    const strict = await runHarness(["report", V1_FIXTURE, "--table", "2", "--metric", "strict"]);
    expect(strict.exitCode, strict.stderr).toBe(0);
    // The same run (baseline:majority, --limit 30) in today's format: nothing changed.
    const head = join(dir, "runs", "majority", "report.json");
    const rerun = await runHarness([
      "eval",
      "--model",
      "baseline:majority",
      "--task",
      "all",
      "--limit",
      "30",
      "--seed",
      "0",
      "--bootstrap",
      "200",
      "--data",
      intentionqaDir(),
      "--out",
      join(dir, "runs"),
      "--run-id",
      "majority",
      "--no-cache",
    ]);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    for (const [base, other] of [
      [V1_FIXTURE, head],
      [head, V1_FIXTURE],
    ] as const) {
      const result = await runHarness(["diff", base, other, "--format", "json"]);
      expect(result.exitCode, result.stderr).toBe(0);
      const diff = JSON.parse(result.stdout);
      expect(diff.regressions).toEqual([]);
      expect(diff.incomplete).toEqual([]);
      const avg = diff.tasks[0].splits.find((s: { split: string }) => s.split === "avg");
      expect(avg).toMatchObject({ base: { n: 30, accuracy: 33.33 }, head: { n: 30, accuracy: 33.33 }, change: 0, paired: { n: 30 } });
    }
  });
});
