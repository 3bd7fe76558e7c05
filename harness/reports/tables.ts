import type { Interval } from "../stats/bootstrap.ts";
import type { LoadedReport } from "./load.ts";
import { PUBLISHED_ROWS, PUBLISHED_SUFFIX } from "./published.ts";
import { SPLITS, type EvalReport, type SplitName, type TaskResult } from "./schema.ts";

/**
 * The MIND paper's two table layouts as plain data, built from report files. Every renderer
 * (terminal, markdown, csv, latex, json, html, svg) prints these models, so all formats agree.
 * Values are the reports' stored accuracies, never recomputed.
 */
export type Metric = "official" | "strict";
export type TaskName = TaskResult["task"];
export type TableChoice = "2" | "3" | "both";

export const TASK_ORDER: readonly TaskName[] = ["understanding", "utilization", "by-relation"];
export const TASK_TITLES: Record<TaskName, string> = { understanding: "Understanding", utilization: "Utilization", "by-relation": "Understanding (by relation)" };
export const SPLIT_TITLES: Record<SplitName, string> = { easy: "Easy", medium: "Medium", hard: "Hard", avg: "Avg" };

export interface TableColumn {
  task: TaskName;
  split: SplitName;
}

export interface TableCell {
  /** The stored accuracy in percent (two decimals); undefined when the split is missing. */
  value?: number;
  ci95?: Interval;
  n?: number;
  /** A difficulty split whose levels the harness computed (not the benchmark's). */
  approximate: boolean;
  /** The best value of its column within its block (Table 3 only). */
  best: boolean;
}

export interface TableRow {
  label: string;
  backbone: string;
  recipe: string;
  mode: string;
  /** A reference row with the papers' numbers, not a measurement. */
  published: boolean;
  /** Report files (or the publication) the row's numbers come from. */
  sources: string[];
  cells: TableCell[];
}

export interface TableBlock {
  /** Table 3: the backbone; Table 2 has one untitled block. */
  title?: string;
  rows: TableRow[];
}

export interface ReportTable {
  table: 2 | 3;
  title: string;
  metric: Metric;
  columns: TableColumn[];
  blocks: TableBlock[];
  notes: string[];
}

export interface BuiltTables {
  tables: ReportTable[];
  /** Things the user should know (e.g. a cell given by two reports); printed on stderr. */
  warnings: string[];
}

export interface BuildTablesOptions {
  table?: TableChoice;
  metric?: Metric;
  published?: boolean;
}

interface RowIdentity {
  key: string;
  backbone: string;
  recipe: string;
  mode: string;
  table2Label: string;
  table3Label: string;
}

/** Rows are named by the labels backbone/recipe when present, else by the backend id. */
export function rowIdentity(report: EvalReport): RowIdentity {
  const backbone = report.labels["backbone"];
  const recipe = report.labels["recipe"];
  const mode = report.config.mode;
  const modeSuffix = mode === "zero-shot" ? "" : ` [${mode}]`;
  const named = [backbone, recipe].filter((part): part is string => part !== undefined && part !== "");
  return {
    key: JSON.stringify([backbone ?? report.backend.id, recipe ?? "", mode, named.length === 0]),
    backbone: backbone ?? report.backend.id,
    recipe: recipe ?? "",
    mode,
    table2Label: (named.length > 0 ? named.join(" / ") : report.backend.id) + modeSuffix,
    table3Label: (recipe ?? (backbone ? "(no recipe label)" : report.backend.id)) + modeSuffix,
  };
}

interface MergedRow {
  identity: RowIdentity;
  tasks: Map<TaskName, { result: TaskResult; path: string }>;
}

/** One row per identity; a task given by two reports: the later argument wins, with a warning. */
function mergeRows(reports: readonly LoadedReport[], warnings: string[]): MergedRow[] {
  const rows = new Map<string, MergedRow>();
  for (const { path, report } of reports) {
    const identity = rowIdentity(report);
    let row = rows.get(identity.key);
    if (!row) {
      row = { identity, tasks: new Map() };
      rows.set(identity.key, row);
    }
    for (const result of report.results) {
      const previous = row.tasks.get(result.task);
      if (previous) warnings.push(`${previous.path} and ${path} both give "${identity.table2Label}" ${result.task}; using ${path} (the later one)`);
      row.tasks.set(result.task, { result, path });
    }
  }
  return [...rows.values()];
}

function measuredCells(row: MergedRow, columns: readonly TableColumn[], metric: Metric): TableCell[] {
  return columns.map(({ task, split }) => {
    const result = row.tasks.get(task)?.result;
    const stored = result?.splits[split];
    if (!result || !stored) return { approximate: false, best: false };
    return {
      value: stored[metric].accuracy,
      ci95: stored[metric].ci95,
      n: stored.n,
      approximate: split !== "avg" && result.difficulty.approximate,
      best: false,
    };
  });
}

function measuredRow(row: MergedRow, label: string, columns: readonly TableColumn[], metric: Metric): TableRow {
  return {
    label,
    backbone: row.identity.backbone,
    recipe: row.identity.recipe,
    mode: row.identity.mode,
    published: false,
    sources: [...new Set([...row.tasks.values()].map((t) => t.path))],
    cells: measuredCells(row, columns, metric),
  };
}

function publishedRows(table: 2 | 3, columns: readonly TableColumn[]): TableRow[] {
  return PUBLISHED_ROWS.filter((p) => p.table === table)
    .map((p) => ({
      label: p.label + PUBLISHED_SUFFIX,
      backbone: p.backbone,
      recipe: p.recipe,
      mode: "zero-shot",
      published: true,
      sources: [p.source],
      cells: columns.map(({ task, split }): TableCell => {
        const value = task === "understanding" || task === "utilization" ? p.values[task]?.[split] : undefined;
        return value === undefined ? { approximate: false, best: false } : { value, approximate: false, best: false };
      }),
    }))
    .filter((row) => row.cells.some((c) => c.value !== undefined));
}

/** Marks the highest measured value of each column in a block, ties included, when 2+ rows have one. */
function markBest(block: TableBlock): void {
  const measured = block.rows.filter((r) => !r.published);
  const columnCount = measured[0]?.cells.length ?? 0;
  for (let c = 0; c < columnCount; c++) {
    const values = measured.map((r) => r.cells[c]!.value).filter((v): v is number => v !== undefined);
    if (values.length < 2) continue;
    const best = Math.max(...values);
    for (const row of measured) if (row.cells[c]!.value === best) row.cells[c]!.best = true;
  }
}

function notesFor(table: ReportTable, rows: readonly MergedRow[]): string[] {
  const notes = [`Accuracy (%), ${table.metric === "official" ? "official parse (the benchmark's number)" : "strict parse (exactly one option letter read)"}; "—" = split not evaluated.`];
  const approximate = new Set<string>();
  for (const row of rows) {
    for (const [task, { result }] of row.tasks) {
      if (result.difficulty.approximate) approximate.add(`${row.identity.table2Label}, ${task}: ${result.difficulty.description}`);
    }
  }
  if (approximate.size > 0) notes.push(`† APPROXIMATE difficulty levels (computed by the harness, not the benchmark's unreleased similarities): ${[...approximate].join("; ")}.`);
  if (table.blocks.some((b) => b.rows.some((r) => r.published))) {
    notes.push(`Rows marked (published) are the papers' reported numbers (official parse), not measured here${table.metric === "strict" ? "; they are not strict-parse numbers" : ""}.`);
  }
  if (table.table === 3) notes.push("The best measured value of each column within a backbone is marked (bold; * in the terminal).");
  return notes;
}

/** Builds Table 2 (models x task/split) and/or Table 3 (per backbone, recipes as rows). */
export function buildTables(reports: readonly LoadedReport[], options: BuildTablesOptions = {}): BuiltTables {
  const choice = options.table ?? "both";
  const metric = options.metric ?? "official";
  const warnings: string[] = [];
  const merged = mergeRows(reports, warnings);
  const tasksPresent = new Set(merged.flatMap((r) => [...r.tasks.keys()]));
  const columns: TableColumn[] = TASK_ORDER.filter((t) => tasksPresent.has(t)).flatMap((task) => SPLITS.map((split) => ({ task, split })));
  const tables: ReportTable[] = [];

  if (choice === "2" || choice === "both") {
    const rows = merged.map((r) => measuredRow(r, r.identity.table2Label, columns, metric));
    if (options.published) rows.push(...publishedRows(2, columns));
    const table: ReportTable = { table: 2, title: "Table 2: accuracy by model", metric, columns, blocks: [{ rows }], notes: [] };
    table.notes = notesFor(table, merged);
    tables.push(table);
  }
  if (choice === "3" || choice === "both") {
    const blocks = new Map<string, TableBlock>();
    for (const row of merged) {
      const title = row.identity.backbone;
      const block = blocks.get(title) ?? { title, rows: [] };
      block.rows.push(measuredRow(row, row.identity.table3Label, columns, metric));
      blocks.set(title, block);
    }
    const list = [...blocks.values()];
    list.forEach(markBest);
    if (options.published) {
      const rows = publishedRows(3, columns);
      if (rows.length > 0) list.push({ title: `${rows[0]!.backbone}${PUBLISHED_SUFFIX}`, rows });
    }
    const table: ReportTable = { table: 3, title: "Table 3: recipes per backbone", metric, columns, blocks: list, notes: [] };
    table.notes = notesFor(table, merged);
    tables.push(table);
  }
  return { tables, warnings };
}

/** The stored value printed with two decimals, or undefined for a missing split. */
export function cellNumber(cell: TableCell): string | undefined {
  return cell.value === undefined ? undefined : cell.value.toFixed(2);
}

/** Column groups (one per task) for renderers that draw a two-level header. */
export function columnGroups(columns: readonly TableColumn[]): Array<{ task: TaskName; span: number }> {
  const groups: Array<{ task: TaskName; span: number }> = [];
  for (const column of columns) {
    const last = groups[groups.length - 1];
    if (last && last.task === column.task) last.span++;
    else groups.push({ task: column.task, span: 1 });
  }
  return groups;
}

export function columnTitle(column: TableColumn): string {
  return `${TASK_TITLES[column.task]} ${SPLIT_TITLES[column.split]}`;
}
