import type { ReportTable } from "../tables.ts";
import { bodyCells, flatHeaders, labelCells, labelHeaders, tableFooter } from "./cells.ts";
import { escapeMarkdown } from "../../util/escape.ts";

const STYLE = { missing: "—", approximate: (t: string) => `${t}†`, best: (t: string) => `**${t}**`, outside: (t: string) => `${t}!` };

/** GitHub-flavoured markdown; best values in bold, approximate splits with †. */
export function renderTableMarkdown(table: ReportTable): string {
  const headers = flatHeaders(table);
  const labelCount = labelHeaders(table).length;
  const align = headers.map((_, i) => (i < labelCount ? "---" : "---:"));
  const rows = table.blocks.flatMap((block) =>
    block.rows.map((row, i) => [
      ...labelCells(table, row, block.title, i === 0, true).map(escapeMarkdown),
      ...bodyCells(table, row, STYLE),
    ]),
  );
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `### ${table.title}`,
    "",
    line(headers.map(escapeMarkdown)),
    line(align),
    ...rows.map(line),
    "",
    ...tableFooter(table).map((n) => `- ${escapeMarkdown(n)}`),
  ].join("\n");
}

export function renderMarkdownReport(tables: readonly ReportTable[]): string {
  return `${tables.map(renderTableMarkdown).join("\n\n")}\n`;
}
