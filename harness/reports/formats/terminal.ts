import { taskDefinition } from "../../benchmark/tasks.ts";
import type { ReportTable } from "../tables.ts";
import { bodyCells, bodyGroups, bodyHeaders, labelCells, labelHeaders, tableFooter } from "./cells.ts";

const STYLE = { missing: "—", approximate: (t: string) => `${t}†`, best: (t: string) => `${t}*`, outside: (t: string) => `${t}!` };

/** A fixed-width table with task names spanning their splits and n; best values end in "*", gaps outside our interval in "!". */
export function renderTableTerminal(table: ReportTable): string {
  const labels = labelHeaders(table);
  const header = [...labels, ...bodyHeaders(table)];
  const body: string[][] = [];
  const separators = new Set<number>();
  table.blocks.forEach((block, b) => {
    if (b > 0) separators.add(body.length);
    block.rows.forEach((row, i) => {
      body.push([...labelCells(table, row, block.title, i === 0, false), ...bodyCells(table, row, STYLE)]);
    });
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  // Widen the last column of a task group when the task's name is wider than its columns.
  let start = labels.length;
  const groups = bodyGroups(table).map((g) => {
    const from = start;
    start += g.span;
    const title = taskDefinition(g.task).title;
    const spanWidth = () => widths.slice(from, from + g.span).reduce((a, w) => a + w, 0) + 2 * (g.span - 1);
    if (spanWidth() < title.length) widths[from + g.span - 1]! += title.length - spanWidth();
    return { from, span: g.span, title, width: spanWidth() };
  });
  const pad = (text: string, i: number) => (i < labels.length ? text.padEnd(widths[i]!) : text.padStart(widths[i]!));
  const line = (cells: string[]) => cells.map(pad).join("  ").trimEnd();
  const labelWidth = widths.slice(0, labels.length).reduce((a, w) => a + w, 0) + 2 * (labels.length - 1);
  const groupLine = [
    " ".repeat(labelWidth),
    ...groups.map((g) => {
      const left = Math.floor((g.width - g.title.length) / 2);
      return (" ".repeat(left) + g.title).padEnd(g.width);
    }),
  ]
    .join("  ")
    .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const lines = [table.title, "", groupLine, line(header), rule];
  body.forEach((row, i) => {
    if (separators.has(i)) lines.push(rule);
    lines.push(line(row));
  });
  lines.push("", ...tableFooter(table).map((n) => `  ${n}`));
  return lines.join("\n");
}

export function renderTerminal(tables: readonly ReportTable[]): string {
  return `${tables.map(renderTableTerminal).join("\n\n")}\n`;
}
