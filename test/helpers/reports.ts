import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadQuestions } from "../../harness/benchmark/intentionqa.ts";
import { computeCoverage } from "../../harness/reports/coverage.ts";
import { reportSchema, type EvalReport, type QuestionOutcome, type SplitName, type SplitResult } from "../../harness/reports/schema.ts";
import { percent, round2 } from "../../harness/stats/bootstrap.ts";
import { mulberry32 } from "../../harness/stats/rng.ts";
import { wilsonInterval } from "../../harness/stats/proportion.ts";
import { Writable } from "node:stream";
import { EVAL_DEFAULTS, type EvalConfig } from "../../harness/eval/defaults.ts";
import { runEval } from "../../harness/eval/run.ts";
import { HarnessError } from "../../harness/util/errors.ts";
import { startOpenAIServer } from "./openai-server.ts";
import { intentionqaDir } from "./paths.ts";

/** Per-id similarities for every question id, so reports get Easy / Medium / Hard splits. */
export async function writeDifficultyFile(path: string): Promise<void> {
  const ids = new Set<string>();
  for (const [file, task] of [
    ["QA_fullInfo_task1.jsonl", "understanding"],
    ["QA_fullInfo_task2.jsonl", "utilization"],
  ] as const) {
    for (const q of await loadQuestions(join(intentionqaDir(), file), task)) ids.add(q.id);
  }
  const random = mulberry32(11);
  await writeFile(path, `id,similarity\n${[...ids].map((id) => `${id},${random().toFixed(3)}`).join("\n")}\n`);
}

/** A fast, quiet eval over the real benchmark files: eval's defaults, no cache, no retries, 200 resamples. */
function testEvalConfig(overrides: Partial<EvalConfig> & Pick<EvalConfig, "out">): EvalConfig {
  return {
    ...EVAL_DEFAULTS,
    topLogprobs: 0,
    data: intentionqaDir(),
    cache: false,
    timeoutMs: 30_000,
    retries: 0,
    bootstrap: 200,
    progress: false,
    ...overrides,
  };
}

/** Real reports from `harness eval` with the two baselines on the real benchmark files. */
export async function evalBaselines(
  out: string,
  options: { difficulty?: boolean; labels?: Record<string, Record<string, string>>; limit?: number; data?: string; task?: string } = {},
): Promise<{ random: string; majority: string }> {
  await mkdir(out, { recursive: true });
  const difficultyFile = options.difficulty ? join(out, "levels.csv") : undefined;
  if (difficultyFile) await writeDifficultyFile(difficultyFile);
  const paths = { random: "", majority: "" };
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  for (const model of ["random", "majority"] as const) {
    const args = testEvalConfig({
      model: [`baseline:${model}`],
      out,
      runId: model,
      labels: { ...options.labels?.[model] },
      ...(difficultyFile ? { difficultyFile } : {}),
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.data ? { data: options.data } : {}),
      ...(options.task ? { task: options.task } : {}),
    });
    // In-process, as `harness ablate` does: the same code path as the CLI, without a child process.
    await runEval(args, { stdout: sink, stderr: sink as unknown as NodeJS.WriteStream });
    paths[model] = join(out, model, "report.json");
  }
  return paths;
}

export async function readReport(path: string): Promise<EvalReport> {
  return reportSchema.parse(JSON.parse(await readFile(path, "utf8")));
}

/** Writes a changed copy of a report as <dir>/report.json and returns its path. */
export async function writeVariant(source: string, dir: string, change: (report: EvalReport) => void): Promise<string> {
  const report = await readReport(source);
  change(report);
  await mkdir(dir, { recursive: true });
  const path = join(dir, "report.json");
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
  return path;
}

/**
 * Makes a hand-changed report honest again, the way `harness eval` would have written it from the
 * same outcomes: question counts, coverage, every stored split's n, correct and accuracy (splits
 * left with no answered question are dropped), the unreadable share and the status. Tests that
 * change outcomes to stage a situation call this, since `report` and `diff` refuse a report whose
 * numbers do not follow from its outcomes (reports/consistency.ts). Intervals are kept as stored.
 */
export function restate(report: EvalReport): EvalReport {
  const answeredOf = (o: QuestionOutcome) => Object.values(o.parses).every((v) => v !== null);
  const resum = (split: SplitResult, outcomes: readonly QuestionOutcome[]): SplitResult | undefined => {
    const answered = outcomes.filter(answeredOf);
    if (answered.length === 0) return undefined;
    const parses: SplitResult["parses"] = {};
    for (const [name, metric] of Object.entries(split.parses)) {
      const values = answered.flatMap((o) => (o.parses[name] === undefined ? [] : [o.parses[name] as number]));
      if (values.length === 0) continue;
      const correct = values.reduce((a, b) => a + b, 0);
      parses[name] = {
        ...metric,
        n: values.length,
        correct,
        accuracy: percent(correct, values.length),
        // A Wilson interval follows from the counts (the loader checks it); an old bootstrap one is kept.
        ...(metric.ciMethod === "wilson" ? { ci95: wilsonInterval(correct, values.length) } : {}),
      };
    }
    const count = Math.min(split.unreadable.count, answered.length);
    return { n: answered.length, parses, unreadable: { count, share: round2((100 * count) / answered.length) } };
  };
  for (const result of report.results) {
    const failed = result.outcomes.filter((o) => !answeredOf(o)).length;
    result.questions = { ...result.questions, selected: result.outcomes.length, apiErrors: failed };
    if (result.coverage)
      result.coverage = computeCoverage(
        { scorable: result.questions.scorable, selected: result.outcomes.length, failed },
        result.coverage.subset ?? { limit: null, ids: null },
      );
    for (const [name, split] of Object.entries(result.splits) as Array<[SplitName, SplitResult | null]>) {
      if (!split) continue;
      const fresh = resum(split, name === "avg" ? result.outcomes : result.outcomes.filter((o) => o.level === name));
      if (fresh) result.splits[name] = fresh;
      else if (name === "avg") result.splits.avg = null;
      else delete result.splits[name];
    }
    for (const [relation, split] of Object.entries(result.relations ?? {})) {
      const fresh = resum(
        split,
        result.outcomes.filter((o) => o.relation === relation),
      );
      if (fresh) result.relations![relation] = fresh;
      else delete result.relations![relation];
    }
  }
  report.status = report.results.some((r) => r.questions.apiErrors > 0) ? "incomplete" : "complete";
  return report;
}

/**
 * Plants a regression: flips enough correct outcomes (official and strict) to wrong in one
 * split of one task to drop it by at least `points`, and updates the stored counts and
 * accuracies of that split and of Avg the way `harness eval` computes them.
 */
export function plantRegression(report: EvalReport, task: string, split: Exclude<SplitName, "avg">, points: number): number {
  const result = report.results.find((r) => r.task === task)!;
  const stored = result.splits[split]!;
  const flips = Math.ceil((points / 100) * stored.n);
  let flipped = 0;
  for (const outcome of result.outcomes) {
    if (flipped === flips) break;
    if (outcome.level === split && outcome.parses.official === 1 && outcome.parses.strict === 1) {
      outcome.parses.official = 0;
      outcome.parses.strict = 0;
      flipped++;
    }
  }
  if (flipped < flips) throw new Error(`only ${flipped} correct questions in ${task}/${split}`);
  for (const name of [split, "avg"] as const) {
    const s = result.splits[name]!;
    for (const metric of ["official", "strict"] as const) {
      const parsed = s.parses[metric]!;
      parsed.correct -= flips;
      parsed.accuracy = percent(parsed.correct, parsed.n);
      if (parsed.ciMethod === "wilson") parsed.ci95 = wilsonInterval(parsed.correct, parsed.n);
    }
  }
  return flips;
}

/**
 * A real run in which questions fail: `harness eval` against a local OpenAI-compatible server that
 * answers "A" but fails every `failEvery`-th request with HTTP 500, with no retries. Eval writes
 * the report and exits 3; the report's path is returned.
 */
export async function evalWithFailures(
  out: string,
  options: { failEvery: number; task?: string; limit?: number; runId?: string },
): Promise<string> {
  const server = await startOpenAIServer({
    chat: (_body, index) => (index % options.failEvery === 0 ? { status: 500, body: { error: { message: "planted failure" } } } : "A"),
  });
  const runId = options.runId ?? "failing";
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  try {
    const args = testEvalConfig({
      ...(options.task ? { task: options.task } : {}),
      model: ["openai:test-model"],
      baseUrl: server.url,
      out,
      runId,
      ...(options.limit ? { limit: options.limit } : {}),
    });
    const failed = await runEval(args, { stdout: sink, stderr: sink as unknown as NodeJS.WriteStream }).then(
      () => null,
      (error: unknown) => error,
    );
    if (!(failed instanceof HarnessError) || failed.exitCode !== 3)
      throw new Error(`expected eval to exit 3 with failed questions, got ${String(failed)}`);
  } finally {
    await server.close();
  }
  return join(out, runId, "report.json");
}
