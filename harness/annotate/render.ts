import type { Table1, Table1Row } from "../published/table1.ts";
import { renderMarkdownTable, renderText, type Table } from "../render/text-table.ts";
import type { ScoreFormat } from "./defaults.ts";
import { PUBLISHED_AGREEMENT, TABLE1_QUESTIONS } from "./questions.ts";
import type { Agreement, QuestionScore, ScoreResult } from "./score.ts";
import { inertText, sheetCsv } from "../util/escape.ts";

export const SCORE_SCHEMA_ID = "intentionqa-harness/annotation-scores@1";

const rate = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? "—" : value.toFixed(2));
const three = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? "—" : value.toFixed(3));

/** The relations in the paper's Table 1 order, then any others the judgements name. */
function relationRows(result: ScoreResult, published: Table1): Array<{ relation: string; label: string }> {
  const paper = published.rows.map((r) => ({ relation: r.relation as string, label: r.label }));
  const known = new Set(paper.map((r) => r.relation));
  const others = [...new Set(result.questions.flatMap((q) => Object.keys(q.perRelation)))].filter((r) => !known.has(r)).sort();
  return [...paper, ...others.map((r) => ({ relation: r, label: r }))];
}

/** Table 1's human columns beside the paper's, for the Table 1 questions that were judged. */
/** The paper's row for a label as printed ("Effect", ..., "Total"). */
function paperRow(published: Table1, label: string): Omit<Table1Row, "relation"> | undefined {
  return label === "Total" ? published.total : published.rows.find((p) => p.label === label);
}

export function table1(result: ScoreResult, published: Table1): Table | null {
  const present = TABLE1_QUESTIONS.map((c) => ({ ...c, score: result.questions.find((q) => q.question === c.question) })).filter(
    (c) => c.score !== undefined,
  ) as Array<(typeof TABLE1_QUESTIONS)[number] & { score: QuestionScore }>;
  if (present.length === 0) return null;
  const rows = relationRows(result, published).map(({ relation, label }) => {
    const items = Math.max(0, ...present.map((c) => c.score.perRelation[relation]?.items ?? 0));
    return [
      label,
      items === 0 ? "—" : String(items),
      ...present.flatMap((c) => [rate(c.score.perRelation[relation]?.rate), rate(paperRow(published, label)?.[c.published])]),
    ];
  });
  const total = published.total;
  rows.push([
    "Total",
    String(Math.max(...present.map((c) => c.score.overall.items))),
    ...present.flatMap((c) => [rate(c.score.overall.rate), rate(total[c.published])]),
  ]);
  return { headers: ["Relation", "Items", ...present.flatMap((c) => [c.title, `${c.title} paper`])], rows };
}

function agreementCells(a: Agreement): string[] {
  const raters =
    a.annotatorsPerItem.min === a.annotatorsPerItem.max
      ? String(a.annotatorsPerItem.min)
      : `${a.annotatorsPerItem.min}-${a.annotatorsPerItem.max}`;
  const kappa = a.fleiss ? `${three(a.fleiss.kappa)} (SE ${three(a.fleiss.se)})` : "— (unequal raters)";
  // The metric beside alpha where it is not the nominal default, so an ordinal 0.815 is not read as a nominal one.
  const metric = a.krippendorffMetric === "nominal" ? "" : ` (${a.krippendorffMetric})`;
  return [String(a.items), String(a.judgements), raters, three(a.pairwiseAgreement), kappa, `${three(a.krippendorffAlpha)}${metric}`];
}

export function agreementTable(result: ScoreResult, withPaper: boolean): Table {
  const rows = result.questions.map((q) => [q.question, `${rate(q.overall.rate)} (${q.labels[0]})`, ...agreementCells(q.agreement)]);
  if (result.pooled) rows.push([`all (${result.pooled.questions.join(", ")})`, "", ...agreementCells(result.pooled)]);
  if (withPaper)
    rows.push([
      "paper, all aspects (sec. 4.2)",
      "",
      "5000",
      "",
      "3",
      three(PUBLISHED_AGREEMENT.pairwiseAgreement),
      `${PUBLISHED_AGREEMENT.fleissKappa.toFixed(2)}`,
      "—",
    ]);
  return {
    headers: [
      "Question",
      "Majority rate (label)",
      "Items",
      "Judgements",
      "Raters/item",
      "Pairwise agr.",
      "Fleiss kappa (SE)",
      "Krippendorff alpha",
    ],
    rows,
  };
}

/** Majority-label shares for questions with more than two labels (Appendix C's error types). */
export function distributionTable(result: ScoreResult): Table | null {
  const multi = result.questions.filter((q) => q.labels.length > 2);
  if (multi.length === 0) return null;
  const rows = multi.flatMap((q) => [
    ...q.labels.map((label) => [
      q.question,
      label,
      String(q.overall.distribution[label] ?? 0),
      rate((q.overall.distribution[label] ?? 0) / q.overall.items),
    ]),
    ...(q.overall.ties > 0 ? [[q.question, "(tie)", String(q.overall.ties), rate(q.overall.ties / q.overall.items)]] : []),
  ]);
  return { headers: ["Question", "Majority label", "Items", "Share"], rows };
}

/** Which metric each question's alpha used: nominal unless its --question declared ordinal or interval. */
function alphaNote(result: ScoreResult): string {
  const declared = result.questions.filter((q) => q.scale !== "nominal");
  if (declared.length === 0) return "Krippendorff's alpha: nominal metric.";
  const others = declared.length < result.questions.length ? "; nominal for the others" : "";
  return `Krippendorff's alpha (Krippendorff 2011): ${declared.map((q) => `${q.scale} metric for ${q.question}`).join(", ")}${others}.`;
}

function notes(result: ScoreResult, withTable1: boolean): string[] {
  const out = [
    `${result.annotators} annotator(s); files: ${result.files.join(", ")}.`,
    "Majority rate: share of items whose majority label is the question's first label; a tie counts as not positive.",
    "Fleiss' kappa SE: the large-sample standard error under the null of chance agreement (Fleiss, Nee & Landis 1979).",
    alphaNote(result),
  ];
  for (const q of result.questions) {
    if (q.overall.ties > 0) out.push(`${q.question}: ${q.overall.ties} item(s) tied (no majority).`);
    if (withTable1 && q.itemsWithoutRelation > 0)
      out.push(`${q.question}: ${q.itemsWithoutRelation} item(s) with no known relation count only in Total (give --sheet).`);
  }
  return out;
}

export function renderScores(result: ScoreResult, published: Table1, format: ScoreFormat): string {
  const t1 = table1(result, published);
  const agreement = agreementTable(result, t1 !== null);
  const distribution = distributionTable(result);
  if (format === "json") {
    return `${JSON.stringify({ schema: SCORE_SCHEMA_ID, ...result, table1: t1, published: { table1: published, agreement: PUBLISHED_AGREEMENT } }, null, 2)}\n`;
  }
  if (format === "csv") return renderScoresCsv(result, published);
  const sections: Array<[string, Table | null]> = [
    ["Human evaluation (paper Table 1 layout; majority vote of the annotators)", t1],
    ["Agreement per question", agreement],
    ["Majority labels", distribution],
  ];
  if (format === "markdown") {
    return `${sections
      .filter(([, t]) => t !== null)
      .map(([title, t]) => `### ${title}\n\n${renderMarkdownTable(t!)}`)
      .join("\n\n")}\n\n${notes(result, t1 !== null)
      .map((n) => `- ${n}`)
      .join("\n")}\n`;
  }
  return `${sections
    .filter(([, t]) => t !== null)
    .map(([title, t]) => `${title}\n\n${renderText(t!)}`)
    .join("\n\n")}\n\n${notes(result, t1 !== null)
    .map((n) => `  ${n}`)
    .join("\n")}\n`;
}

/** One flat CSV: a row per question and relation (and Total), the paper's rate beside, agreement on the Total rows. */
export function renderScoresCsv(result: ScoreResult, published: Table1): string {
  const header = [
    "question",
    "relation",
    "items",
    "positive",
    "rate",
    "ties",
    "paper_rate",
    "pairwise_agreement",
    "fleiss_kappa",
    "fleiss_se",
    "krippendorff_alpha",
    "krippendorff_metric",
  ];
  const num = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "" : String(v));
  const records: string[][] = [];
  for (const q of result.questions) {
    const column = TABLE1_QUESTIONS.find((c) => c.question === q.question)?.published;
    const paper = (label: string) => (column ? num(paperRow(published, label)?.[column]) : "");
    for (const { relation, label } of relationRows(result, published)) {
      const r = q.perRelation[relation];
      if (!r) continue;
      records.push([q.question, label, String(r.items), String(r.positive), num(r.rate), String(r.ties), paper(label), "", "", "", "", ""]);
    }
    const a = q.agreement;
    records.push([
      q.question,
      "Total",
      String(q.overall.items),
      String(q.overall.positive),
      num(q.overall.rate),
      String(q.overall.ties),
      paper("Total"),
      num(a.pairwiseAgreement),
      num(a.fleiss?.kappa),
      num(a.fleiss?.se),
      num(a.krippendorffAlpha),
      a.krippendorffMetric,
    ]);
  }
  if (result.pooled) {
    const a = result.pooled;
    records.push([
      `all:${a.questions.join("+")}`,
      "Total",
      String(a.items),
      "",
      "",
      "",
      "",
      num(a.pairwiseAgreement),
      num(a.fleiss?.kappa),
      num(a.fleiss?.se),
      num(a.krippendorffAlpha),
      a.krippendorffMetric,
    ]);
  }
  // Relation names came from the judgements: a control in one would act in a terminal that cats the file.
  return sheetCsv([header, ...records.map((record) => record.map(inertText))]);
}
