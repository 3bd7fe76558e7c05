import { TASKS, type TaskName } from "../benchmark/tasks.ts";
import { DEFAULT_PARSE, type ParseName } from "../scoring/parses.ts";
import { round2, type Interval } from "../stats/bootstrap.ts";
import { holmAdjust } from "../stats/holm.ts";
import { mcnemarExact } from "../stats/mcnemar.ts";
import { pairedBootstrapDeltaInterval } from "../stats/paired-bootstrap.ts";
import { deriveSeed } from "../stats/rng.ts";
import { usageError } from "../util/errors.ts";
import { coverageOf, subsetFlags } from "./coverage.ts";
import type { LoadedReport } from "./load.ts";
import { reportParses, requireParse } from "./parses.ts";
import { SPLITS, type EvalReport, type QuestionOutcome, type SplitName, type TaskResult } from "./schema.ts";
import { optionOrderText } from "./settings.ts";
import { rowIdentity } from "./tables.ts";

/**
 * `harness diff`: what changed between a base and a head report, per task and split, with an
 * exact McNemar test (Holm-corrected across every split the diff tests), a paired bootstrap
 * interval over questions matched by id, and the ids of the questions that flipped. Pure: reports
 * in, a diff model out; the command decides the exit code from `regressions`.
 */
export const DIFF_SCHEMA_ID = "intentionqa-harness/diff@1";

export interface DiffOptions {
  /** The parse whose correctness is compared (--metric). */
  parse?: ParseName;
  seed?: number;
  resamples?: number;
  /** A split regresses when it drops by more than this many points... */
  maxDrop?: number;
  /** ...and McNemar's p, Holm-corrected across the splits tested, is below this. */
  alpha?: number;
  /** The comparison is incomplete when fewer than this share of the base's answered questions of a task are paired. */
  minPaired?: number;
  /** Compare runs on different benchmark data (sha256) anyway; the diff still says so. */
  allowReleaseMismatch?: boolean;
}

export const DIFF_DEFAULTS = {
  parse: DEFAULT_PARSE,
  seed: 0,
  resamples: 1000,
  maxDrop: 1,
  alpha: 0.05,
  minPaired: 0.95,
  allowReleaseMismatch: false,
};

export interface DiffSide {
  path: string;
  runId: string;
  /** The row label `harness report` would give it. */
  label: string;
}

export interface Change {
  what: string;
  base: string;
  head: string;
}

export interface SplitDiff {
  task: TaskName;
  split: SplitName;
  /** Stored numbers; absent when that report has no such split. */
  base?: { n: number; accuracy: number };
  head?: { n: number; accuracy: number };
  /** head - base in points, from the stored accuracies. */
  change?: number;
  paired: {
    /** Questions answered (not API errors) in both reports and in this split. */
    n: number;
    /** Correct in base only / in head only (the discordant pairs). */
    baseOnly: number;
    headOnly: number;
    /** Exact McNemar p-value, two-sided; 1 with no discordant pairs. Uncorrected. */
    pValue: number;
    /**
     * pValue Holm-adjusted across every split of every task this diff tests (those with paired
     * questions; ReportDiff.tests of them): what `significant` and the gate use. Added to diff@1.
     */
    pHolm: number;
    /** Ids of the questions correct in base and wrong in head (right -> wrong; baseOnly of them), in the base's order. */
    lostIds: string[];
    /** Ids of the questions wrong in base and correct in head (wrong -> right; headOnly of them). */
    gainedIds: string[];
    /** Change in points over the paired questions (null with none). */
    change: number | null;
    /** Seeded paired bootstrap 95% interval of that change (null with no pairs). */
    ci95: Interval | null;
  };
  /** pHolm < alpha (with paired questions). */
  significant: boolean;
  regression: boolean;
}

export interface TaskDiff {
  task: TaskName;
  /** Question ids only one report has: reported, excluded from the paired test. */
  onlyInBase: string[];
  onlyInHead: string[];
  /** Ids in both whose outcome is null (an API error) in either: excluded from the paired test. */
  unanswered: string[];
  splits: SplitDiff[];
}

export interface ReportDiff {
  schema: typeof DIFF_SCHEMA_ID;
  base: DiffSide;
  head: DiffSide;
  /** The parse compared (named `metric` in the diff's JSON, diff@1). */
  metric: ParseName;
  alpha: number;
  /** The multiple-comparison correction `significant` and the gate use (added to diff@1). */
  correction: "holm";
  /** How many McNemar tests the correction spans: the splits with paired questions, over all tasks. */
  tests: number;
  maxDrop: number;
  /** How each split's paired.ci95 is made (added to diff@1): a seeded paired percentile bootstrap of the change. */
  ciMethod: "paired-bootstrap";
  seed: number;
  resamples: number;
  changes: Change[];
  tasks: TaskDiff[];
  tasksOnlyInBase: TaskName[];
  tasksOnlyInHead: TaskName[];
  regressions: Array<{ task: TaskName; split: SplitName; change: number; pValue: number; pHolm: number }>;
  /**
   * Why the head cannot stand in for the base: a task or split the base has and the head lacks, a
   * head with failed questions or a smaller subset, too few paired questions. Non-empty fails
   * `harness diff` unless --allow-partial.
   */
  incomplete: string[];
  /**
   * Benchmark data: per common task whose base and head ran on different files (sha256), one line.
   * Non-empty fails `harness diff` unless --allow-release-mismatch (then `releaseMismatchAllowed`).
   */
  releaseMismatch: string[];
  releaseMismatchAllowed: boolean;
  /** Sides that ran on data other than the pinned IntentionQA release: not a reproduction of the paper. */
  offRelease: string[];
}

const show = (value: unknown): string =>
  value === undefined || value === null ? "—" : typeof value === "string" ? value : JSON.stringify(value);

function compare(changes: Change[], what: string, base: unknown, head: unknown): void {
  const a = show(base);
  const b = show(head);
  if (a !== b) changes.push({ what, base: a, head: b });
}

/** Config, model/backend, labels and data differences a reader must know before trusting a change. */
export function reportChanges(base: EvalReport, head: EvalReport, commonTasks: readonly TaskName[]): Change[] {
  const changes: Change[] = [];
  for (const key of ["id", "kind", "model", "baseUrl", "adapter", "provider"] as const)
    compare(changes, `backend.${key}`, base.backend[key], head.backend[key]);
  for (const key of [...new Set([...Object.keys(base.labels), ...Object.keys(head.labels)])].sort())
    compare(changes, `labels.${key}`, base.labels[key], head.labels[key]);
  compare(changes, "config.mode", base.config.mode, head.config.mode);
  compare(changes, "option order", optionOrderText(base), optionOrderText(head));
  for (const key of ["maxTokens", "temperature", "topP", "samples"] as const)
    compare(changes, `config.decoding.${key}`, base.config.decoding[key], head.config.decoding[key]);
  compare(changes, "config.limit", base.config.limit, head.config.limit);
  compare(
    changes,
    "config.ids",
    base.config.ids?.length === undefined ? null : `${base.config.ids.length} ids`,
    head.config.ids?.length === undefined ? null : `${head.config.ids.length} ids`,
  );
  compare(changes, "harness.protocolVersion", base.harness.protocolVersion, head.harness.protocolVersion);
  compare(changes, "status", base.status, head.status);
  for (const task of commonTasks) {
    const a = base.results.find((r) => r.task === task)!;
    const b = head.results.find((r) => r.task === task)!;
    compare(changes, `${task}: data sha256`, a.data.sha256, b.data.sha256);
    compare(
      changes,
      `${task}: difficulty`,
      `${a.difficulty.description}${a.difficulty.approximate ? " (approximate)" : ""}`,
      `${b.difficulty.description}${b.difficulty.approximate ? " (approximate)" : ""}`,
    );
  }
  return changes;
}

function byId(outcomes: readonly QuestionOutcome[]): Map<string, QuestionOutcome> {
  return new Map(outcomes.map((o) => [o.id, o]));
}

function diffTask(base: TaskResult, head: TaskResult, options: Required<DiffOptions>, changes: Change[]): TaskDiff {
  const baseOutcomes = byId(base.outcomes);
  const headOutcomes = byId(head.outcomes);
  const onlyInBase = [...baseOutcomes.keys()].filter((id) => !headOutcomes.has(id));
  const onlyInHead = [...headOutcomes.keys()].filter((id) => !baseOutcomes.has(id));
  const unanswered: string[] = [];
  const paired: Array<{ id: string; level: string | undefined; pair: readonly [0 | 1, 0 | 1] }> = [];
  let levelDisagreements = 0;
  for (const [id, a] of baseOutcomes) {
    const b = headOutcomes.get(id);
    if (!b) continue;
    const x = a.parses[options.parse];
    const y = b.parses[options.parse];
    // null: the question failed; absent: the parse did not apply to it (no letter probabilities).
    if (x === null || y === null || x === undefined || y === undefined) {
      unanswered.push(id);
      continue;
    }
    if (a.level && b.level && a.level !== b.level) levelDisagreements++;
    // One id, one level: the base's when both have one.
    paired.push({ id, level: a.level ?? b.level, pair: [x, y] });
  }
  if (levelDisagreements > 0)
    changes.push({
      what: `${base.task}: difficulty levels`,
      base: "levels as stored",
      head: `${levelDisagreements} question(s) at another level (paired by the base's level)`,
    });

  const splits: SplitDiff[] = [];
  for (const split of SPLITS) {
    const storedBase = base.splits[split]?.parses[options.parse];
    const storedHead = head.splits[split]?.parses[options.parse];
    const inSplit = paired.filter((p) => split === "avg" || p.level === split);
    const pairs = inSplit.map((p) => p.pair);
    if (!storedBase && !storedHead && pairs.length === 0) continue;
    const test = mcnemarExact(pairs);
    const pairedChange = pairs.length === 0 ? null : round2((100 * (test.headOnly - test.baseOnly)) / pairs.length);
    const interval =
      pairs.length === 0
        ? null
        : pairedBootstrapDeltaInterval(pairs, deriveSeed(options.seed, "diff", base.task, split), options.resamples);
    const change = storedBase && storedHead ? round2(storedHead.accuracy - storedBase.accuracy) : undefined;
    splits.push({
      task: base.task,
      split,
      ...(storedBase ? { base: { n: storedBase.n, accuracy: storedBase.accuracy } } : {}),
      ...(storedHead ? { head: { n: storedHead.n, accuracy: storedHead.accuracy } } : {}),
      ...(change === undefined ? {} : { change }),
      paired: {
        n: pairs.length,
        baseOnly: test.baseOnly,
        headOnly: test.headOnly,
        pValue: test.pValue,
        // Set across all tasks once every split is tested (applyHolm).
        pHolm: test.pValue,
        lostIds: inSplit.filter((p) => p.pair[0] === 1 && p.pair[1] === 0).map((p) => p.id),
        gainedIds: inSplit.filter((p) => p.pair[0] === 0 && p.pair[1] === 1).map((p) => p.id),
        change: pairedChange,
        ci95: interval,
      },
      significant: false,
      regression: false,
    });
  }
  return { task: base.task, onlyInBase, onlyInHead, unanswered, splits };
}

/**
 * Holm-Bonferroni across every split with paired questions, over all tasks (one family: the
 * gate asks "did anything regress?"), then significance and regression from the corrected p.
 * Returns the number of tests corrected for.
 */
function applyHolm(tasks: readonly TaskDiff[], options: Required<DiffOptions>): number {
  const tested = tasks.flatMap((t) => t.splits).filter((s) => s.paired.n > 0);
  const adjusted = holmAdjust(tested.map((s) => s.paired.pValue));
  tested.forEach((s, i) => {
    s.paired.pHolm = adjusted[i]!;
    s.significant = adjusted[i]! < options.alpha;
    s.regression = s.change !== undefined && -s.change > options.maxDrop && s.significant;
  });
  return tested.length;
}

function validateOptions(options: DiffOptions): Required<DiffOptions> {
  const resolved = {
    ...DIFF_DEFAULTS,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as Required<DiffOptions>;
  // The CLI's range (util/validate.ts FLAG_RANGES): 1 gates on every drop that is not exactly even (p < 1).
  if (!(resolved.alpha > 0 && resolved.alpha <= 1)) throw usageError(`--alpha must be a number > 0 and <= 1, got ${resolved.alpha}`);
  if (!(resolved.maxDrop >= 0)) throw usageError(`--max-drop must be >= 0 points, got ${resolved.maxDrop}`);
  if (!Number.isInteger(resolved.resamples) || resolved.resamples < 1)
    throw usageError(`--bootstrap must be an integer >= 1, got ${resolved.resamples}`);
  if (!(resolved.minPaired >= 0 && resolved.minPaired <= 1))
    throw usageError(`--min-paired must be a share between 0 and 1, got ${resolved.minPaired}`);
  if (!Number.isInteger(resolved.seed)) throw usageError(`--seed must be an integer, got ${resolved.seed}`);
  return resolved;
}

/** What the head lacks that the base has, so a "no regression" would not cover it. */
function incompleteness(
  base: EvalReport,
  head: EvalReport,
  tasks: readonly TaskDiff[],
  onlyInBase: readonly TaskName[],
  minPaired: number,
): string[] {
  const problems: string[] = [];
  if (onlyInBase.length > 0) problems.push(`head lacks task(s) the base has: ${onlyInBase.join(", ")}`);
  for (const task of tasks) {
    const a = base.results.find((r) => r.task === task.task)!;
    const b = head.results.find((r) => r.task === task.task)!;
    const missing = SPLITS.filter((split) => a.splits[split] && !b.splits[split]);
    if (missing.length > 0) problems.push(`head lacks ${task.task} split(s) the base has: ${missing.join(", ")}`);
    const baseCoverage = coverageOf(a, base.config);
    const headCoverage = coverageOf(b, head.config);
    if (headCoverage.failed > 0) problems.push(`head ${task.task}: ${headCoverage.failed} question(s) failed (not scored)`);
    const subset = headCoverage.subset !== null && headCoverage.selected < baseCoverage.selected;
    if (subset) {
      problems.push(
        `head ${task.task} is a subset: ${headCoverage.selected} of ${headCoverage.scorable} scored questions (${subsetFlags(headCoverage.subset!)}), base has ${baseCoverage.selected}`,
      );
    }
    const paired = task.splits.find((s) => s.split === "avg")?.paired.n ?? 0;
    if (!subset && paired < minPaired * baseCoverage.answered)
      problems.push(
        `${task.task}: only ${paired} of the base's ${baseCoverage.answered} answered questions are paired with the head (less than ${Math.round(minPaired * 100)}%)`,
      );
  }
  return problems;
}

const sha = (value: string) => `${value.slice(0, 12)}…`;
const describeData = (data: TaskResult["data"]) =>
  `${data.matchesRelease ? "the pinned release" : "data that differs from the pinned release"} (sha256 ${sha(data.sha256)})`;

/** Common tasks whose base and head ran on different benchmark files, and sides off the pinned release. */
function dataDifferences(base: EvalReport, head: EvalReport, common: readonly TaskName[]): { mismatch: string[]; offRelease: string[] } {
  const mismatch: string[] = [];
  const offRelease: string[] = [];
  for (const task of common) {
    const a = base.results.find((r) => r.task === task)!.data;
    const b = head.results.find((r) => r.task === task)!.data;
    if (a.sha256 !== b.sha256) mismatch.push(`${task}: base ran on ${describeData(a)}, head on ${describeData(b)}`);
    for (const [side, data] of [
      ["base", a],
      ["head", b],
    ] as const)
      if (!data.matchesRelease) offRelease.push(`${side} ${task}: ${describeData(data)}`);
  }
  return { mismatch, offRelease };
}

/** Compares head against base. Two reports with no task in common: an error (exit 2). */
export function diffReports(base: LoadedReport, head: LoadedReport, options: DiffOptions = {}): ReportDiff {
  const resolved = validateOptions(options);
  requireParse([base, head], resolved.parse);
  for (const { path, report } of [base, head]) {
    // report@1 kept logprob per split only, not per question: nothing to pair.
    const stored = reportParses(report).includes(resolved.parse);
    if (stored && !report.results.some((r) => r.outcomes.some((o) => o.parses[resolved.parse] !== undefined)))
      throw usageError(
        `${path}: has "${resolved.parse}" accuracies but no per-question "${resolved.parse}" outcomes (a report written before named parses): diff cannot pair its questions`,
      );
  }
  const baseTasks = new Set(base.report.results.map((r) => r.task));
  const headTasks = new Set(head.report.results.map((r) => r.task));
  const common = TASKS.filter((t) => baseTasks.has(t) && headTasks.has(t));
  if (common.length === 0) {
    throw usageError(
      `${base.path} (tasks: ${[...baseTasks].join(", ") || "none"}) and ${head.path} (tasks: ${[...headTasks].join(", ") || "none"}) have no task in common: nothing to compare`,
    );
  }
  const changes = reportChanges(base.report, head.report, common);
  const data = dataDifferences(base.report, head.report, common);
  const tasks = common.map((task) =>
    diffTask(base.report.results.find((r) => r.task === task)!, head.report.results.find((r) => r.task === task)!, resolved, changes),
  );
  const tests = applyHolm(tasks, resolved);
  const regressions = tasks.flatMap((t) =>
    t.splits
      .filter((s) => s.regression)
      .map((s) => ({ task: s.task, split: s.split, change: s.change!, pValue: s.paired.pValue, pHolm: s.paired.pHolm })),
  );
  const tasksOnlyInBase = TASKS.filter((t) => baseTasks.has(t) && !headTasks.has(t));
  const side = ({ path, report }: LoadedReport): DiffSide => ({ path, runId: report.runId, label: rowIdentity(report).table2Label });
  return {
    schema: DIFF_SCHEMA_ID,
    base: side(base),
    head: side(head),
    metric: resolved.parse,
    alpha: resolved.alpha,
    correction: "holm",
    tests,
    maxDrop: resolved.maxDrop,
    ciMethod: "paired-bootstrap",
    seed: resolved.seed,
    resamples: resolved.resamples,
    changes,
    tasks,
    tasksOnlyInBase,
    tasksOnlyInHead: TASKS.filter((t) => headTasks.has(t) && !baseTasks.has(t)),
    regressions,
    incomplete: incompleteness(base.report, head.report, tasks, tasksOnlyInBase, resolved.minPaired),
    releaseMismatch: data.mismatch,
    releaseMismatchAllowed: resolved.allowReleaseMismatch,
    offRelease: data.offRelease,
  };
}
