import { renderCsv } from "./formats/csv.ts";
import { renderHtml } from "./formats/html.ts";
import { renderJson } from "./formats/json.ts";
import { renderLatex } from "./formats/latex.ts";
import { renderMarkdownReport } from "./formats/markdown.ts";
import { renderSvg } from "./formats/svg.ts";
import { renderTerminal } from "./formats/terminal.ts";
import type { BuiltTables } from "./tables.ts";

export const REPORT_FORMATS = ["terminal", "markdown", "csv", "latex", "json", "html", "svg"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** Renders built tables in one format; every format prints the same stored numbers. */
export function renderReport(built: BuiltTables, format: ReportFormat): string {
  switch (format) {
    case "terminal":
      return renderTerminal(built.tables);
    case "markdown":
      return renderMarkdownReport(built.tables);
    case "csv":
      return renderCsv(built.tables);
    case "latex":
      return renderLatex(built.tables);
    case "json":
      return renderJson(built);
    case "html":
      return renderHtml(built.tables, built.warnings);
    case "svg":
      return renderSvg(built.tables);
  }
}
