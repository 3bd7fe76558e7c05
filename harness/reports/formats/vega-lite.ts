import { vegaLiteDocument } from "../../render/vega-lite.ts";
import type { ReportTable } from "../tables.ts";
import { tableChartSpecs } from "./svg.ts";

/**
 * `--format vega-lite`: the charts of `--format svg` as one Vega-Lite v5 document (a vconcat of
 * one spec per chart, each with its own data: the bars' numbers as stored, their 95% intervals,
 * colours and SVG patterns), to restyle in the Vega editor, Altair or a notebook.
 */
export function renderVegaLite(tables: readonly ReportTable[]): string {
  return `${JSON.stringify(vegaLiteDocument(tables.flatMap(tableChartSpecs)), null, 2)}\n`;
}
