import { INTENTIONQA_COMMIT } from "../benchmark/sources.ts";
import { taskDefinition, TASKS, type TaskName } from "../benchmark/tasks.ts";
import { footnotesFor, isPaperTask, modelKey, PAPER_TASKS, TABLE_NOTES, type PaperRow } from "../published/tables.ts";
import { DEFAULT_PARSE, PARSES, type ParseName } from "../scoring/parses.ts";
import { round2, type Interval } from "../stats/bootstrap.ts";
import type { IntervalMethod } from "../stats/proportion.ts";
import { coverageOf, describeCoverage, partialMark, type CoverageView } from "./coverage.ts";
import type { LoadedReport } from "./load.ts";
import {
  matchingPaperRows,
  paperRowFor,
  PUBLISHED_SUFFIX,
  runIdentity,
  selectPaperRows,
  type PublishedSelection,
  type RunIdentity,
} from "./published.ts";
import { intervalMethodOf, requireParse } from "./parses.ts";
import { decodingText, trainingText } from "./settings.ts";
import { SPLITS, type EvalReport, type SplitName, type TaskResult } from "./schema.ts";

/**
 * The MIND paper's two table layouts as plain data, built from report files. Every renderer
 * (terminal, markdown, csv, latex, json, html, svg, vega-lite) prints these models, so all formats agree.
 * Values are the reports' stored accuracies, shown as stored once the loader has checked them
 * against each report's per-question outcomes (reports/consistency.ts).
 */
export type TableChoice = "2" | "3" | "both";

export const SPLIT_TITLES: Record<SplitName, string> = { easy: "Easy", medium: "Medium", hard: "Hard", avg: "Avg" };

export interface TableColumn {
  task: TaskName;
  split: SplitName;
}

export interface TableCell {
  /** The stored accuracy in percent (two decimals); undefined when the split is missing. In the gap view: ours - paper. */
  value?: number;
  /** A published number exactly as the paper printed it ("100.0"). */
  printed?: string;
  ci95?: Interval;
  /** How ci95 was made: Wilson score (reports since issue 21) or percentile bootstrap (older reports). */
  ciMethod?: IntervalMethod;
  n?: number;
  /** A difficulty split whose levels the harness computed (not the benchmark's). */
  approximate: boolean;
  /** The best value of its column within its block (Table 3 only). */
  best: boolean;
  /** From a task whose numbers do not cover the whole benchmark (a subset, failed questions). */
  partial: boolean;
  /** Gap view: the paper's number lies outside our 95% interval. */
  outside?: boolean;
  /** Gap view: our accuracy and the paper's, the numbers the gap is taken from. */
  measured?: number;
  paper?: string;
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
  /** Measured rows: per task, how much of the benchmark the numbers cover. */
  coverage: Partial<Record<TaskName, CoverageView>>;
  /** Set when a task's numbers are partial: "partial: --limit 100; 12 failed" (shown beside the label in every format). */
  partial?: string;
  /**
   * Set when a task ran on benchmark data that differs from the pinned release (its sha256):
   * "NOT THE PINNED RELEASE: understanding data sha256 3d2a6d941fd5…" (beside the label in every format).
   */
  offRelease?: string;
  /** Footnote marks ("a", "b") of the paper's inconsistencies that concern this row; texts in the table's footnotes. */
  footnotes: string[];
  /** Published rows: the paper row's id (harness/published/tables.ts). */
  paperId?: string;
  /** Gap view: the paper row the run is compared with. */
  paperLabel?: string;
  /** A published row placed beside the user's row it reproduces (charts show only these, when a block has measured rows). */
  beside?: boolean;
}

export interface TableBlock {
  /** Table 3: the backbone; Table 2 has one untitled block. */
  title?: string;
  rows: TableRow[];
}

export interface ReportTable {
  /** 2 and 3: the paper's layouts; "gap": our accuracy minus the paper's, per split. */
  table: 2 | 3 | "gap";
  title: string;
  /** The parse the table shows (named `metric` in the tables' JSON, tables@1). */
  metric: ParseName;
  columns: TableColumn[];
  blocks: TableBlock[];
  notes: string[];
  /** The paper's inconsistencies concerning rows shown, by the mark those rows carry. */
  footnotes: Array<{ mark: string; text: string }>;
  /** Decoding and training settings of the measured rows, printed under the table. */
  settings: string[];
}

export interface BuiltTables {
  tables: ReportTable[];
  /** Things the user should know (e.g. a cell given by two reports); printed on stderr. */
  warnings: string[];
}

export interface BuildTablesOptions {
  table?: TableChoice;
  /** The parse to show (--metric); default DEFAULT_PARSE. */
  parse?: ParseName;
  /** Paper rows to show: `true` for every row of the table, or a parsed `--published` value. */
  published?: boolean | PublishedSelection;
  /** Add the gap view: per split, our accuracy minus the paper's, with our 95% interval. */
  gap?: boolean;
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
  const permuted = report.config.permuteOptions;
  // A permuted-options run is its own row: it must not stand in for (or be merged with) the official order.
  const modeSuffix = (mode === "zero-shot" ? "" : ` [${mode}]`) + (permuted === undefined ? "" : ` [options permuted, seed ${permuted}]`);
  const named = [backbone, recipe].filter((part): part is string => part !== undefined && part !== "");
  return {
    key: JSON.stringify([
      backbone ?? report.backend.id,
      recipe ?? "",
      mode,
      named.length === 0,
      ...(permuted === undefined ? [] : [permuted]),
    ]),
    backbone: backbone ?? report.backend.id,
    recipe: recipe ?? "",
    mode,
    table2Label: (named.length > 0 ? named.join(" / ") : report.backend.id) + modeSuffix,
    table3Label: (recipe ?? (backbone ? "(no recipe label)" : report.backend.id)) + modeSuffix,
  };
}

interface MergedRow {
  identity: RowIdentity;
  run: RunIdentity;
  tasks: Map<TaskName, { result: TaskResult; path: string; report: EvalReport }>;
}

/** One row per identity; a task given by two reports: the later argument wins, with a warning. */
function mergeRows(reports: readonly LoadedReport[], warnings: string[]): MergedRow[] {
  const rows = new Map<string, MergedRow>();
  for (const { path, report } of reports) {
    const identity = rowIdentity(report);
    let row = rows.get(identity.key);
    if (!row) {
      row = { identity, run: runIdentity(report), tasks: new Map() };
      rows.set(identity.key, row);
    }
    for (const result of report.results) {
      const previous = row.tasks.get(result.task);
      if (previous)
        warnings.push(`${previous.path} and ${path} both give "${identity.table2Label}" ${result.task}; using ${path} (the later one)`);
      row.tasks.set(result.task, { result, path, report });
    }
  }
  return [...rows.values()];
}

function rowCoverage(row: MergedRow): Partial<Record<TaskName, CoverageView>> {
  return Object.fromEntries([...row.tasks].map(([task, { result, report }]) => [task, coverageOf(result, report.config)]));
}

function measuredCells(
  row: MergedRow,
  columns: readonly TableColumn[],
  parse: ParseName,
  coverage: Partial<Record<TaskName, CoverageView>>,
): TableCell[] {
  return columns.map(({ task, split }) => {
    const result = row.tasks.get(task)?.result;
    const stored = result?.splits[split];
    const partial = coverage[task] !== undefined && !coverage[task]!.complete;
    const parsed = stored?.parses[parse];
    if (!result || !parsed) return { approximate: false, best: false, partial };
    return {
      value: parsed.accuracy,
      ci95: parsed.ci95,
      ciMethod: intervalMethodOf(parsed),
      n: parsed.n,
      approximate: split !== "avg" && result.difficulty.approximate,
      best: false,
      partial,
    };
  });
}

/** The mark of a row any of whose tasks ran on data other than the pinned release; undefined when all match. */
function offReleaseMark(row: MergedRow): string | undefined {
  const off = [...row.tasks].filter(([, { result }]) => !result.data.matchesRelease);
  if (off.length === 0) return undefined;
  return `${OFF_RELEASE}: ${off.map(([task, { result }]) => `${task} data sha256 ${result.data.sha256.slice(0, 12)}…`).join(", ")}`;
}

export const OFF_RELEASE = "NOT THE PINNED RELEASE";

function measuredRow(row: MergedRow, label: string, columns: readonly TableColumn[], parse: ParseName): TableRow {
  const coverage = rowCoverage(row);
  const partial = partialMark(Object.values(coverage));
  const offRelease = offReleaseMark(row);
  return {
    label,
    backbone: row.identity.backbone,
    recipe: row.identity.recipe,
    mode: row.identity.mode,
    published: false,
    sources: [...new Set([...row.tasks.values()].map((t) => t.path))],
    cells: measuredCells(row, columns, parse, coverage),
    coverage,
    ...(partial ? { partial } : {}),
    ...(offRelease ? { offRelease } : {}),
    footnotes: [],
  };
}

function publishedRow(paper: PaperRow, label: string, columns: readonly TableColumn[]): TableRow {
  return {
    label: label + PUBLISHED_SUFFIX,
    backbone: paper.model,
    recipe: paper.recipePrinted ?? paper.recipe,
    mode: paper.mode,
    published: true,
    sources: [`MIND paper, Table ${paper.table}`],
    cells: columns.map(({ task, split }): TableCell => {
      const value = isPaperTask(task) ? paper.values[task][split] : undefined;
      return value === undefined
        ? { approximate: false, best: false, partial: false }
        : { value: value.value, printed: value.printed, approximate: false, best: false, partial: false };
    }),
    coverage: {},
    footnotes: [],
    paperId: paper.id,
  };
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

/** Gives every shown paper row the marks of its footnotes, lettered in order of appearance. */
function assignFootnotes(table: ReportTable): void {
  const marks = new Map<string, string>();
  for (const row of table.blocks.flatMap((b) => b.rows)) {
    if (!row.paperId) continue;
    for (const note of footnotesFor(row.paperId)) {
      if (!marks.has(note.id)) {
        marks.set(note.id, String.fromCharCode(97 + marks.size));
        table.footnotes.push({ mark: marks.get(note.id)!, text: note.text });
      }
      row.footnotes.push(marks.get(note.id)!);
    }
  }
}

/** "official parse (the benchmark's number)": the parse a table shows, in words. */
function parsePhrase(name: ParseName): string {
  if (name === "official") return "official parse (the benchmark's number)";
  if (name === "strict") return "strict parse (exactly one option letter read)";
  const parse = PARSES.find((p) => p.name === name);
  return parse ? `${name} parse (${parse.describe})` : `${name} parse`;
}

function notesFor(table: ReportTable, rows: readonly MergedRow[]): string[] {
  const notes = [
    table.table === "gap"
      ? `Gap = our accuracy minus the paper's, in points (${table.metric === DEFAULT_PARSE ? "official parse, as the paper's" : `${table.metric} parse; the paper's numbers are official-parse ones`}); "!" = the paper's number lies outside our 95% interval (Wilson score; a percentile bootstrap in older reports); "—" = split not evaluated.`
      : `Accuracy (%), ${parsePhrase(table.metric)}; "—" = split not evaluated; n = questions answered per task (of the scorable ones, when partial).`,
  ];
  const approximate = new Set<string>();
  const partial: string[] = [];
  for (const row of rows) {
    for (const [task, { result, report }] of row.tasks) {
      if (result.difficulty.approximate) approximate.add(`${row.identity.table2Label}, ${task}: ${result.difficulty.description}`);
      const coverage = coverageOf(result, report.config);
      if (!coverage.complete) partial.push(`${row.identity.table2Label}, ${task}: ${describeCoverage(coverage)}`);
    }
  }
  if (partial.length > 0) notes.push(`PARTIAL rows (numbers that do not cover the whole benchmark): ${partial.join("; ")}.`);
  const offRelease = rows.filter((r) => offReleaseMark(r) !== undefined).map((r) => r.identity.table2Label);
  if (offRelease.length > 0)
    notes.push(
      `${OFF_RELEASE}: ${offRelease.join(", ")} ran on IntentionQA data whose sha256 differs from the pinned release (${INTENTIONQA_COMMIT.slice(0, 7)}); ${table.table === "gap" ? "their gap to the paper is not a reproduction gap" : "their numbers are not a reproduction of the paper's"}.`,
    );
  const derived = rows.filter((r) => [...r.tasks.values()].some((t) => !t.result.coverage)).map((r) => r.identity.table2Label);
  if (derived.length > 0)
    notes.push(`Coverage of ${derived.join(", ")} is derived from question counts (a report written before eval recorded coverage).`);
  if (approximate.size > 0)
    notes.push(
      `† APPROXIMATE difficulty levels (computed by the harness, not the benchmark's unreleased similarities): ${[...approximate].join("; ")}.`,
    );
  if (table.table !== "gap" && table.blocks.some((b) => b.rows.some((r) => r.published))) {
    notes.push(
      `Rows marked (published) are the paper's reported numbers (official parse), not measured here${table.metric !== DEFAULT_PARSE ? `; they are not ${table.metric}-parse numbers` : ""}. ${TABLE_NOTES[table.table]}`,
    );
  }
  if (table.table === 3) notes.push("The best measured value of each column within a backbone is marked (bold; * in the terminal).");
  return notes;
}

/** Decoding and training of the measured rows, one line per distinct setting (rows that share one, one line). */
function settingsFor(rows: readonly MergedRow[]): string[] {
  const byText = new Map<string, string[]>();
  for (const row of rows) {
    const report = [...row.tasks.values()][0]?.report;
    if (!report) continue;
    const parts = [`decoding: ${decodingText(report)}`];
    const training = trainingText(report);
    if (training) parts.push(`training: ${training}`);
    const text = parts.join("; ");
    byText.set(text, [...(byText.get(text) ?? []), row.identity.table2Label]);
  }
  if (byText.size === 1) return [`${rows.length > 1 ? "All rows" : [...byText.values()][0]![0]}: ${[...byText.keys()][0]}`];
  return [...byText].map(([text, labels]) => `${labels.join(", ")}: ${text}`);
}

/** Table 2's rows: each user row followed by the paper rows it reproduces, then the other selected paper rows. */
function table2Rows(
  merged: readonly MergedRow[],
  selected: readonly PaperRow[],
  columns: readonly TableColumn[],
  parse: ParseName,
): TableRow[] {
  const rows: TableRow[] = [];
  const placed = new Set<string>();
  for (const row of merged) {
    rows.push(measuredRow(row, row.identity.table2Label, columns, parse));
    for (const paper of matchingPaperRows(row.run, 2)) {
      if (selected.includes(paper) && !placed.has(paper.id)) {
        rows.push({ ...publishedRow(paper, paper.label, columns), beside: true });
        placed.add(paper.id);
      }
    }
  }
  for (const paper of selected) if (!placed.has(paper.id)) rows.push(publishedRow(paper, paper.label, columns));
  return rows;
}

/** Table 3's blocks: a user backbone's block gets its paper backbone's selected rows, each after the recipe it matches. */
function table3Blocks(
  merged: readonly MergedRow[],
  selected: readonly PaperRow[],
  columns: readonly TableColumn[],
  parse: ParseName,
): TableBlock[] {
  const blocks = new Map<string, { block: TableBlock; paperKey?: string | undefined }>();
  const placed = new Set<string>();
  for (const row of merged) {
    const title = row.identity.backbone;
    const entry = blocks.get(title) ?? { block: { title, rows: [] } };
    blocks.set(title, entry);
    entry.block.rows.push(measuredRow(row, row.identity.table3Label, columns, parse));
    const matches = matchingPaperRows(row.run, 3);
    entry.paperKey ??= matches[0]?.modelKey ?? row.run.modelNames.map(modelKey).find((key) => selected.some((p) => p.modelKey === key));
    for (const paper of matches) {
      if (selected.includes(paper) && !placed.has(paper.id)) {
        entry.block.rows.push({ ...publishedRow(paper, paper.label, columns), beside: true });
        placed.add(paper.id);
      }
    }
  }
  const list = [...blocks.values()];
  for (const { block } of list) markBest(block);
  for (const entry of list) {
    for (const paper of selected) {
      if (paper.modelKey === entry.paperKey && !placed.has(paper.id)) {
        entry.block.rows.push(publishedRow(paper, paper.label, columns));
        placed.add(paper.id);
      }
    }
  }
  const rest = new Map<string, TableRow[]>();
  for (const paper of selected) {
    if (placed.has(paper.id)) continue;
    rest.set(paper.model, [...(rest.get(paper.model) ?? []), publishedRow(paper, paper.label, columns)]);
  }
  return [...list.map((e) => e.block), ...[...rest].map(([model, rows]) => ({ title: `${model}${PUBLISHED_SUFFIX}`, rows }))];
}

const signed = (value: number) => `${value > 0 ? "+" : ""}${value.toFixed(2)}`;

/** The gap view: for each run that reproduces a paper row, per split, ours - paper, with our interval shifted by the paper's number. */
function gapRows(merged: readonly MergedRow[], columns: readonly TableColumn[], parse: ParseName, unmatched: string[]): TableRow[] {
  const rows: TableRow[] = [];
  for (const row of merged) {
    const paper = paperRowFor(row.run);
    if (!paper) {
      unmatched.push(row.identity.table2Label);
      continue;
    }
    const measured = measuredRow(row, row.identity.table2Label, columns, parse);
    const cells = columns.map(({ task, split }, i): TableCell => {
      const ours = measured.cells[i]!;
      const theirs = isPaperTask(task) ? paper.values[task][split] : undefined;
      if (ours.value === undefined || !theirs) return { approximate: ours.approximate, best: false, partial: ours.partial };
      const gap = round2(ours.value - theirs.value);
      const ci95 =
        ours.ci95 && Number.isFinite(ours.ci95.low)
          ? { low: round2(ours.ci95.low - theirs.value), high: round2(ours.ci95.high - theirs.value) }
          : undefined;
      return {
        value: gap,
        printed: signed(gap),
        ...(ci95 ? { ci95 } : {}),
        ...(ci95 && ours.ciMethod ? { ciMethod: ours.ciMethod } : {}),
        ...(ours.n === undefined ? {} : { n: ours.n }),
        approximate: ours.approximate,
        best: false,
        partial: ours.partial,
        ...(ours.ci95 ? { outside: theirs.value < ours.ci95.low || theirs.value > ours.ci95.high } : {}),
        measured: ours.value,
        paper: theirs.printed,
      };
    });
    rows.push({
      ...measured,
      cells,
      paperId: paper.id,
      paperLabel: `Table ${paper.table}: ${paper.table === 3 ? `${paper.model} / ${paper.label}` : paper.label}`,
    });
  }
  return rows;
}

/** Builds Table 2 (models x task/split) and/or Table 3 (per backbone, recipes as rows), and the gap view. */
export function buildTables(reports: readonly LoadedReport[], options: BuildTablesOptions = {}): BuiltTables {
  const choice = options.table ?? "both";
  const parse = options.parse ?? DEFAULT_PARSE;
  const selection: PublishedSelection | undefined =
    options.published === true ? { all: true, matched: false, names: [] } : options.published || undefined;
  const warnings: string[] = [];
  // A parse a report lacks is an error naming the file and its parses, never a column of "—".
  if (reports.length > 0) requireParse(reports, parse);
  const merged = mergeRows(reports, warnings);
  for (const row of merged) {
    const mark = offReleaseMark(row);
    if (mark) warnings.push(`"${row.identity.table2Label}": ${mark}; its numbers are not comparable with the paper's`);
  }
  const runs = merged.map((r) => r.run);
  const tasksPresent = new Set(merged.flatMap((r) => [...r.tasks.keys()]));
  // Paper rows have both tasks: show them whole.
  if (selection || options.gap) for (const task of PAPER_TASKS) tasksPresent.add(task);
  const columns: TableColumn[] = TASKS.filter((t) => tasksPresent.has(t)).flatMap((task) => SPLITS.map((split) => ({ task, split })));
  const tables: ReportTable[] = [];
  const settings = settingsFor(merged);
  const finish = (table: ReportTable) => {
    assignFootnotes(table);
    table.notes = notesFor(table, merged);
    tables.push(table);
  };

  if (choice === "2" || choice === "both") {
    const rows = table2Rows(merged, selection ? selectPaperRows(2, selection, runs) : [], columns, parse);
    finish({
      table: 2,
      title: "Table 2: accuracy by model",
      metric: parse,
      columns,
      blocks: [{ rows }],
      notes: [],
      footnotes: [],
      settings,
    });
  }
  if (choice === "3" || choice === "both") {
    const blocks = table3Blocks(merged, selection ? selectPaperRows(3, selection, runs) : [], columns, parse);
    finish({ table: 3, title: "Table 3: recipes per backbone", metric: parse, columns, blocks, notes: [], footnotes: [], settings });
  }
  if (options.gap) {
    const gapColumns = columns.filter((c) => isPaperTask(c.task));
    const unmatched: string[] = [];
    const rows = gapRows(merged, gapColumns, parse, unmatched);
    const table: ReportTable = {
      table: "gap",
      title: "Gap to the paper: ours minus published",
      metric: parse,
      columns: gapColumns,
      blocks: [{ rows }],
      notes: [],
      footnotes: [],
      settings,
    };
    finish(table);
    if (unmatched.length > 0)
      table.notes.push(
        `No paper row for: ${unmatched.join(", ")}. A run is matched by its backbone/model (--label backbone=..., or the served model's name) and recipe (--label recipe=zero-shot|unimodal|critic|mind).`,
      );
  }
  return { tables, warnings };
}

/** The stored value printed with two decimals, or undefined for a missing split. */
export function cellNumber(cell: TableCell): string | undefined {
  return cell.value === undefined ? undefined : (cell.printed ?? cell.value.toFixed(2));
}

/** The row's name as every format shows it: the label, its partial and off-release marks, its footnote marks. */
export function displayLabel(row: TableRow): string {
  return `${row.label}${row.partial ? ` [${row.partial}]` : ""}${row.offRelease ? ` [${row.offRelease}]` : ""}${row.footnotes.length > 0 ? ` [${row.footnotes.join(",")}]` : ""}`;
}

/** What an n column shows for a task: answered questions, "answered/scorable" when partial, "" for a paper row. */
export function coverageText(row: TableRow, task: TaskName): string {
  const c = row.coverage[task];
  if (!c) return "";
  return c.complete ? String(c.answered) : `${c.answered}/${c.scorable}`;
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
  return `${taskDefinition(column.task).title} ${SPLIT_TITLES[column.split]}`;
}
