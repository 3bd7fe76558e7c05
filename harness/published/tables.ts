/**
 * The MIND paper's Tables 2 and 3 as typed data: every printed row, every printed number.
 *
 * The data is the TSV files beside this module (copies of shared/spec/published/, checked equal by
 * test/unit/published/tables.test.ts). Their exact text is embedded in tsv.generated.ts, so nothing
 * is read from disk at run time and the tables ship with a compiled harness too.
 * Regenerate after editing a TSV: `npx tsx harness/published/embed-tsv.ts`.
 */
import { HarnessError } from "../util/errors.ts";
import { MIND_TABLE2_TSV, MIND_TABLE3_TSV } from "./tsv.generated.ts";

export const PAPER_TASKS = ["understanding", "utilization"] as const;
export type PaperTask = (typeof PAPER_TASKS)[number];
/** Whether the paper published numbers for a task (other tasks have none to show or compare with). */
export function isPaperTask(task: string): task is PaperTask {
  return (PAPER_TASKS as readonly string[]).includes(task);
}
export const PAPER_SPLITS = ["easy", "medium", "hard", "avg"] as const;
export type PaperSplit = (typeof PAPER_SPLITS)[number];
export type PaperMode = "zero-shot" | "cot" | "cot-sc";

/** One printed number: its value, and its text exactly as printed ("100.0" stays "100.0"). */
export interface PaperValue {
  value: number;
  printed: string;
}

/**
 * What a row is, for matching a user's run to it: "zero-shot" for a model as released (every
 * Table 2 model row and Table 3's Zero-shot), the Table 3 recipes, "baseline" for Random and
 * Majority Vote, "human" for the human row.
 */
export type PaperRecipe = "zero-shot" | "unimodal" | "critic" | "mind" | "baseline" | "human";

export interface PaperRow {
  table: 2 | 3;
  /** Stable id, e.g. "table2/LLM API/GPT 4 (CoT)", "table3/Mistral-7B-Instruct-v0.2/w. Unimodal". */
  id: string;
  /** Table 2's first column (Random, PTLM, Open LLM, ...); Table 3: "Ablation". */
  group: string;
  /** The model (Table 2) or backbone (Table 3) as printed, without a mode suffix; the group for Random / Majority Vote / Human. */
  model: string;
  /** Canonical model key: the same model in Tables 2 and 3 has one key (see MODEL_ALIASES). */
  modelKey: string;
  /** Table 2's parameter count as printed, when given. */
  params?: string;
  /** The recipe as printed (Table 3), or the Table 2 group for MIND Distilled rows. */
  recipePrinted?: string;
  recipe: PaperRecipe;
  mode: PaperMode;
  /** How the row is named in tables: "GPT 4 (CoT)", "LLAMA2-7B-chat / MIND Distilled", "w. Unimodal". */
  label: string;
  values: Record<PaperTask, Record<PaperSplit, PaperValue>>;
}

/** A fact about the printed paper a reader needs beside the affected rows. */
export interface PaperFootnote {
  id: string;
  text: string;
  /** Ids of the rows it concerns. */
  rows: string[];
}

/**
 * Names a user's run may give a paper model (a `--label backbone=`, a Hub id, a served name),
 * normalised by `normalizeModelName`. The key is the Table 2 name; Table 3's backbone names are
 * aliases of it.
 */
const MODEL_ALIASES: Record<string, readonly string[]> = {
  Random: ["baseline:random", "random"],
  "Majority Vote": ["baseline:majority", "majority", "majority-vote"],
  "RoBERTa-Large": ["roberta-large"],
  "DeBERTa-v3-Large": ["deberta-v3-large"],
  "T5-v1.1-xxl": ["t5-v1_1-xxl"],
  "Flan-T5-xxl": ["flan-t5-xxl"],
  "T0-pp": ["T0pp"],
  "LLAMA2-7B-chat": ["LLAMA-7B-chat", "Llama-2-7b-chat-hf", "llama2", "llama-2", "llama2-7b", "llama-2-7b"],
  "LLAMA2-13B-chat": ["Llama-2-13b-chat-hf", "llama2-13b", "llama-2-13b"],
  "Gemma-2B-instruct": ["gemma-2b-it", "gemma-2b"],
  "Gemma-7B-instruct": ["gemma-7b-it", "gemma-7b"],
  "Mistral-7B-Instruct-v0.2": ["mistral", "mistral-7b", "mistral-7b-instruct"],
  "Falcon-7B-instruct": ["falcon-7b"],
  "Vicuna-7B-v1.5": ["vicuna-7b", "vicuna"],
  "LLAMA3-70B": ["Meta-Llama-3-70B", "Meta-Llama-3-70B-Instruct", "llama-3-70b", "llama-3-70b-instruct"],
  "LLAMA3.1-70B": ["Meta-Llama-3.1-70B", "Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b", "llama-3.1-70b-instruct"],
  ChatGPT: ["gpt-3.5-turbo", "gpt-3.5"],
  "GPT 4": ["gpt-4", "gpt4"],
};

/** Lower case, the part after an "org/" prefix, without "-hf", letters and digits only. */
export function normalizeModelName(name: string): string {
  const base = name.trim().toLowerCase().split("/").pop()!.replace(/-hf$/, "");
  return base.replace(/[^a-z0-9]+/g, "");
}

const ALIAS_INDEX = new Map<string, string>();
for (const [key, aliases] of Object.entries(MODEL_ALIASES)) {
  for (const name of [key, ...aliases]) ALIAS_INDEX.set(normalizeModelName(name), normalizeModelName(key));
}

/** The canonical key of a model name: a paper model's key when the name is one of its aliases. */
export function modelKey(name: string): string {
  const normalized = normalizeModelName(name);
  return ALIAS_INDEX.get(normalized) ?? normalized;
}

/** A recipe label (`--label recipe=`, ablate's recipe names, the paper's) as a PaperRecipe, or the normalised text. */
export function recipeKey(recipe: string): string {
  const text = recipe
    .trim()
    .toLowerCase()
    .replace(/^(w\.|w\/|with)\s*/, "")
    .replace(/[^a-z0-9]+/g, "");
  if (["", "zeroshot", "none", "base"].includes(text)) return "zero-shot";
  if (["unimodal", "textonly"].includes(text)) return "unimodal";
  if (["critic", "criticfilter", "criticfiltered"].includes(text)) return "critic";
  if (["mind", "minddistilled", "distilled"].includes(text)) return "mind";
  return text;
}

const TABLE3_RECIPES: Record<string, PaperRecipe> = {
  "Zero-shot": "zero-shot",
  "w. Unimodal": "unimodal",
  "w. Critic Filter": "critic",
  "MIND Distilled": "mind",
};

function splitHeader(task: PaperTask, split: PaperSplit): string {
  return `${task}_${split}`;
}

/** Parses one of the paper's TSVs; `name` only names it in errors. A number is kept as printed. */
export function parsePaperTsv(
  text: string,
  name: string,
  labelColumns: readonly string[],
): Array<{ labels: Record<string, string>; values: Record<PaperTask, Record<PaperSplit, PaperValue>> }> {
  const lines = text.split(/\r?\n/).filter((line) => line.length > 0);
  const header = lines[0]?.split("\t") ?? [];
  const expected = [...labelColumns, ...PAPER_TASKS.flatMap((t) => PAPER_SPLITS.map((s) => splitHeader(t, s)))];
  if (header.join("\t") !== expected.join("\t"))
    throw new HarnessError(`${name}: header is "${header.join(" ")}", expected "${expected.join(" ")}"`);
  return lines.slice(1).map((line, i) => {
    const cells = line.split("\t");
    if (cells.length !== expected.length) throw new HarnessError(`${name}:${i + 2}: ${cells.length} columns, expected ${expected.length}`);
    const labels = Object.fromEntries(labelColumns.map((c, k) => [c, cells[k]!]));
    const values = Object.fromEntries(
      PAPER_TASKS.map((task) => [
        task,
        Object.fromEntries(
          PAPER_SPLITS.map((split) => {
            const printed = cells[expected.indexOf(splitHeader(task, split))]!;
            const value = Number(printed);
            if (!/^\d+(\.\d+)?$/.test(printed) || !(value >= 0 && value <= 100))
              throw new HarnessError(`${name}:${i + 2}: ${splitHeader(task, split)} is "${printed}", expected a percentage`);
            return [split, { value, printed }];
          }),
        ),
      ]),
    ) as Record<PaperTask, Record<PaperSplit, PaperValue>>;
    return { labels, values };
  });
}

const MODE_SUFFIX = /\s*\((CoT|CoT-SC)\)$/;

function table2Rows(): PaperRow[] {
  return parsePaperTsv(MIND_TABLE2_TSV, "mind_table2.tsv", ["group", "model", "params"]).map(({ labels, values }) => {
    const { group, params } = labels as { group: string; params: string };
    const printedModel = labels["model"] === "-" ? group : labels["model"]!;
    const suffix = MODE_SUFFIX.exec(printedModel)?.[1];
    const model = printedModel.replace(MODE_SUFFIX, "");
    const recipe: PaperRecipe =
      group === "MIND Distilled"
        ? "mind"
        : group === "Random" || group === "Majority Vote"
          ? "baseline"
          : group === "Human"
            ? "human"
            : "zero-shot";
    return {
      table: 2,
      id: `table2/${group}/${printedModel}`,
      group,
      model,
      modelKey: modelKey(model),
      ...(params ? { params } : {}),
      ...(group === "MIND Distilled" ? { recipePrinted: group } : {}),
      recipe,
      mode: suffix === "CoT" ? "cot" : suffix === "CoT-SC" ? "cot-sc" : "zero-shot",
      label: group === "MIND Distilled" ? `${printedModel} / ${group}` : printedModel,
      values,
    } satisfies PaperRow;
  });
}

function table3Rows(): PaperRow[] {
  return parsePaperTsv(MIND_TABLE3_TSV, "mind_table3.tsv", ["backbone", "recipe"]).map(({ labels, values }) => {
    const { backbone, recipe } = labels as { backbone: string; recipe: string };
    const canonical = TABLE3_RECIPES[recipe];
    if (!canonical) throw new HarnessError(`mind_table3.tsv: unknown recipe "${recipe}"`);
    return {
      table: 3,
      id: `table3/${backbone}/${recipe}`,
      group: "Ablation",
      model: backbone,
      modelKey: modelKey(backbone),
      recipePrinted: recipe,
      recipe: canonical,
      mode: "zero-shot",
      label: recipe,
      values,
    } satisfies PaperRow;
  });
}

const sameValues = (a: PaperRow, b: PaperRow) =>
  PAPER_TASKS.every((t) => PAPER_SPLITS.every((s) => a.values[t][s].printed === b.values[t][s].printed));

/**
 * The paper's own inconsistencies (shared/spec/published/README.md), found in the numbers where
 * they can be: an Avg outside the range of its three splits, two different rows printed identical.
 */
function findFootnotes(rows: readonly PaperRow[]): PaperFootnote[] {
  const notes: PaperFootnote[] = [];
  for (const row of rows) {
    for (const task of PAPER_TASKS) {
      const v = row.values[task];
      const levels = [v.easy.value, v.medium.value, v.hard.value];
      const side = v.avg.value > Math.max(...levels) ? "above" : v.avg.value < Math.min(...levels) ? "below" : undefined;
      if (!side) continue;
      const name = row.table === 3 ? `${row.model} ${row.label}` : row.label;
      notes.push({
        id: `avg:${row.id}:${task}`,
        text: `Table ${row.table}, ${name}: ${task} Avg ${v.avg.printed} is ${side} all three of its splits (${v.easy.printed} / ${v.medium.printed} / ${v.hard.printed}); an Avg is a weighted mean of its splits, so a number in this row is misprinted.`,
        rows: [row.id],
      });
    }
  }
  for (const [i, a] of rows.entries()) {
    for (const b of rows.slice(i + 1)) {
      if (a.table === b.table && sameValues(a, b))
        notes.push({
          id: `same:${a.id}:${b.id}`,
          text: `Table ${a.table}: the rows ${a.label} and ${b.label} are printed with the same numbers in every column.`,
          rows: [a.id, b.id],
        });
    }
  }
  const majority = rows.filter((r) => r.group === "Majority Vote").map((r) => r.id);
  if (majority.length > 0) {
    notes.push({
      id: "majority-levels",
      text: "Majority Vote's Easy / Medium / Hard depend on the benchmark's official difficulty split, which was not released; a harness run's levels come from another split, so only its Avg compares.",
      rows: majority,
    });
  }
  const llama3 = rows.filter((r) => r.table === 3 && r.model === "LLAMA-7B-chat").map((r) => r.id);
  if (llama3.length > 0) {
    notes.push({
      id: "llama-name",
      text: "Table 3 prints this backbone as LLAMA-7B-chat: it is Llama-2-7b-chat (Table 2's LLAMA2-7B-chat).",
      rows: llama3,
    });
  }
  return notes;
}

let cache: { rows: PaperRow[]; footnotes: PaperFootnote[] } | undefined;

function load(): { rows: PaperRow[]; footnotes: PaperFootnote[] } {
  if (!cache) {
    const rows = [...table2Rows(), ...table3Rows()];
    cache = { rows, footnotes: findFootnotes(rows) };
  }
  return cache;
}

/** Every printed row of Tables 2 and 3, in the paper's order (Table 2 first). */
export function paperRows(table?: 2 | 3): readonly PaperRow[] {
  return table === undefined ? load().rows : load().rows.filter((r) => r.table === table);
}

/** The footnotes that concern a row. */
export function footnotesFor(rowId: string): PaperFootnote[] {
  return load().footnotes.filter((n) => n.rows.includes(rowId));
}

export function allFootnotes(): readonly PaperFootnote[] {
  return load().footnotes;
}

/** Facts about a table as a whole, printed once under it when its paper rows are shown. */
export const TABLE_NOTES: Record<2 | 3, string> = {
  2: "Published numbers are the MIND paper's Table 2 (zero-shot accuracy, official parse), exactly as printed.",
  3: "Published numbers are the MIND paper's Table 3 (ablation, official parse), exactly as printed; its Zero-shot rows equal Table 2's Open LLM rows and its MIND Distilled rows Table 2's. Table 3 has no w.o. filter row: the unfiltered ablation is only in Figure 4, with no numbers.",
};
