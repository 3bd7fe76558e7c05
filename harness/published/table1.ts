import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { relationFromName, type RelationName } from "../prompts/mind.ts";

/**
 * The MIND paper's Table 1 (kept intentions per relation and the human annotation), read from the
 * TSV copy of the paper's numbers beside this file, so no number is typed twice.
 */
export const TABLE1_FILE = fileURLToPath(new URL("./mind_table1.tsv", import.meta.url));

export interface Table1Row {
  /** The paper's spelling (Effect, isA, ...). */
  label: string;
  relation: RelationName;
  keptIntentions: number;
  plausibility: number;
  typicality: number;
  filterCorrect: number;
  filterRationaleOk: number;
}

export interface Table1 {
  /** The 20 relation rows in the paper's order. */
  rows: Table1Row[];
  /** The Total row as printed. */
  total: Omit<Table1Row, "relation">;
  /** The relation rows' kept intentions added up (the paper prints another Total: see totalMismatch). */
  keptSum: number;
  /** A note when the printed Total differs from the rows' sum, else null. */
  totalMismatch: string | null;
}

const COLUMNS = ["relation", "kept_intentions", "plausibility", "typicality", "filter_correct", "filter_rationale_ok"] as const;

/** Parses the TSV (header COLUMNS, one row per relation, then Total); errors name the file and line. */
export function parseTable1(text: string, file: string): Table1 {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const header = lines[0]?.split("\t") ?? [];
  if (header.join("\t") !== COLUMNS.join("\t")) throw new Error(`${file}:1: expected the header ${COLUMNS.join(" ")}`);
  const rows: Table1Row[] = [];
  let total: Table1["total"] | null = null;
  lines.slice(1).forEach((line, i) => {
    const cells = line.split("\t");
    const at = `${file}:${i + 2}`;
    const numbers = cells.slice(1).map(Number);
    if (cells.length !== COLUMNS.length || numbers.some((n) => !Number.isFinite(n))) throw new Error(`${at}: expected a label and ${COLUMNS.length - 1} numbers`);
    const [keptIntentions, plausibility, typicality, filterCorrect, filterRationaleOk] = numbers as [number, number, number, number, number];
    const values = { label: cells[0]!, keptIntentions, plausibility, typicality, filterCorrect, filterRationaleOk };
    if (cells[0] === "Total") {
      total = values;
      return;
    }
    const relation = relationFromName(cells[0]!);
    if (relation === null) throw new Error(`${at}: "${cells[0]}" is not a MIND relation`);
    rows.push({ ...values, relation });
  });
  if (total === null) throw new Error(`${file}: no Total row`);
  const printed: Table1["total"] = total;
  const keptSum = rows.reduce((sum, row) => sum + row.keptIntentions, 0);
  const totalMismatch =
    keptSum === printed.keptIntentions
      ? null
      : `the paper's Table 1 prints Total ${printed.keptIntentions.toLocaleString("en-US")}, but its relation rows add up to ${keptSum.toLocaleString("en-US")}`;
  return { rows, total: printed, keptSum, totalMismatch };
}

let cached: Table1 | null = null;

/** The paper's Table 1, read once. */
export function paperTable1(): Table1 {
  cached ??= parseTable1(readFileSync(TABLE1_FILE, "utf8"), TABLE1_FILE);
  return cached;
}
