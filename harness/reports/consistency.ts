import { INTENTIONQA_FILES } from "../benchmark/tasks.ts";
import { wilsonInterval } from "../stats/proportion.ts";
import { usageError } from "../util/errors.ts";
import { SPLITS, type EvalReport, type QuestionOutcome, type SplitResult, type TaskResult } from "./schema.ts";

/**
 * `harness report` and `harness diff` believe no stored number they can recompute: every
 * accuracy, count and coverage figure of a report is checked against the report's own
 * per-question outcomes (what `harness eval` computed them from, eval/summarize.ts), and the
 * structure against what eval writes (one outcome per selected question, unique ids, a failed
 * question null under every parse, "complete" only without failures, `matchesRelease` true only
 * for the pinned file's sha256). A report that disagrees with itself was edited or damaged: it is
 * refused, naming the file and the field, rather than shown or let through the CI gate.
 */

/** Percentages are stored rounded to two decimals (stats/bootstrap.ts round2): an honest value is within half a unit. */
const HALF_UNIT = 0.005 + 1e-9;

export interface ConsistencyOptions {
  /**
   * Migrated from report@1, which kept logprob per split only: a parse with accuracies but no
   * per-question outcome is not recomputable there (and is left as stored).
   */
  legacy?: boolean;
}

const formatCount = (n: number) => n.toLocaleString("en-US");
const show = (value: unknown) => (typeof value === "number" ? String(value) : JSON.stringify(value));

/** 1 when every parse is 0/1, "failed" when every parse is null (an API error); mixed is a lie. */
function outcomeState(outcome: QuestionOutcome): "answered" | "failed" | "mixed" {
  const values = Object.values(outcome.parses);
  const nulls = values.filter((v) => v === null).length;
  if (nulls === 0) return "answered";
  return nulls === values.length ? "failed" : "mixed";
}

/** What eval's summarizeSplit would store for these answered outcomes, per parse present in them. */
function recompute(outcomes: readonly QuestionOutcome[]): { n: number; parses: Map<string, { n: number; correct: number }> } {
  const parses = new Map<string, { n: number; correct: number }>();
  for (const outcome of outcomes) {
    for (const [name, value] of Object.entries(outcome.parses)) {
      if (value === null) continue;
      const entry = parses.get(name) ?? { n: 0, correct: 0 };
      entry.n++;
      entry.correct += value;
      parses.set(name, entry);
    }
  }
  return { n: outcomes.length, parses };
}

const inPercentRange = (x: number) => Number.isFinite(x) && x >= 0 && x <= 100;

/** Problems of one stored split against the answered outcomes it summarises. */
function checkSplit(
  problems: string[],
  field: string,
  stored: SplitResult,
  answered: readonly QuestionOutcome[],
  what: string,
  options: ConsistencyOptions,
): void {
  const fresh = recompute(answered);
  const outcomesText = `its ${formatCount(fresh.n)} answered${what ? ` ${what}` : ""} outcome${fresh.n === 1 ? "" : "s"}`;
  if (stored.n !== fresh.n) problems.push(`${field}.n is ${stored.n} but ${outcomesText} give ${fresh.n}`);
  for (const [name, accuracy] of Object.entries(stored.parses)) {
    const at = `${field}.parses.${name}`;
    const counted = fresh.parses.get(name);
    if (!counted) {
      if (options.legacy) continue;
      problems.push(`${at} has an accuracy but no answered${what ? ` ${what}` : ""} outcome has a "${name}" result`);
      continue;
    }
    if (accuracy.n !== counted.n) problems.push(`${at}.n is ${accuracy.n} but ${outcomesText} give ${counted.n}`);
    if (accuracy.correct !== counted.correct)
      problems.push(`${at}.correct is ${accuracy.correct} but ${outcomesText} give ${counted.correct}`);
    const exact = (100 * counted.correct) / counted.n;
    if (!(Math.abs(accuracy.accuracy - exact) <= HALF_UNIT))
      problems.push(`${at}.accuracy is ${show(accuracy.accuracy)} but ${outcomesText} give ${exact.toFixed(2)}`);
    const { low, high } = accuracy.ci95;
    if (!(inPercentRange(low) && inPercentRange(high) && low <= high))
      problems.push(`${at}.ci95 is ${show(low)}–${show(high)}: not an interval within 0–100`);
    else if (accuracy.ciMethod === "wilson") {
      // A Wilson interval follows from the counts alone; a bootstrap one (older reports) from a seed: range-checked only.
      const fresh = wilsonInterval(counted.correct, counted.n);
      if (!(Math.abs(low - fresh.low) <= HALF_UNIT && Math.abs(high - fresh.high) <= HALF_UNIT))
        problems.push(
          `${at}.ci95 is ${show(low)}–${show(high)} but the Wilson interval of ${counted.correct} of ${counted.n} is ${fresh.low.toFixed(2)}–${fresh.high.toFixed(2)}`,
        );
    }
  }
  for (const name of fresh.parses.keys()) {
    if (!Object.hasOwn(stored.parses, name)) problems.push(`${field}.parses has no "${name}" but ${outcomesText} have "${name}" results`);
  }
  const { count, share } = stored.unreadable;
  if (count > stored.n) problems.push(`${field}.unreadable.count is ${count}, more than the split's n ${stored.n}`);
  else if (stored.n > 0 && !(Math.abs(share - (100 * count) / stored.n) <= HALF_UNIT))
    problems.push(`${field}.unreadable.share is ${show(share)} but ${count} of ${stored.n} is ${((100 * count) / stored.n).toFixed(2)}`);
}

/** Duplicate ids and half-failed outcomes; returns the answered outcomes and the failed count. */
function checkOutcomes(problems: string[], at: string, result: TaskResult): { answered: QuestionOutcome[]; failed: number } {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const outcome of result.outcomes) {
    if (seen.has(outcome.id)) duplicates.add(outcome.id);
    seen.add(outcome.id);
  }
  if (duplicates.size > 0)
    problems.push(
      `${at}.outcomes has duplicate question ids: ${[...duplicates].slice(0, 5).join(", ")}${duplicates.size > 5 ? ", …" : ""} (each question is scored once)`,
    );
  const mixed = result.outcomes.findIndex((o) => outcomeState(o) === "mixed");
  if (mixed >= 0)
    problems.push(
      `${at}.outcomes.${mixed} (${result.outcomes[mixed]!.id}) is null under some parses and scored under others (a failed question is null under every parse)`,
    );
  const answered = result.outcomes.filter((o) => outcomeState(o) === "answered");
  const failed = result.outcomes.filter((o) => outcomeState(o) === "failed").length;
  return { answered, failed };
}

/** data.matchesRelease against the pinned sha256, and the question counts against the outcomes. */
function checkDataAndQuestions(problems: string[], at: string, result: TaskResult, failed: number): void {
  const pinned = INTENTIONQA_FILES[result.task].sha256;
  if (result.data.matchesRelease !== (result.data.sha256 === pinned))
    problems.push(
      `${at}.data.matchesRelease is ${result.data.matchesRelease} but data.sha256 ${result.data.sha256.slice(0, 12)}… ${result.data.sha256 === pinned ? "is" : "is not"} the pinned release's ${pinned.slice(0, 12)}…`,
    );

  const q = result.questions;
  if (q.selected !== result.outcomes.length)
    problems.push(`${at}.questions.selected is ${q.selected} but the task has ${formatCount(result.outcomes.length)} outcomes`);
  if (q.apiErrors !== failed) problems.push(`${at}.questions.apiErrors is ${q.apiErrors} but ${failed} outcome(s) are failed (null)`);
  if (q.selected > q.scorable) problems.push(`${at}.questions.selected is ${q.selected}, more than questions.scorable ${q.scorable}`);
  if (q.scorable > q.inFile) problems.push(`${at}.questions.scorable is ${q.scorable}, more than questions.inFile ${q.inFile}`);
}

function checkCoverage(problems: string[], at: string, result: TaskResult, answered: readonly QuestionOutcome[], failed: number): void {
  const c = result.coverage;
  if (!c) return;
  const q = result.questions;
  const expect = (key: keyof typeof c, stored: unknown, fresh: unknown, from: string) => {
    if (stored !== fresh) problems.push(`${at}.coverage.${key} is ${show(stored)} but ${from} give ${show(fresh)}`);
  };
  expect("scorable", c.scorable, q.scorable, "questions.scorable and the outcomes");
  expect("selected", c.selected, result.outcomes.length, `its ${formatCount(result.outcomes.length)} outcomes`);
  expect("answered", c.answered, answered.length, `its ${formatCount(result.outcomes.length)} outcomes`);
  expect("failed", c.failed, failed, `its ${formatCount(result.outcomes.length)} outcomes`);
  expect("complete", c.complete, answered.length === q.scorable, `${formatCount(answered.length)} answered of ${q.scorable} scorable`);
  if ((c.subset === null) !== c.selected >= c.scorable)
    problems.push(
      `${at}.coverage.subset is ${c.subset === null ? "null (every question)" : "set"} but ${c.selected} of ${c.scorable} scorable questions were selected`,
    );
}

/** The avg split and each difficulty level's against the answered outcomes. */
function checkSplits(
  problems: string[],
  at: string,
  result: TaskResult,
  answered: readonly QuestionOutcome[],
  options: ConsistencyOptions,
): void {
  // Avg: every answered question; null exactly when none was answered.
  const avg = result.splits.avg;
  if (avg === undefined || avg === null) {
    if (answered.length > 0)
      problems.push(`${at}.splits.avg is ${avg === null ? "null" : "missing"} but ${formatCount(answered.length)} outcomes are answered`);
  } else checkSplit(problems, `${at}.splits.avg`, avg, answered, "", options);

  for (const level of SPLITS.filter((s) => s !== "avg")) {
    const stored = result.splits[level];
    const inLevel = answered.filter((o) => o.level === level);
    if (stored) checkSplit(problems, `${at}.splits.${level}`, stored, inLevel, level, options);
    else if (inLevel.length > 0 && result.difficulty.kind !== "none")
      problems.push(`${at}.splits.${level} is missing but ${formatCount(inLevel.length)} answered outcomes are ${level}`);
  }
}

/** Each stored relation against its answered outcomes, and every answered relation stored. */
function checkRelations(
  problems: string[],
  at: string,
  result: TaskResult,
  answered: readonly QuestionOutcome[],
  options: ConsistencyOptions,
): void {
  const relations = result.relations ?? {};
  for (const [relation, stored] of Object.entries(relations)) {
    checkSplit(
      problems,
      `${at}.relations.${relation}`,
      stored,
      answered.filter((o) => o.relation === relation),
      relation,
      options,
    );
  }
  const answeredRelations = new Set(answered.flatMap((o) => (o.relation ? [o.relation] : [])));
  const missing = [...answeredRelations].filter((r) => !Object.hasOwn(relations, r));
  if (missing.length > 0 && !options.legacy)
    problems.push(
      `${at}.relations lacks ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""}, which answered outcomes have`,
    );
}

function checkTask(problems: string[], result: TaskResult, index: number, options: ConsistencyOptions): void {
  const at = `results.${index} (${result.task})`;
  const { answered, failed } = checkOutcomes(problems, at, result);
  checkDataAndQuestions(problems, at, result, failed);
  checkCoverage(problems, at, result, answered, failed);
  checkSplits(problems, at, result, answered, options);
  checkRelations(problems, at, result, answered, options);
  if (result.expectedAccuracy !== undefined && !inPercentRange(result.expectedAccuracy))
    problems.push(`${at}.expectedAccuracy is ${show(result.expectedAccuracy)}: not a percentage`);
}

/** Every disagreement between a report's stored numbers and its outcomes, as "field is X but ... give Y". */
export function reportInconsistencies(report: EvalReport, options: ConsistencyOptions = {}): string[] {
  const problems: string[] = [];
  const tasks = new Set<string>();
  report.results.forEach((result, index) => {
    if (tasks.has(result.task)) problems.push(`results.${index} gives task "${result.task}" a second time`);
    tasks.add(result.task);
    checkTask(problems, result, index, options);
  });
  // eval writes one result per task it ran: a task in config.tasks with no result was cut out.
  const cut = report.config.tasks.filter((task) => !tasks.has(task));
  if (cut.length > 0)
    problems.push(`config.tasks lists ${cut.join(", ")} but results have no such task (eval writes one result per task it ran)`);
  const failed = report.results.reduce((n, r) => n + r.outcomes.filter((o) => outcomeState(o) === "failed").length, 0);
  if (report.status === "complete" && failed > 0)
    problems.push(`status is "complete" but ${failed} question(s) ended in errors (null outcomes); eval writes "incomplete"`);
  return problems;
}

/**
 * Refuses a report whose stored numbers disagree with its own outcomes: a usage error (exit 2,
 * like every other bad report file) naming the file, the first field and how many more.
 */
export function assertReportConsistent(report: EvalReport, path: string, options: ConsistencyOptions = {}): void {
  refuseInconsistent(path, reportInconsistencies(report, options));
}

/** The one error for a report whose numbers disagree with its outcomes (or its samples): the first problem, and how many more. */
export function refuseInconsistent(path: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more disagreement${problems.length > 2 ? "s" : ""})` : "";
  throw usageError(
    `${path}: ${problems[0]}${more}; the report's numbers do not add up to its own per-question outcomes (edited or damaged): rerun \`harness eval\` or restore the file`,
  );
}

/** What the check reads of one samples.jsonl line (eval/ask-questions.ts SampleRecord): enough to recount. */
export interface SampleLine {
  /** 1-based line in samples.jsonl. */
  line: number;
  task: string;
  id: string;
  level?: string | undefined;
  relation?: string | undefined;
  /** The question ended in an error (eval's `error` field). */
  failed: boolean;
  parses: Record<string, { answer: string | null; correct: 0 | 1 }>;
}

/**
 * Where a run folder keeps its samples.jsonl beside report.json, the two must agree: one sample per
 * outcome, the same correctness under every parse, and the unreadable counts (the strict parse read
 * no letter), which only the samples can give.
 */
export function samplesInconsistencies(report: EvalReport, samples: readonly SampleLine[], samplesName: string): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, SampleLine>();
  for (const sample of samples) {
    const key = JSON.stringify([sample.task, sample.id]);
    if (byKey.has(key))
      problems.push(`${samplesName}:${sample.line}: ${sample.task} question ${sample.id} a second time (line ${byKey.get(key)!.line})`);
    byKey.set(key, sample);
  }
  const tasks = new Set(report.results.map((r) => r.task as string));
  const stray = samples.find((s) => !tasks.has(s.task));
  if (stray) problems.push(`${samplesName}:${stray.line}: task "${stray.task}" is not in the report`);
  report.results.forEach((result, index) => {
    const at = `results.${index} (${result.task})`;
    const ids = new Set(result.outcomes.map((o) => o.id));
    const extra = samples.find((s) => s.task === result.task && !ids.has(s.id));
    if (extra) problems.push(`${at}.outcomes has no question ${extra.id}, which ${samplesName}:${extra.line} has`);
    const counted = new Map<string, number>();
    result.outcomes.forEach((outcome, o) => {
      const sample = byKey.get(JSON.stringify([result.task, outcome.id]));
      if (!sample) {
        problems.push(`${at}.outcomes.${o} (${outcome.id}) has no line in ${samplesName}`);
        return;
      }
      const failed = outcomeState(outcome) === "failed";
      if (failed !== sample.failed) {
        problems.push(
          `${at}.outcomes.${o} (${outcome.id}) is ${failed ? "failed" : "answered"} but ${samplesName}:${sample.line} has it ${sample.failed ? "failed" : "answered"}`,
        );
        return;
      }
      if (failed) return;
      for (const [name, value] of Object.entries(outcome.parses)) {
        const read = sample.parses[name]?.correct;
        if (read !== value)
          problems.push(
            `${at}.outcomes.${o} (${outcome.id}).parses.${name} is ${show(value)} but ${samplesName}:${sample.line} gives ${show(read ?? "nothing")}`,
          );
      }
      if (sample.parses["strict"]?.answer !== null) return;
      for (const group of ["avg", `level:${sample.level}`, `relation:${sample.relation}`])
        counted.set(group, (counted.get(group) ?? 0) + 1);
    });
    const unreadable = (field: string, stored: SplitResult | null | undefined, group: string) => {
      if (stored && stored.unreadable.count !== (counted.get(group) ?? 0))
        problems.push(
          `${at}.${field}.unreadable.count is ${stored.unreadable.count} but ${samplesName} gives ${counted.get(group) ?? 0} answers the strict parse could not read`,
        );
    };
    unreadable("splits.avg", result.splits.avg, "avg");
    for (const level of ["easy", "medium", "hard"] as const) unreadable(`splits.${level}`, result.splits[level], `level:${level}`);
    for (const [relation, stored] of Object.entries(result.relations ?? {}))
      unreadable(`relations.${relation}`, stored, `relation:${relation}`);
  });
  return problems;
}
