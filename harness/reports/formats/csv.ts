import { stringify } from "csv-stringify/sync";
import { cellNumber, columnTitle, type ReportTable } from "../tables.ts";

/**
 * One CSV for all tables (they share columns): plain numbers, empty for a missing split.
 * Marks that would spoil a number go to their own columns: approximate_levels, best_in.
 */
export function renderCsv(tables: readonly ReportTable[]): string {
  const columns = tables[0]?.columns ?? [];
  const header = ["table", "backbone", "row", "published", ...columns.map(columnTitle), "approximate_levels", "best_in", "sources"];
  const records: string[][] = [];
  for (const table of tables) {
    for (const block of table.blocks) {
      for (const row of block.rows) {
        const approximate = [...new Set(row.cells.flatMap((c, i) => (c.approximate ? [columns[i]!.task] : [])))];
        const best = row.cells.flatMap((c, i) => (c.best ? [columnTitle(columns[i]!)] : []));
        records.push([
          String(table.table),
          block.title ?? row.backbone,
          row.label,
          row.published ? "yes" : "no",
          ...row.cells.map((c) => cellNumber(c) ?? ""),
          approximate.join(";"),
          best.join(";"),
          row.sources.join(";"),
        ]);
      }
    }
  }
  return stringify([header, ...records]);
}
