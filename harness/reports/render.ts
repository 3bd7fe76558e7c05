import { renderCsv } from "./formats/csv.ts";
import { renderHtml } from "./formats/html.ts";
import { renderJson } from "./formats/json.ts";
import { renderLatex } from "./formats/latex.ts";
import { renderMarkdownReport } from "./formats/markdown.ts";
import { renderSvg } from "./formats/svg.ts";
import { renderTerminal } from "./formats/terminal.ts";
import { renderVegaLite } from "./formats/vega-lite.ts";
import type { BuiltTables } from "./tables.ts";

/**
 * The report format table: each `--format` and its renderer (one file in formats/). Every format
 * prints the same stored numbers; to add one, write its file and add an entry here.
 */
const REPORT_FORMAT_TABLE = {
  terminal: (built) => renderTerminal(built.tables),
  markdown: (built) => renderMarkdownReport(built.tables),
  csv: (built) => renderCsv(built.tables),
  latex: (built) => renderLatex(built.tables),
  json: (built) => renderJson(built),
  html: (built) => renderHtml(built.tables, built.warnings),
  svg: (built) => renderSvg(built.tables),
  "vega-lite": (built) => renderVegaLite(built.tables),
} satisfies Record<string, (built: BuiltTables) => string>;

export type ReportFormat = keyof typeof REPORT_FORMAT_TABLE;
/** The formats, in the table's order (`--format` choices). */
export const REPORT_FORMATS = Object.keys(REPORT_FORMAT_TABLE) as ReportFormat[];

/** Renders built tables in one format. */
export function renderReport(built: BuiltTables, format: ReportFormat): string {
  return REPORT_FORMAT_TABLE[format](built);
}
