import { taskDefinition } from "../../benchmark/tasks.ts";
import { cellNumber, columnTitle, coverageText, type ReportTable } from "../tables.ts";
import { inertText, sheetCsv } from "../../util/escape.ts";

/**
 * One CSV for all tables (Tables 2 and 3 share columns; the gap view's are a subset): plain numbers,
 * empty for a missing split. Marks that would spoil a number go to their own columns:
 * `<Task> n` (answered, or answered/scorable when partial), partial, not_pinned_release, approximate_levels, best_in,
 * outside_ci (gap view), footnotes (the paper's inconsistencies), paper_row.
 */
export function renderCsv(tables: readonly ReportTable[]): string {
  const columns = tables.find((t) => t.table !== "gap")?.columns ?? tables[0]?.columns ?? [];
  const tasks = [...new Set(columns.map((c) => c.task))];
  const header = [
    "table",
    "backbone",
    "row",
    "published",
    ...columns.map(columnTitle),
    ...tasks.map((t) => `${taskDefinition(t).title} n`),
    "partial",
    "not_pinned_release",
    "approximate_levels",
    "best_in",
    "outside_ci",
    "footnotes",
    "paper_row",
    "sources",
  ];
  const records: string[][] = [];
  for (const table of tables) {
    for (const block of table.blocks) {
      for (const row of block.rows) {
        // A table's cells by the CSV's columns (the gap view has fewer).
        const cellAt = (i: number) =>
          row.cells[table.columns.findIndex((c) => c.task === columns[i]!.task && c.split === columns[i]!.split)];
        const approximate = [...new Set(row.cells.flatMap((c, i) => (c.approximate ? [table.columns[i]!.task] : [])))];
        const best = row.cells.flatMap((c, i) => (c.best ? [columnTitle(table.columns[i]!)] : []));
        const outside = row.cells.flatMap((c, i) => (c.outside ? [columnTitle(table.columns[i]!)] : []));
        const footnotes = row.footnotes.map((mark) => table.footnotes.find((f) => f.mark === mark)!.text);
        records.push([
          String(table.table),
          block.title ?? row.backbone,
          row.label,
          row.published ? "yes" : "no",
          ...columns.map((_, i) => {
            const cell = cellAt(i);
            return cell ? (cellNumber(cell) ?? "") : "";
          }),
          ...tasks.map((t) => coverageText(row, t)),
          row.partial ?? "",
          row.offRelease ?? "",
          approximate.join(";"),
          best.join(";"),
          outside.join(";"),
          footnotes.join(" | "),
          row.paperLabel ?? "",
          row.sources.join(";"),
        ]);
      }
    }
  }
  // Labels and sources came from outside: a control in one would act in a terminal that cats the file.
  return sheetCsv([header, ...records.map((record) => record.map(inertText))]);
}
