import { ALPHA_METRICS, type AlphaMetric } from "../stats/agreement.ts";
import { usageError } from "../util/errors.ts";

/**
 * The questions annotators answer, each with its closed label scale. The first label is the
 * "positive" one: a question's rate is the share of items whose majority label is that label.
 * Wording follows the paper's annotation setup (section 4.1) and its error analysis (Appendix C).
 */
export interface Question {
  name: string;
  labels: readonly string[];
  /** What the annotator is asked (shown in the HIT template and the docs). */
  text: string;
  /**
   * The scale's level of measurement, which picks Krippendorff's alpha metric: nominal (the
   * default: labels are unordered categories), ordinal (labels listed in rank order) or interval
   * (every label a number; distances between them count).
   */
  scale?: AlphaMetric;
}

export const QUESTIONS: Readonly<Record<string, Question>> = {
  plausible: {
    name: "plausible",
    labels: ["yes", "no"],
    text: "Plausibility: is the intention correct and reasonable for buying both products together?",
  },
  typical: {
    name: "typical",
    labels: ["yes", "no"],
    text: "Typicality: does the intention name a specific, informative reason that would cause someone to buy these two products together?",
  },
  filter_correct: {
    name: "filter_correct",
    labels: ["yes", "no"],
    text: "The automatic filter {verdict} this intention for the two products. Was that decision correct?",
  },
  rationale_ok: {
    name: "rationale_ok",
    labels: ["yes", "no"],
    text: "Is the filter's reason for its decision (below) correct?",
  },
  human_centric: {
    name: "human_centric",
    labels: ["yes", "no"],
    text: "Human-centric: does the intention consider the mental state and preferences of a customer, not only the products' properties?",
  },
  rejection_reason: {
    name: "rejection_reason",
    labels: ["weak_evidence", "misjudged", "implausible"],
    text:
      "Why was this intention rejected? weak_evidence: plausible, but not strong enough to make a customer buy both; " +
      "misjudged: plausible and typical, the filter was wrong; implausible: wrong or not matching the products.",
  },
};

/** Table 1's human columns, in the paper's order, with the column titles it prints. */
export const TABLE1_QUESTIONS = [
  { question: "plausible", title: "Pla.", published: "plausibility" },
  { question: "typical", title: "Typ.", published: "typicality" },
  { question: "filter_correct", title: "Fil.", published: "filterCorrect" },
  { question: "rationale_ok", title: "Rat.", published: "filterRationaleOk" },
] as const;

/** Paper, section 4.2: over all aspects, pairwise agreement 73.1% and Fleiss' kappa 0.56. */
export const PUBLISHED_AGREEMENT = { pairwiseAgreement: 0.731, fleissKappa: 0.56 } as const;

/** What an exported sheet asks, by sample kind: Table 1's four, or Appendix C's error analysis. */
export const SHEET_QUESTIONS = {
  table1: ["plausible", "typical", "filter_correct", "rationale_ok"],
  rejected: ["rejection_reason", "rationale_ok"],
} as const;

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const SPEC_FORMAT = `expected NAME[:${ALPHA_METRICS.join("|")}]=label1,label2[,...] (a name of letters, digits, _ and at least two labels)`;

/** The numbers of an interval scale's labels, or a usage error naming the label that is not one. */
export function intervalValues(question: Question): number[] {
  return question.labels.map((label) => {
    const value = label.trim() === "" ? Number.NaN : Number(label);
    if (!Number.isFinite(value))
      throw usageError(
        `--question ${question.name}:interval: label "${label}" is not a number (an interval scale's labels are its values)`,
      );
    return value;
  });
}

/** Splits "NAME[:scale]=l1,l2" into its name, scale and labels; any part may come out empty or wrong for the caller to refuse. */
function splitSpec(spec: string): { name: string; scale: string | undefined; labels: string[] } {
  const eq = spec.indexOf("=");
  const head = eq < 0 ? "" : spec.slice(0, eq).trim();
  const colon = head.indexOf(":");
  const labels =
    eq < 0
      ? []
      : spec
          .slice(eq + 1)
          .split(",")
          .map((l) => l.trim())
          .filter(Boolean);
  return colon < 0
    ? { name: head, scale: undefined, labels }
    : { name: head.slice(0, colon).trim(), scale: head.slice(colon + 1).trim(), labels };
}

/**
 * `--question NAME[:SCALE]=label1,label2,...` (repeatable): declares the scale of a question of
 * one's own; any declaration replaces the built-in set. Labels are matched case-insensitively.
 * SCALE (nominal, ordinal, interval; default nominal) picks Krippendorff's alpha metric.
 */
export function parseQuestionSpecs(specs: readonly string[] | undefined): Question[] {
  if (!specs || specs.length === 0) return Object.values(QUESTIONS);
  const out: Question[] = [];
  for (const spec of specs) {
    const { name, scale, labels } = splitSpec(spec);
    if (!NAME.test(name) || labels.length < 2) throw usageError(`--question "${spec}": ${SPEC_FORMAT}`);
    if (scale !== undefined && !(ALPHA_METRICS as readonly string[]).includes(scale))
      throw usageError(`--question "${spec}": unknown scale "${scale}"; expected one of ${ALPHA_METRICS.join(", ")}`);
    const lower = labels.map((l) => l.toLowerCase());
    if (new Set(lower).size !== lower.length) throw usageError(`--question "${spec}": a label is listed twice`);
    if (out.some((q) => q.name === name)) throw usageError(`--question ${name} is declared twice`);
    const question: Question = {
      name,
      labels,
      text: QUESTIONS[name]?.text ?? name,
      scale: (scale as AlphaMetric | undefined) ?? "nominal",
    };
    if (question.scale === "interval") intervalValues(question);
    out.push(question);
  }
  return out;
}
