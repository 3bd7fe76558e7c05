import type { Question } from "../benchmark/intentionqa.ts";
import type { TaskName } from "../benchmark/tasks.ts";
import type { FileChecksum } from "../benchmark/store.ts";
import { computeCoverage } from "../reports/coverage.ts";
import type { DifficultySource, ParseAccuracy, QuestionOutcome, SplitName, SplitResult, TaskResult } from "../reports/schema.ts";
import { DEFAULT_PARSE, PARSES } from "../scoring/parses.ts";
import { percent, round2 } from "../stats/bootstrap.ts";
import { wilsonInterval } from "../stats/proportion.ts";
import { LEVELS } from "./difficulty.ts";
import { isAnswered, type SampleRecord } from "./ask-questions.ts";

/**
 * Accuracy, interval and unreadable share over the answered records of one split, per named parse.
 * The interval is Wilson's score interval of correct of n: a bootstrap of 0/1 outcomes collapses at
 * 0% and 100% and gives equal counts different intervals (docs/eval.md, "Statistics").
 */
export function summarizeSplit(records: readonly SampleRecord[]): SplitResult {
  const answered = records.filter(isAnswered);
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const parses: Record<string, ParseAccuracy> = {};
  for (const { name } of PARSES) {
    const outcomes = answered.flatMap((r) => (r.parses[name] ? [r.parses[name].correct] : []));
    // A parse that applied to no question (logprob without letter probabilities) is left out.
    if (outcomes.length === 0) continue;
    parses[name] = {
      n: outcomes.length,
      correct: sum(outcomes),
      accuracy: percent(sum(outcomes), outcomes.length),
      ci95: wilsonInterval(sum(outcomes), outcomes.length),
      ciMethod: "wilson",
    };
  }
  const unreadable = answered.filter((r) => r.parses.strict?.answer === null).length;
  return {
    n: answered.length,
    parses,
    unreadable: { count: unreadable, share: answered.length === 0 ? 0 : round2((100 * unreadable) / answered.length) },
  };
}

export interface SummarizeOptions {
  task: TaskName;
  records: readonly SampleRecord[];
  inFile: number;
  scorable: number;
  checksum: FileChecksum;
  difficulty: DifficultySource;
  /** The flags that chose the questions (for the report's coverage): --limit, and the number of --ids. */
  selection?: { limit: number | null; ids: number | null };
  /** baseline:random's analytic expectation, over the selected questions. */
  expectedAccuracyOf?: readonly Question[];
}

export function summarizeTask(options: SummarizeOptions): TaskResult {
  const { records, task } = options;
  // No answered question: Avg is written as null (an accuracy of 0/0 is no number).
  const answered = records.filter(isAnswered).length;
  const splits: Partial<Record<SplitName, SplitResult | null>> = {
    avg: answered > 0 ? summarizeSplit(records) : null,
  };
  if (options.difficulty.kind !== "none") {
    for (const level of LEVELS) {
      const inLevel = records.filter((r) => r.level === level && isAnswered(r));
      // An empty level is left out (shown as "—"), never reported as 0.
      if (inLevel.length > 0) splits[level] = summarizeSplit(inLevel);
    }
  }
  const byRelation = new Map<string, SampleRecord[]>();
  for (const r of records) {
    if (!r.relation) continue;
    const group = byRelation.get(r.relation);
    if (group) group.push(r);
    else byRelation.set(r.relation, [r]);
  }
  // A relation none of whose questions was answered is left out, like an empty level.
  const answeredRelations = [...byRelation].filter(([, rs]) => rs.some(isAnswered));
  const relations =
    answeredRelations.length > 0
      ? Object.fromEntries(answeredRelations.sort(([a], [b]) => a.localeCompare(b)).map(([rel, rs]) => [rel, summarizeSplit(rs)]))
      : undefined;
  // A failed question is null under every parse the task's answered questions have.
  const runParses = new Set(records.flatMap((r) => Object.keys(r.parses)));
  if (runParses.size === 0) runParses.add(DEFAULT_PARSE);
  const unanswered = Object.fromEntries([...runParses].map((name) => [name, null]));
  const outcomes: QuestionOutcome[] = records.map((r) => ({
    id: r.id,
    ...(r.level ? { level: r.level } : {}),
    ...(r.relation ? { relation: r.relation } : {}),
    parses: isAnswered(r) ? Object.fromEntries(Object.entries(r.parses).map(([name, p]) => [name, p.correct])) : unanswered,
  }));
  const apiErrors = records.length - answered;
  return {
    task,
    data: { file: options.checksum.file, sha256: options.checksum.sha256, matchesRelease: options.checksum.matchesRelease },
    questions: { inFile: options.inFile, scorable: options.scorable, selected: records.length, apiErrors },
    coverage: computeCoverage(
      { scorable: options.scorable, selected: records.length, failed: apiErrors },
      options.selection ?? { limit: null, ids: null },
    ),
    difficulty: options.difficulty,
    splits: splits as TaskResult["splits"],
    ...(relations ? { relations } : {}),
    ...(options.expectedAccuracyOf
      ? {
          expectedAccuracy: round2(
            (100 * options.expectedAccuracyOf.reduce((a, q) => a + 1 / q.options.length, 0)) /
              Math.max(1, options.expectedAccuracyOf.length),
          ),
        }
      : {}),
    outcomes,
  };
}

/**
 * The questions that ended in errors, grouped by cause, most frequent first: "12 x HTTP 500:
 * model overloaded (8 attempts each)". The cause is the final attempt's error as the backend
 * described it; the attempts are those actually made (a 400 is not retried, a timeout is).
 */
export function describeFailures(records: readonly Pick<SampleRecord, "error" | "attempts">[], maxCauses = 4): string {
  const groups = new Map<string, number[]>();
  for (const record of records) {
    if (record.error === undefined) continue;
    const cause = record.error;
    const attempts = groups.get(cause);
    if (attempts) attempts.push(record.attempts ?? 1);
    else groups.set(cause, [record.attempts ?? 1]);
  }
  const sorted = [...groups].sort((a, b) => b[1].length - a[1].length);
  const parts = sorted.slice(0, maxCauses).map(([cause, attempts]) => {
    const low = Math.min(...attempts);
    const high = Math.max(...attempts);
    const tries = low === high ? `${low} attempt${low === 1 ? "" : "s"}${attempts.length > 1 ? " each" : ""}` : `${low}-${high} attempts`;
    return `${attempts.length} x ${cause} (${tries})`;
  });
  const rest = sorted.slice(maxCauses).reduce((n, [, a]) => n + a.length, 0);
  if (rest > 0) parts.push(`${rest} x other causes (see samples.jsonl)`);
  return parts.join("; ");
}
