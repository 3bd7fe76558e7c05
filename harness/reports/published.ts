import { modelKey, paperRows, recipeKey, type PaperRow } from "../published/tables.ts";
import { usageError } from "../util/errors.ts";
import type { EvalReport } from "./schema.ts";

/**
 * Which of the MIND paper's rows (harness/published/) `harness report --published` shows, and
 * which paper row a user's run reproduces: by its model/backbone and recipe (and mode).
 */
export const PUBLISHED_SUFFIX = " (published)";

/** What `--published` asked for: every row, the rows matching the user's runs, and/or named rows. */
export interface PublishedSelection {
  all: boolean;
  matched: boolean;
  /** Model/backbone names, Table 2 groups or row labels, as the user wrote them. */
  names: string[];
}

/** How a user's run is matched to a paper row. */
export interface RunIdentity {
  /** Names the run gives its model, most specific first: label backbone, backend model, backend id. */
  modelNames: string[];
  /** The recipe label, when set. */
  recipe?: string;
  /** Evaluated through an adapter (a fine-tuned model): without a recipe label it matches no paper row. */
  adapter: boolean;
  mode: string;
}

export function runIdentity(report: EvalReport): RunIdentity {
  const names = [report.labels["backbone"], report.backend.model, report.backend.id].filter(
    (n): n is string => n !== undefined && n !== "",
  );
  const recipe = report.labels["recipe"];
  return {
    modelNames: [...new Set(names)],
    ...(recipe ? { recipe } : {}),
    adapter: report.backend.adapter !== undefined,
    mode: report.config.mode,
  };
}

/** `--published` (no value or "all"), "matched", "none", or a comma-separated list of names. */
export function parsePublishedOption(value: string | boolean | undefined): PublishedSelection | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { all: true, matched: false, names: [] };
  const terms = value
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  if (terms.length === 0) return { all: true, matched: false, names: [] };
  const selection: PublishedSelection = { all: false, matched: false, names: [] };
  for (const term of terms) {
    const lower = term.toLowerCase();
    if (lower === "none") return undefined;
    if (lower === "all") selection.all = true;
    else if (lower === "matched") selection.matched = true;
    else {
      if (!paperRows().some((row) => namedBy(row, term))) {
        const models = [...new Set(paperRows().map((r) => r.model))].join(", ");
        throw usageError(
          `--published "${term}": no row of the paper's Tables 2-3 has this model, backbone or group; expected all, matched, none, or one of: ${models} (a group such as "Open LLM", or a row label such as "GPT 4 (CoT)"). Files go before --published or after --published=all.`,
        );
      }
      selection.names.push(term);
    }
  }
  return selection;
}

const loose = (text: string) => text.toLowerCase().replace(/[^a-z0-9]+/g, "");

/** A name picks a row by its model (aliases count), its Table 2 group, or its label. */
function namedBy(row: PaperRow, name: string): boolean {
  return (
    modelKey(name) === row.modelKey ||
    loose(name) === loose(row.group) ||
    loose(name) === loose(row.label) ||
    loose(name) === loose(`${row.model} ${row.label}`)
  );
}

function runRecipe(run: RunIdentity, key: string): string | undefined {
  if (key === "random" || key === "majorityvote") return "baseline";
  if (run.recipe !== undefined) return recipeKey(run.recipe);
  return run.adapter ? undefined : "zero-shot";
}

/** The paper rows of `table` a run reproduces: same model, recipe and mode. */
export function matchingPaperRows(run: RunIdentity, table: 2 | 3): PaperRow[] {
  for (const name of run.modelNames) {
    const key = modelKey(name);
    const recipe = runRecipe(run, key);
    if (recipe === undefined) continue;
    const rows = paperRows(table).filter((row) => row.modelKey === key && row.recipe === recipe && row.mode === run.mode);
    if (rows.length > 0) return rows;
  }
  return [];
}

/** The one paper row a run is compared with in the gap view: Table 2's when it has one, else Table 3's (unimodal, critic). */
export function paperRowFor(run: RunIdentity): PaperRow | undefined {
  const t2 = matchingPaperRows(run, 2)[0];
  const t3 = matchingPaperRows(run, 3)[0];
  return t2 ?? t3;
}

/** The selected rows of one table, in the paper's order. */
export function selectPaperRows(table: 2 | 3, selection: PublishedSelection, runs: readonly RunIdentity[]): PaperRow[] {
  const matched = new Set(selection.matched ? runs.flatMap((run) => matchingPaperRows(run, table)).map((r) => r.id) : []);
  return paperRows(table).filter((row) => selection.all || matched.has(row.id) || selection.names.some((name) => namedBy(row, name)));
}
