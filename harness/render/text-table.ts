import { escapeMarkdown } from "../util/escape.ts";
/** Plain tables for the terminal and markdown; one renderer so every format prints the same numbers. */
export type Align = "left" | "right";

export interface Table {
  headers: string[];
  rows: string[][];
  align?: Align[];
}

export function renderText(table: Table): string {
  const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? "").length)));
  const cell = (text: string, i: number) =>
    (table.align?.[i] ?? (i === 0 ? "left" : "right")) === "left" ? text.padEnd(widths[i]!) : text.padStart(widths[i]!);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => cell(c, i))
      .join("  ")
      .trimEnd();
  return [line(table.headers), widths.map((w) => "-".repeat(w)).join("  "), ...table.rows.map(line)].join("\n");
}

/** A GitHub-flavoured markdown table; every cell escaped (labels and relation names come from outside). */
export function renderMarkdownTable(table: Table): string {
  const sep = table.headers.map((_, i) => ((table.align?.[i] ?? (i === 0 ? "left" : "right")) === "left" ? "---" : "---:"));
  return [table.headers, sep, ...table.rows].map((r) => `| ${r.map(escapeMarkdown).join(" | ")} |`).join("\n");
}

/** Percent with two decimals, "—" for an empty split. */
export function fmt(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? "—" : value.toFixed(2);
}
