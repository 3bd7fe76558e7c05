import { PAPER_TABLE1, type RelationName } from "../prompts/mind.ts";
import { renderGroupedBarChart } from "../reports/charts.ts";
import { renderMarkdown, type Table } from "../reports/table.ts";
import type { DistilledRow, RecordOutcome } from "./pipeline.ts";

export interface RelationStats {
  relation: RelationName;
  /** The paper's Table 1 spelling. */
  label: string;
  generated: number;
  kept: number;
  rejected: number;
  unparsed: number;
  /** kept / generated; null when nothing was generated. */
  preserveRate: number | null;
  /** Kept intentions in the paper's KB (Table 1), for scale. */
  paperKept: number;
}

export interface SkippedRecord {
  line: number;
  pair_id: string;
  id_a: string;
  id_b: string;
  reason: string;
}

export interface DistillStats {
  records: { total: number; distilled: number; skipped: number };
  products: number;
  intentions: { generated: number; kept: number; rejected: number; unparsed: number; preserveRate: number | null };
  /** Relations of this run, in the paper's Table 1 row order. */
  relations: RelationStats[];
  skippedReasons: Record<string, number>;
  skipped: SkippedRecord[];
}

/** Groups a skip reason ("image /x/y.png: file not found") by its kind ("image file not found"). */
export function reasonKind(reason: string): string {
  return reason.replace(/^image .+?: /, "image ").replace(/\s*\(.*\)$/, "").replace(/\d+ bytes is over .*/, "over --max-image-bytes");
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
  private readonly products = new Set<string>();
  private readonly skipped: SkippedRecord[] = [];
  private records = 0;
  private distilled = 0;

  constructor(private readonly relations: readonly RelationName[]) {}

  add(outcome: RecordOutcome): void {
    this.records += 1;
    if (outcome.status === "skipped") {
      const r = outcome.record;
      this.skipped.push({ line: r.line, pair_id: r.pairId, id_a: r.a.id, id_b: r.b.id, reason: outcome.reason });
    }
    if (outcome.status !== "done") return;
    this.distilled += 1;
    this.products.add(outcome.record.a.id).add(outcome.record.b.id);
    for (const row of outcome.rows) {
      tallyRow(this.total, row);
      let tally = this.perRelation.get(row.row.Relation);
      if (!tally) this.perRelation.set(row.row.Relation, (tally = emptyTally()));
      tallyRow(tally, row);
    }
  }

  result(): DistillStats {
    const selected = new Set(this.relations);
    const relations = PAPER_TABLE1.filter((t) => selected.has(t.relation)).map((t): RelationStats => {
      const tally = this.perRelation.get(t.relation) ?? emptyTally();
      return { relation: t.relation, label: t.label, ...tally, preserveRate: rate(tally.kept, tally.generated), paperKept: t.kept };
    });
    const skippedReasons: Record<string, number> = {};
    for (const s of this.skipped) skippedReasons[reasonKind(s.reason)] = (skippedReasons[reasonKind(s.reason)] ?? 0) + 1;
    return {
      records: { total: this.records, distilled: this.distilled, skipped: this.skipped.length },
      products: this.products.size,
      intentions: { ...this.total, preserveRate: rate(this.total.kept, this.total.generated) },
      relations,
      skippedReasons,
      skipped: [...this.skipped],
    };
  }
}

/** Counts per relation: generated, kept (verdict yes), rejected (no), unparsed, preserve rate. */
export function computeStats(outcomes: readonly RecordOutcome[], relations: readonly RelationName[]): DistillStats {
  const accumulator = new StatsAccumulator(relations);
  for (const outcome of outcomes) accumulator.add(outcome);
  return accumulator.result();
}

const rateText = (value: number | null) => (value === null ? "—" : value.toFixed(3));

/** The paper's Table 1 layout (relation, kept intentions), with generated, rejected, unparsed and the preserve rate. */
export function relationTable(stats: DistillStats): Table {
  return {
    headers: ["Relation", "Generated", "Kept", "Rejected", "Unparsed", "Preserve rate", "Paper kept"],
    rows: [
      ...stats.relations.map((r) => [r.label, String(r.generated), String(r.kept), String(r.rejected), String(r.unparsed), rateText(r.preserveRate), r.paperKept.toLocaleString("en-US")]),
      ["Total", String(stats.intentions.generated), String(stats.intentions.kept), String(stats.intentions.rejected), String(stats.intentions.unparsed), rateText(stats.intentions.preserveRate), "1,264,441"],
    ],
  };
}

export interface StatsContext {
  model: string;
  textOnly: boolean;
  imageLayout: string;
  shard: string | null;
  records: string;
}

export function renderStatsMarkdown(stats: DistillStats, context: StatsContext): string {
  const lines = [
    "# MIND distillation statistics",
    "",
    `Model \`${context.model}\`, ${context.textOnly ? "text only (unimodal ablation)" : `images (${context.imageLayout})`}, records \`${context.records}\`${context.shard ? `, shard ${context.shard}` : ""}.`,
    "",
    `Records: ${stats.records.total} (distilled ${stats.records.distilled}, skipped ${stats.records.skipped}); products: ${stats.products}.`,
    `Intentions: ${stats.intentions.generated} generated, ${stats.intentions.kept} kept by the role-aware filter, ${stats.intentions.rejected} rejected, ${stats.intentions.unparsed} unparsed (answer neither yes nor no; not kept).`,
    "",
    "## Intentions per relation (paper Table 1 layout)",
    "",
    "Preserve rate = kept / generated. The paper reports 0.17 for Open and 0.2 to 0.4 for the others; 46.7% overall.",
    "",
    renderMarkdown(relationTable(stats)),
    "",
  ];
  if (stats.skipped.length > 0) {
    lines.push("## Skipped records", "", renderMarkdown({ headers: ["Reason", "Records"], rows: Object.entries(stats.skippedReasons).map(([k, v]) => [k, String(v)]) }), "", "Every skipped record, with its line and full reason, is in `skipped.jsonl`.", "");
  }
  return `${lines.join("\n")}\n`;
}

/** The relation-wise filter preserve rate as an offline SVG bar chart. */
export function preserveRateChart(stats: DistillStats): string {
  return renderGroupedBarChart({
    title: "Role-aware filter preserve rate per relation (kept / generated)",
    groups: stats.relations.map((r) => r.label),
    series: [
      {
        name: "preserve rate",
        values: stats.relations.map((r) => (r.preserveRate === null ? undefined : { value: r.preserveRate, tooltip: `${r.label}: ${r.kept}/${r.generated} = ${rateText(r.preserveRate)}` })),
      },
    ],
    yLabel: "preserve rate",
    yMin: 0,
    yMax: 1,
    referenceLines: [{ value: 0.467, label: "paper overall 46.7%" }],
    // Room for the longest relation label (DistinctFrom) under each bar.
    width: Math.max(760, 60 + 90 * stats.relations.length),
    decimals: 3,
  });
}
