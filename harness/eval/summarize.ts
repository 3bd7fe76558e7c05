import type { Question, TaskName } from "../dataset/intentionqa.ts";
import type { FileChecksum } from "../dataset/store.ts";
import { computeCoverage } from "../reports/coverage.ts";
import type { DifficultySource, QuestionOutcome, SplitName, SplitResult, TaskResult } from "../reports/schema.ts";
import { bootstrapAccuracyInterval, percent, round2 } from "../stats/bootstrap.ts";
import { deriveSeed } from "../stats/rng.ts";
import { LEVELS } from "./difficulty.ts";
import type { SampleRecord } from "./runner.ts";

/** Accuracy, interval and unreadable share over the answered records of one split. */
export function summarizeSplit(records: readonly SampleRecord[], seed: number, resamples: number): SplitResult {
  const answered = records.filter((r) => r.correct !== null);
  const official = answered.map((r) => r.correct as 0 | 1);
  const strict = answered.map((r) => r.strictCorrect as 0 | 1);
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const unreadable = answered.filter((r) => r.strict === null).length;
  const result: SplitResult = {
    n: answered.length,
    official: {
      correct: sum(official),
      accuracy: percent(sum(official), answered.length),
      ci95: bootstrapAccuracyInterval(official, deriveSeed(seed, "official"), resamples),
    },
    strict: {
      correct: sum(strict),
      accuracy: percent(sum(strict), answered.length),
      ci95: bootstrapAccuracyInterval(strict, deriveSeed(seed, "strict"), resamples),
    },
    unreadable: { count: unreadable, share: answered.length === 0 ? 0 : round2((100 * unreadable) / answered.length) },
  };
  const withProbs = answered.filter((r) => r.logprobCorrect !== undefined && r.logprobCorrect !== null);
  if (withProbs.length > 0) {
    const outcomes = withProbs.map((r) => r.logprobCorrect as 0 | 1);
    result.logprob = {
      n: withProbs.length,
      correct: sum(outcomes),
      accuracy: percent(sum(outcomes), withProbs.length),
      ci95: bootstrapAccuracyInterval(outcomes, deriveSeed(seed, "logprob"), resamples),
    };
  }
  return result;
}

export interface SummarizeOptions {
  task: TaskName;
  records: readonly SampleRecord[];
  inFile: number;
  scorable: number;
  checksum: FileChecksum;
  difficulty: DifficultySource;
  seed: number;
  resamples: number;
  /** The flags that chose the questions (for the report's coverage): --limit, and the number of --ids. */
  selection?: { limit: number | null; ids: number | null };
  /** baseline:random's analytic expectation, over the selected questions. */
  expectedAccuracyOf?: readonly Question[];
}

export function summarizeTask(options: SummarizeOptions): TaskResult {
  const { records, seed, resamples, task } = options;
  // No answered question: Avg is written as null (an accuracy of 0/0 is no number).
  const answered = records.filter((r) => r.correct !== null).length;
  const splits: Partial<Record<SplitName, SplitResult | null>> = {
    avg: answered > 0 ? summarizeSplit(records, deriveSeed(seed, task, "avg"), resamples) : null,
  };
  if (options.difficulty.kind !== "none") {
    for (const level of LEVELS) {
      const inLevel = records.filter((r) => r.level === level && r.correct !== null);
      // An empty level is left out (shown as "—"), never reported as 0.
      if (inLevel.length > 0) splits[level] = summarizeSplit(inLevel, deriveSeed(seed, task, level), resamples);
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
  const answeredRelations = [...byRelation].filter(([, rs]) => rs.some((r) => r.correct !== null));
  const relations =
    answeredRelations.length > 0
      ? Object.fromEntries(
          answeredRelations
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([rel, rs]) => [rel, summarizeSplit(rs, deriveSeed(seed, task, "relation", rel), resamples)]),
        )
      : undefined;
  const outcomes: QuestionOutcome[] = records.map((r) => ({
    id: r.id,
    ...(r.level ? { level: r.level } : {}),
    ...(r.relation ? { relation: r.relation } : {}),
    official: r.correct,
    strict: r.strictCorrect,
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
export function describeFailures(records: readonly Pick<SampleRecord, "correct" | "error" | "attempts">[], maxCauses = 4): string {
  const groups = new Map<string, number[]>();
  for (const record of records) {
    if (record.correct !== null) continue;
    const cause = record.error ?? "unknown error";
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
