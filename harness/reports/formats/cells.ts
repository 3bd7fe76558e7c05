import type { TaskName } from "../../benchmark/tasks.ts";
import {
  cellNumber,
  columnTitle,
  coverageText,
  displayLabel,
  SPLIT_TITLES,
  type ReportTable,
  type TableCell,
  type TableRow,
} from "../tables.ts";

/** How one renderer marks a cell: missing splits, approximate levels, the best value, a gap outside our interval. */
export interface CellStyle {
  missing: string;
  approximate: (text: string) => string;
  best: (text: string) => string;
  outside: (text: string) => string;
  /** Escapes the number's text for the format (numbers need none in most). */
  escape?: (text: string) => string;
}

export function styleCell(cell: TableCell, style: CellStyle): string {
  const number = cellNumber(cell);
  if (number === undefined) return style.missing;
  let text = style.escape ? style.escape(number) : number;
  if (cell.approximate) text = style.approximate(text);
  if (cell.best) text = style.best(text);
  if (cell.outside) text = style.outside(text);
  return text;
}

/** The leading label columns: Table 2 names a model, Table 3 a backbone and a recipe, the gap view a run and its paper row. */
export function labelHeaders(table: ReportTable): string[] {
  return table.table === 2 ? ["Model"] : table.table === 3 ? ["Backbone", "Recipe"] : ["Run", "Paper row"];
}

export function labelCells(
  table: ReportTable,
  row: TableRow,
  blockTitle: string | undefined,
  firstInBlock: boolean,
  repeatBackbone: boolean,
): string[] {
  if (table.table === 2) return [displayLabel(row)];
  if (table.table === "gap") return [displayLabel(row), row.paperLabel ?? ""];
  return [repeatBackbone || firstInBlock ? (blockTitle ?? row.backbone) : "", displayLabel(row)];
}

/** The body columns after the labels: each task's splits, then its n (questions answered). */
export type BodyColumn = { kind: "split"; index: number } | { kind: "n"; task: TaskName };

export function bodyColumns(table: ReportTable): BodyColumn[] {
  const out: BodyColumn[] = [];
  table.columns.forEach((column, index) => {
    out.push({ kind: "split", index });
    if (table.columns[index + 1]?.task !== column.task) out.push({ kind: "n", task: column.task });
  });
  return out;
}

/** One row's body cells in a format: styled numbers and n. */
export function bodyCells(table: ReportTable, row: TableRow, style: CellStyle): string[] {
  return bodyColumns(table).map((c) => (c.kind === "split" ? styleCell(row.cells[c.index]!, style) : coverageText(row, c.task)));
}

/** Split titles and "n", for a header under the task group titles. */
export function bodyHeaders(table: ReportTable): string[] {
  return bodyColumns(table).map((c) => (c.kind === "split" ? SPLIT_TITLES[table.columns[c.index]!.split] : "n"));
}

/** Flat headers ("Understanding Easy", ..., "Understanding n") for one-line-header formats. */
export function flatHeaders(table: ReportTable): string[] {
  return [
    ...labelHeaders(table),
    ...bodyColumns(table).map((c) =>
      c.kind === "split" ? columnTitle(table.columns[c.index]!) : `${columnTitle({ task: c.task, split: "avg" }).replace(/ Avg$/, "")} n`,
    ),
  ];
}

/** Column groups over the body columns (a task's splits and its n), for two-level headers. */
export function bodyGroups(table: ReportTable): Array<{ task: TaskName; span: number }> {
  const groups: Array<{ task: TaskName; span: number }> = [];
  for (const c of bodyColumns(table)) {
    const task = c.kind === "split" ? table.columns[c.index]!.task : c.task;
    const last = groups[groups.length - 1];
    if (last && last.task === task) last.span++;
    else groups.push({ task, span: 1 });
  }
  return groups;
}

/** The lines printed under a table: notes, the paper's footnotes by mark, the settings. */
export function tableFooter(table: ReportTable): string[] {
  return [...table.notes, ...table.footnotes.map((f) => `[${f.mark}] ${f.text}`), ...table.settings.map((s) => `Settings: ${s}`)];
}
