import { CompactStringSet } from "../util/compact-set.ts";
import type { MindPromptSetName, RelationName } from "../prompts/mind.ts";
import { paperTable1 } from "../published/table1.ts";
import { type GroupedBarChartSpec, renderGroupedBarChart } from "../render/charts.ts";
import { vegaLiteFile } from "../render/vega-lite.ts";
import { renderMarkdownTable, type Table } from "../render/text-table.ts";
import type { DistilledRow, RecordOutcome } from "./pipeline.ts";
import { markdownCode } from "../util/escape.ts";

/**
 * The unit of distillation: "row", one intention per input row under the row's relation (the
 * original's, for FolkScope rows); "fan-out", every bare pair under each relation of --relations.
 */
export type DistillUnit = "row" | "fan-out";

export interface RelationStats {
  relation: RelationName;
  /** The paper's Table 1 spelling. */
  label: string;
  /** Input rows under this relation (fan-out: records, each asked under every relation). */
  input: number;
  /** Of those, skipped (no image, no step-1 description). */
  skipped: number;
  generated: number;
  kept: number;
  rejected: number;
  unparsed: number;
  /** kept / generated; null when nothing was generated. */
  preserveRate: number | null;
  /** Kept intentions in the paper's KB (Table 1), for scale. */
  paperKept: number;
}

/** The paper's Table 1 figures shown beside a run's, with its own inconsistency. */
export interface PaperTable1Summary {
  /** The Total row as printed (1,264,441). */
  printedTotal: number;
  /** The relation rows added up (1,266,441). */
  rowSum: number;
  /** Says that the two differ, or null. */
  note: string | null;
}

export interface SkippedRecord {
  line: number;
  pair_id: string;
  id_a: string;
  id_b: string;
  reason: string;
}

export interface DistillStats {
  unit: DistillUnit;
  records: { total: number; distilled: number; skipped: number };
  products: number;
  intentions: { generated: number; kept: number; rejected: number; unparsed: number; preserveRate: number | null };
  /** Relations of this run, in the paper's Table 1 row order. */
  relations: RelationStats[];
  skippedReasons: Record<string, number>;
  skipped: SkippedRecord[];
  paperTable1: PaperTable1Summary;
}

/** Groups a skip reason ("image /x/y.png: file not found") by its kind ("image file not found"). */
export function reasonKind(reason: string): string {
  return reason
    .replace(/^image( folder)? .+?: /, "image$1 ")
    .replace(/^product .+?: /, "product ")
    .replace(/\s*\(.*\)$/, "")
    .replace(/\d+ bytes is over .*/, "over --max-image-bytes");
}

interface Tally {
  generated: number;
  kept: number;
  rejected: number;
  unparsed: number;
}

const emptyTally = (): Tally => ({ generated: 0, kept: 0, rejected: 0, unparsed: 0 });

function tallyRow(tally: Tally, row: DistilledRow): void {
  tally.generated += 1;
  if (row.verdict === "yes") tally.kept += 1;
  else if (row.verdict === "no") tally.rejected += 1;
  else tally.unparsed += 1;
}

const rate = (kept: number, generated: number) => (generated > 0 ? kept / generated : null);

/** Counts as outcomes stream by, so a large run never holds its rows for the stats. */
export class StatsAccumulator {
  private readonly total = emptyTally();
  private readonly perRelation = new Map<string, Tally>();
  private readonly input = new Map<RelationName, { rows: number; skipped: number }>();
  /** Distinct products, as compact hashes: a paper-scale run does not hold every id. */
  private readonly products = new CompactStringSet();
  private readonly skipped: SkippedRecord[] = [];
  private records = 0;
  private distilled = 0;

  /** `fanOut`: the relations a record without its own relation is asked under. */
  constructor(
    private readonly fanOut: readonly RelationName[],
    private readonly unit: DistillUnit,
  ) {
    for (const relation of fanOut) this.input.set(relation, { rows: 0, skipped: 0 });
  }

  add(outcome: RecordOutcome): void {
    this.records += 1;
    const r = outcome.record;
    for (const relation of r.relation === null ? this.fanOut : [r.relation]) {
      let input = this.input.get(relation);
      if (!input) this.input.set(relation, (input = { rows: 0, skipped: 0 }));
      input.rows += 1;
      if (outcome.status === "skipped") input.skipped += 1;
    }
    if (outcome.status === "skipped") {
      this.skipped.push({ line: r.line, pair_id: r.pairId, id_a: r.a.id, id_b: r.b.id, reason: outcome.reason });
    }
    if (outcome.status !== "done") return;
    this.distilled += 1;
    this.products.add(r.a.id);
    this.products.add(r.b.id);
    for (const row of outcome.rows) {
      tallyRow(this.total, row);
      let tally = this.perRelation.get(row.row.Relation);
      if (!tally) this.perRelation.set(row.row.Relation, (tally = emptyTally()));
      tallyRow(tally, row);
    }
  }

  result(): DistillStats {
    const table1 = paperTable1();
    const relations = table1.rows
      .filter((t) => this.input.has(t.relation))
      .map((t): RelationStats => {
        const tally = this.perRelation.get(t.relation) ?? emptyTally();
        const input = this.input.get(t.relation)!;
        return {
          relation: t.relation,
          label: t.label,
          input: input.rows,
          skipped: input.skipped,
          ...tally,
          preserveRate: rate(tally.kept, tally.generated),
          paperKept: t.keptIntentions,
        };
      });
    const skippedReasons: Record<string, number> = {};
    for (const s of this.skipped) skippedReasons[reasonKind(s.reason)] = (skippedReasons[reasonKind(s.reason)] ?? 0) + 1;
    return {
      unit: this.unit,
      records: { total: this.records, distilled: this.distilled, skipped: this.skipped.length },
      products: this.products.size,
      intentions: { ...this.total, preserveRate: rate(this.total.kept, this.total.generated) },
      relations,
      skippedReasons,
      skipped: [...this.skipped],
      paperTable1: { printedTotal: table1.total.keptIntentions, rowSum: table1.keptSum, note: table1.totalMismatch },
    };
  }
}

/** Counts per relation: input, skipped, generated, kept (verdict yes), rejected (no), unparsed, preserve rate. */
export function computeStats(
  outcomes: readonly RecordOutcome[],
  fanOut: readonly RelationName[],
  unit: DistillUnit = "fan-out",
): DistillStats {
  const accumulator = new StatsAccumulator(fanOut, unit);
  for (const outcome of outcomes) accumulator.add(outcome);
  return accumulator.result();
}

const rateText = (value: number | null) => (value === null ? "—" : value.toFixed(3));

const count = (n: number) => n.toLocaleString("en-US");

/**
 * The paper's Table 1 layout (its relations, its order) with this run's counts: input rows,
 * skipped, generated, kept, rejected, unparsed, the preserve rate, and the paper's kept count.
 * The Total's paper figure is the printed one, marked: the rows add up to another number.
 */
export function distillRelationTable(stats: DistillStats): Table {
  const paperTotal = `${count(stats.paperTable1.printedTotal)}${stats.paperTable1.note ? " *" : ""}`;
  const sum = (key: "input" | "skipped") => String(stats.relations.reduce((n, r) => n + r[key], 0));
  return {
    headers: ["Relation", "Input", "Skipped", "Generated", "Kept", "Rejected", "Unparsed", "Preserve rate", "Paper kept"],
    rows: [
      ...stats.relations.map((r) => [
        r.label,
        String(r.input),
        String(r.skipped),
        String(r.generated),
        String(r.kept),
        String(r.rejected),
        String(r.unparsed),
        rateText(r.preserveRate),
        count(r.paperKept),
      ]),
      [
        "Total",
        sum("input"),
        sum("skipped"),
        String(stats.intentions.generated),
        String(stats.intentions.kept),
        String(stats.intentions.rejected),
        String(stats.intentions.unparsed),
        rateText(stats.intentions.preserveRate),
        paperTotal,
      ],
    ],
  };
}

/** The footnote for the Total's paper figure, or "" when the paper's numbers agree. */
export function paperTotalNote(stats: DistillStats): string {
  return stats.paperTable1.note ? `* ${stats.paperTable1.note}.` : "";
}

export const PROMPT_SET_LABELS: Record<MindPromptSetName, string> = {
  multimodal: "multimodal (the original's prompts, with images)",
  "text-only": "text only (the spec's text-only wording, no images: the unimodal ablation)",
  "text-only-image-phrased": "text only, image-phrased (the original's prompts with no image attached)",
};

const UNIT_LABELS: Record<DistillUnit, string> = {
  row: "one intention per input row, under the row's relation (the original's unit)",
  "fan-out": "every pair under each relation of --relations (fan-out)",
};

export interface StatsContext {
  model: string;
  promptSet: MindPromptSetName;
  imageLayout: string;
  padImages: boolean;
  shard: string | null;
  records: string;
}

export function renderStatsMarkdown(stats: DistillStats, context: StatsContext): string {
  const images =
    context.promptSet === "multimodal" ? `; images ${context.imageLayout}, ${context.padImages ? "padded to squares" : "not padded"}` : "";
  const lines = [
    "# MIND distillation statistics",
    "",
    `Model ${markdownCode(context.model)}, records ${markdownCode(context.records)}${context.shard ? `, shard ${context.shard}` : ""}.`,
    `Prompts: ${PROMPT_SET_LABELS[context.promptSet]}${images}.`,
    `Unit: ${UNIT_LABELS[stats.unit]}.`,
    "",
    `Records: ${stats.records.total} (distilled ${stats.records.distilled}, skipped ${stats.records.skipped}); products: ${stats.products}.`,
    `Intentions: ${stats.intentions.generated} generated, ${stats.intentions.kept} kept by the role-aware filter, ${stats.intentions.rejected} rejected, ${stats.intentions.unparsed} unparsed (answer neither yes nor no; not kept).`,
    "",
    "## Intentions per relation, beside the paper's Table 1",
    "",
    "Input = rows asked under the relation; Preserve rate = kept / generated. The paper reports 0.17 for Open and 0.2 to 0.4 for the others (Appendix G), and 46.7% overall (Section 4); Paper kept is Table 1's #Int.",
    "",
    renderMarkdownTable(distillRelationTable(stats)),
    "",
  ];
  const note = paperTotalNote(stats);
  // Escaped, so Markdown shows the footnote mark instead of starting a list.
  if (note) lines.push(note.replace(/^\*/, "\\*"), "");
  if (stats.skipped.length > 0) {
    lines.push(
      "## Skipped records",
      "",
      renderMarkdownTable({ headers: ["Reason", "Records"], rows: Object.entries(stats.skippedReasons).map(([k, v]) => [k, String(v)]) }),
      "",
      "Every skipped record, with its line and full reason, is in `skipped.jsonl`.",
      "",
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The relation-wise filter preserve rate as an offline SVG bar chart. */
export function preserveRateChart(stats: DistillStats): string {
  return renderGroupedBarChart(preserveRateSpec(stats));
}

/** preserve_rate.vl.json: the same chart as a Vega-Lite v5 spec, to restyle. */
export function preserveRateVegaLite(stats: DistillStats): string {
  return vegaLiteFile(preserveRateSpec(stats));
}

function preserveRateSpec(stats: DistillStats): GroupedBarChartSpec {
  return {
    title: "Role-aware filter preserve rate per relation (kept / generated)",
    groups: stats.relations.map((r) => r.label),
    series: [
      {
        name: "preserve rate",
        values: stats.relations.map((r) =>
          r.preserveRate === null
            ? undefined
            : { value: r.preserveRate, tooltip: `${r.label}: ${r.kept}/${r.generated} = ${rateText(r.preserveRate)}` },
        ),
      },
    ],
    yLabel: "preserve rate",
    yMin: 0,
    yMax: 1,
    referenceLines: [{ value: 0.467, label: "paper overall 46.7%" }],
    // Room for the longest relation label (DistinctFrom) under each bar.
    width: Math.max(760, 60 + 90 * stats.relations.length),
    decimals: 3,
  };
}
