import { cellNumber, columnTitle, type ReportTable, type TableCell, type TableRow } from "../tables.ts";

/** How one renderer marks a cell: missing splits, approximate levels, and the best value. */
export interface CellStyle {
  missing: string;
  approximate: (text: string) => string;
  best: (text: string) => string;
  /** Escapes the number's text for the format (numbers need none in most). */
  escape?: (text: string) => string;
}

export function styleCell(cell: TableCell, style: CellStyle): string {
  const number = cellNumber(cell);
  if (number === undefined) return style.missing;
  let text = style.escape ? style.escape(number) : number;
  if (cell.approximate) text = style.approximate(text);
  if (cell.best) text = style.best(text);
  return text;
}

/** The leading label columns: Table 2 names a model, Table 3 a backbone and a recipe. */
export function labelHeaders(table: ReportTable): string[] {
  return table.table === 2 ? ["Model"] : ["Backbone", "Recipe"];
}

export function labelCells(table: ReportTable, row: TableRow, blockTitle: string | undefined, firstInBlock: boolean, repeatBackbone: boolean): string[] {
  if (table.table === 2) return [row.label];
  return [repeatBackbone || firstInBlock ? (blockTitle ?? row.backbone) : "", row.label];
}

export function flatHeaders(table: ReportTable): string[] {
  return [...labelHeaders(table), ...table.columns.map(columnTitle)];
}
