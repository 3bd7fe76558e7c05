/**
 * What `analyze robustness` finds and how it is shown: the result's shape (summary.json), the
 * terminal summary, summary.md, histogram.svg and its Vega-Lite spec. No I/O here: robustness.ts writes them.
 */
import { type GroupedBarChartSpec, renderGroupedBarChart } from "../render/charts.ts";
import { vegaLiteFile } from "../render/vega-lite.ts";
import { renderMarkdownTable, renderText, type Table } from "../render/text-table.ts";
import type { HistogramBin } from "../stats/histogram.ts";
import { escapeMarkdown } from "../util/escape.ts";
import { ROBUSTNESS_METHOD } from "./defaults.ts";

export interface RobustnessPair {
  item: string;
  relation: string;
  idA: string;
  idB: string;
  original: string;
  regenerated: string;
  cosine: number;
}

export interface RobustnessResult {
  schema: "intentionqa-harness/robustness@1";
  pairs: number;
  /** Rows drawn: --sample, or every eligible row when the KB has fewer. */
  sampled: number;
  /** --sample as asked. */
  requested: number;
  /** Rows of the sample that could not be regenerated (no image, unknown relation), with why. */
  skipped: Array<{ item: string; reason: string }>;
  meanCosine: number;
  ci95: { low: number; high: number };
  median: number;
  min: number;
  max: number;
  paperMeanCosine: number;
  histogram: HistogramBin[];
  config: Record<string, unknown>;
  requests: { sent: number; cacheHits: number; retries: number; failures: number };
}

/** The files `analyze robustness` writes into --out. */
export const ROBUSTNESS_OUTPUT_FILES = ["pairs.jsonl", "histogram.svg", "histogram.vl.json", "summary.md", "summary.json"] as const;

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "—");

export function summaryTable(result: RobustnessResult): Table {
  return {
    headers: ["", "Pairs", "Mean cosine", "95% CI", "Median", "Min", "Max"],
    rows: [
      [
        "this run",
        `${result.pairs}${result.pairs < result.sampled ? ` of ${result.sampled}` : ""}`,
        f3(result.meanCosine),
        `${f3(result.ci95.low)}-${f3(result.ci95.high)}`,
        f3(result.median),
        f3(result.min),
        f3(result.max),
      ],
      ["paper (5.4.4, SentenceBERT)", "100", f3(result.paperMeanCosine), "—", "—", "—", "—"],
    ],
  };
}

/** A text histogram of the non-empty range, one row per bin. */
export function textHistogram(bins: readonly HistogramBin[], width = 40): string {
  const first = bins.findIndex((b) => b.count > 0);
  if (first < 0) return "(no pairs)";
  const last = bins.length - 1 - [...bins].reverse().findIndex((b) => b.count > 0);
  const most = Math.max(...bins.map((b) => b.count));
  return bins
    .slice(first, last + 1)
    .map((b) => `${b.low.toFixed(2)}-${b.high.toFixed(2)} ${"#".repeat(Math.round((b.count / most) * width)).padEnd(width)} ${b.count}`)
    .join("\n");
}

function notes(result: RobustnessResult): string[] {
  const out = [
    `Embeddings: ${String(result.config["embeddings"])} (the paper used SentenceBERT; the number depends on the embedding model).`,
    `Bootstrap: percentile interval of the mean, ${ROBUSTNESS_METHOD.resamples} resamples, seed ${String(result.config["seed"])}.`,
  ];
  if (result.sampled < result.requested)
    out.push(`The KB has ${result.sampled} eligible row(s), fewer than --sample ${result.requested}: all of them were used.`);
  if (result.skipped.length > 0)
    out.push(
      `PARTIAL: ${result.skipped.length} of ${result.sampled} sampled row(s) skipped (${result.skipped[0]!.reason}${result.skipped.length > 1 ? ", ..." : ""}); see summary.json.`,
    );
  return out;
}

export function renderRobustnessText(result: RobustnessResult): string {
  return `Robustness to the stage-2 prompt (paper section 5.4.4)\n\n${renderText(summaryTable(result))}\n\nCosine similarity, regenerated vs original intention:\n${textHistogram(result.histogram)}\n\n${notes(
    result,
  )
    .map((n) => `  ${n}`)
    .join("\n")}\n`;
}

export function renderRobustnessMarkdown(result: RobustnessResult): string {
  return `# Robustness to the stage-2 prompt (paper section 5.4.4)\n\n${renderMarkdownTable(summaryTable(result))}\n\n![histogram](histogram.svg)\n\n\`\`\`\n${textHistogram(result.histogram)}\n\`\`\`\n\n${notes(
    result,
  )
    .map((n) => `- ${escapeMarkdown(n)}`)
    .join("\n")}\n`;
}

export function histogramSvg(result: RobustnessResult): string {
  return renderGroupedBarChart(histogramChart(result));
}

/** histogram.vl.json: the same histogram as a Vega-Lite v5 spec, to restyle. */
export function histogramVegaLite(result: RobustnessResult): string {
  return vegaLiteFile(histogramChart(result));
}

function histogramChart(result: RobustnessResult): GroupedBarChartSpec {
  const first = Math.max(
    0,
    result.histogram.findIndex((b) => b.count > 0),
  );
  const bins = result.histogram.slice(Math.min(first, result.histogram.length - 1));
  return {
    title: `Cosine similarity, regenerated vs original intention (n = ${result.pairs}; mean ${f3(result.meanCosine)}, paper ${f3(result.paperMeanCosine)})`,
    groups: bins.map((b) => `${b.low.toFixed(2)}`),
    series: [
      { name: "pairs", values: bins.map((b) => ({ value: b.count, tooltip: `${b.low.toFixed(2)}-${b.high.toFixed(2)}: ${b.count}` })) },
    ],
    yLabel: "pairs",
    yMin: 0,
    decimals: 0,
  };
}
