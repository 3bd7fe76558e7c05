import { canonicalRelation, RELATION_NAMES } from "../prompts/mind.ts";
import { type AlphaMetric, type CountTable, fleissKappa, krippendorffAlpha, majorityLabel, pairwiseAgreement } from "../stats/agreement.ts";
import { HarnessError } from "../util/errors.ts";
import type { Judgement } from "./judgements.ts";
import { intervalValues, type Question } from "./questions.ts";

/**
 * `harness annotate score`: judgements -> majority-vote rates per relation and agreement per
 * question. Pure: the judgements are already read; every rule that rejects input throws a
 * HarnessError naming the file and line of the offending judgement.
 */

export interface Agreement {
  items: number;
  judgements: number;
  annotatorsPerItem: { min: number; max: number };
  pairwiseAgreement: number;
  /** null when items have different numbers of annotators (see fleissNote). */
  fleiss: { kappa: number; se: number; z: number } | null;
  fleissNote?: string;
  krippendorffAlpha: number;
  /** The alpha's metric, from the question's declared scale (nominal unless declared ordinal or interval). */
  krippendorffMetric: AlphaMetric;
}

export interface MajorityRate {
  items: number;
  /** Items whose majority label is the question's first (positive) label. */
  positive: number;
  /** positive / items; ties count as not positive. */
  rate: number;
  ties: number;
  /** Items per majority label (ties left out). */
  distribution: Record<string, number>;
}

export interface QuestionScore {
  question: string;
  labels: readonly string[];
  /** The declared level of measurement (nominal unless the question says otherwise). */
  scale: AlphaMetric;
  agreement: Agreement;
  overall: MajorityRate;
  /** Per relation (MIND relation names where the relation is one); items without a relation count only overall. */
  perRelation: Record<string, MajorityRate>;
  /** Items with no known relation. */
  itemsWithoutRelation: number;
}

export interface ScoreResult {
  questions: QuestionScore[];
  /** Every question of the same scale pooled, one unit per (item, question): the paper's single agreement figure. */
  pooled: (Agreement & { questions: string[] }) | null;
  annotators: number;
  files: string[];
}

export interface ScoreInput {
  judgements: readonly Judgement[];
  questions: readonly Question[];
  /** item_id -> relation from an exported sheet; when given, every judged item must be in it. */
  sheet?: { file: string; relations: ReadonlyMap<string, { relation: string }> };
}

/** The relation of an item: the sheet's, else the judgement row's own, else an id of the form "<relation>:<rest>". */
function relationOf(judgement: Judgement, sheet: ScoreInput["sheet"]): string | undefined {
  if (sheet) return canonicalRelation(sheet.relations.get(judgement.itemId)!.relation);
  if (judgement.relation) return canonicalRelation(judgement.relation);
  const colon = judgement.itemId.indexOf(":");
  if (colon > 0) {
    const relation = canonicalRelation(judgement.itemId.slice(0, colon));
    if ((RELATION_NAMES as readonly string[]).includes(relation)) return relation;
  }
  return undefined;
}

interface ItemVotes {
  relation: string | undefined;
  labels: number[];
  first: Judgement;
}

/** Krippendorff's alpha under the question's scale: interval alpha on the labels' numbers. */
function alphaOf(rows: CountTable, question: Question): { alpha: number; metric: AlphaMetric } {
  const metric = question.scale ?? "nominal";
  const { alpha } = krippendorffAlpha(rows, metric, metric === "interval" ? intervalValues(question) : undefined);
  return { alpha, metric };
}

function agreementOf(rows: CountTable, judgements: number, question: Question): Agreement {
  const sizes = rows.map((r) => r.reduce((a, b) => a + b, 0));
  const min = Math.min(...sizes);
  const max = Math.max(...sizes);
  const { alpha, metric } = alphaOf(rows, question);
  const base = {
    items: rows.length,
    judgements,
    annotatorsPerItem: { min, max },
    pairwiseAgreement: pairwiseAgreement(rows),
    krippendorffAlpha: alpha,
    krippendorffMetric: metric,
  };
  if (min !== max)
    return {
      ...base,
      fleiss: null,
      fleissNote: `items have ${min} to ${max} annotators: Fleiss' kappa needs the same number; see Krippendorff's alpha`,
    };
  const { kappa, se, z } = fleissKappa(rows);
  return { ...base, fleiss: { kappa, se, z } };
}

function majorityRate(rows: CountTable, labels: readonly string[]): MajorityRate {
  const distribution: Record<string, number> = Object.fromEntries(labels.map((l) => [l, 0]));
  let ties = 0;
  for (const row of rows) {
    const winner = majorityLabel(row);
    if (winner === null) ties += 1;
    else distribution[labels[winner]!]! += 1;
  }
  const positive = distribution[labels[0]!]!;
  return { items: rows.length, positive, rate: rows.length === 0 ? Number.NaN : positive / rows.length, ties, distribution };
}

/** Every item's votes per question, after checking each judgement against the questions and the sheet. */
interface Votes {
  perQuestion: Map<string, Map<string, ItemVotes>>;
  annotators: Set<string>;
}

export function scoreJudgements(input: ScoreInput): ScoreResult {
  const votes = collectVotes(input);
  const scores: QuestionScore[] = [];
  for (const question of input.questions) {
    const items = votes.perQuestion.get(question.name);
    if (items) scores.push(scoreQuestion(question, items));
  }
  return {
    questions: scores,
    pooled: pooledAgreement(scores, votes.perQuestion),
    annotators: votes.annotators.size,
    files: [...new Set(input.judgements.map((j) => j.file))],
  };
}

function collectVotes(input: ScoreInput): Votes {
  const questions = new Map(input.questions.map((q) => [q.name, q]));
  const perQuestion = new Map<string, Map<string, ItemVotes>>();
  const seen = new Map<string, Judgement>();
  const annotators = new Set<string>();
  for (const j of input.judgements) {
    const index = labelIndex(j, questions, input.sheet);
    const key = `${j.itemId}\u0000${j.annotator}\u0000${j.question}`;
    const earlier = seen.get(key);
    if (earlier)
      throw new HarnessError(
        `${j.file}:${j.line}: duplicate judgement: annotator ${j.annotator} already answered ${j.question} for item ${j.itemId} at ${earlier.file}:${earlier.line}`,
      );
    seen.set(key, j);
    annotators.add(j.annotator);
    let items = perQuestion.get(j.question);
    if (!items) perQuestion.set(j.question, (items = new Map()));
    const item = items.get(j.itemId);
    if (item) item.labels.push(index);
    else items.set(j.itemId, { relation: relationOf(j, input.sheet), labels: [index], first: j });
  }
  if (perQuestion.size === 0) throw new HarnessError("no judgements in the input files");
  return { perQuestion, annotators };
}

/** The judgement's label as an index on its question's scale; refuses an unknown question or label, or an item not in the sheet. */
function labelIndex(j: Judgement, questions: ReadonlyMap<string, Question>, sheet: ScoreInput["sheet"]): number {
  const at = `${j.file}:${j.line}`;
  const question = questions.get(j.question);
  if (!question) {
    throw new HarnessError(
      `${at}: unknown question "${j.question}"; known: ${[...questions.keys()].join(", ")} (declare others with --question NAME=label1,label2)`,
    );
  }
  const index = question.labels.findIndex((l) => l.toLowerCase() === j.label.toLowerCase());
  if (index < 0)
    throw new HarnessError(
      `${at}: label ${JSON.stringify(j.label)} is not on the scale of question ${j.question}: expected one of ${question.labels.join(", ")}`,
    );
  if (sheet && !sheet.relations.has(j.itemId)) throw new HarnessError(`${at}: item ${j.itemId} is not in the sheet ${sheet.file}`);
  return index;
}

/** One item's votes as a count row over the scale's labels. */
function countRow(votes: ItemVotes, labels: number): number[] {
  const row = new Array<number>(labels).fill(0);
  for (const label of votes.labels) row[label]! += 1;
  return row;
}

function scoreQuestion(question: Question, items: ReadonlyMap<string, ItemVotes>): QuestionScore {
  const lonely = [...items.entries()].find(([, votes]) => votes.labels.length < 2);
  if (lonely) {
    const [id, votes] = lonely;
    throw new HarnessError(
      `${votes.first.file}:${votes.first.line}: item ${id} has a single annotator for ${question.name}: agreement and majority votes need at least two per item`,
    );
  }
  const all = [...items.values()];
  const byRelation = new Map<string, number[][]>();
  let withoutRelation = 0;
  for (const votes of all) {
    if (votes.relation === undefined) {
      withoutRelation += 1;
      continue;
    }
    let rows = byRelation.get(votes.relation);
    if (!rows) byRelation.set(votes.relation, (rows = []));
    rows.push(countRow(votes, question.labels.length));
  }
  const rows = all.map((votes) => countRow(votes, question.labels.length));
  return {
    question: question.name,
    labels: question.labels,
    scale: question.scale ?? "nominal",
    agreement: agreementOf(
      rows,
      all.reduce((a, v) => a + v.labels.length, 0),
      question,
    ),
    overall: majorityRate(rows, question.labels),
    perRelation: Object.fromEntries([...byRelation.entries()].map(([relation, r]) => [relation, majorityRate(r, question.labels)])),
    itemsWithoutRelation: withoutRelation,
  };
}

/**
 * Questions of one scale (same labels, same level of measurement) pooled (the paper's single
 * agreement figure): the largest such group, if it has two or more.
 */
function pooledAgreement(scores: readonly QuestionScore[], perQuestion: Votes["perQuestion"]): ScoreResult["pooled"] {
  const scaleKey = (q: QuestionScore) => `${q.scale}:${q.labels.map((l) => l.toLowerCase()).join("|")}`;
  const groups = new Map<string, QuestionScore[]>();
  for (const q of scores) groups.set(scaleKey(q), [...(groups.get(scaleKey(q)) ?? []), q]);
  const biggest = [...groups.values()].sort((a, b) => b.length - a.length)[0]!;
  if (biggest.length <= 1) return null;
  const rows: number[][] = [];
  let judgements = 0;
  for (const q of biggest) {
    for (const votes of perQuestion.get(q.question)!.values()) {
      rows.push(countRow(votes, q.labels.length));
      judgements += votes.labels.length;
    }
  }
  const first = biggest[0]!;
  return {
    ...agreementOf(rows, judgements, { name: first.question, labels: first.labels, text: first.question, scale: first.scale }),
    questions: biggest.map((q) => q.question),
  };
}
