import { filterAccepted } from "../kb/schema.ts";
import type { KbRecord } from "../kb/read.ts";
import { usageError } from "../util/errors.ts";
import { BUILD_SFT_DEFAULTS } from "./defaults.ts";

/**
 * Which generated intentions become training data, one recipe per row of the paper's ablation
 * table (Table 3). The zero-shot row needs no data, so it has no recipe.
 */

export const RECIPE_NAMES = ["mind", "unfiltered", "unimodal", "critic"] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];

/** Why a recipe leaves a row out (before dedup and decontamination, which apply to every recipe). */
export type RecipeDrop = "filterRejected" | "belowCriticThreshold" | "missingCriticScore";

export interface RecipeContext {
  criticThreshold: number;
  /** The row's critic score from the KB column or the side file; undefined when it has none. */
  criticScore: (record: KbRecord, rowIndex: number) => number | undefined;
}

/** The paper's zero-shot row: the backbone as released, no training data, so no recipe. */
export const ZERO_SHOT = "zero-shot" as const;
/** A row of the ablation table: a recipe, or zero-shot. */
export type TableRow = RecipeName | typeof ZERO_SHOT;

/** KB files a recipe can be built from, named as the ablation config's `data.*` keys. */
export type KbInput = "kb" | "unimodal_kb";

/**
 * What a row needs, so no caller tests a recipe's name: `build-sft`, the ablation config, its
 * preflight, its plan and its run all read these.
 */
export interface RecipeNeeds {
  /** false: nothing is built or trained (zero-shot). */
  trains: boolean;
  /** The KB its data is built from: `kb` (the role-aware KB) or `unimodal_kb` (generated without images). */
  kb: KbInput | null;
  /** A typicality critic score per row (a KB column or a side file). */
  criticScores: boolean;
}

export interface Recipe {
  name: RecipeName;
  description: string;
  needs: RecipeNeeds;
  /** A note stored in the stats file about what input the recipe expects. */
  expects?: string;
  /** null keeps the row. */
  judge: (record: KbRecord, rowIndex: number, context: RecipeContext) => RecipeDrop | null;
}

const roleAwareFilter = (record: KbRecord): RecipeDrop | null => (filterAccepted(record.row.Agreement) ? null : "filterRejected");

export const RECIPES: Record<RecipeName, Recipe> = {
  mind: {
    name: "mind",
    description: "MIND distilled: intentions the role-aware filter accepted (Agreement starts with yes)",
    needs: { trains: true, kb: "kb", criticScores: false },
    judge: roleAwareFilter,
  },
  unfiltered: {
    name: "unfiltered",
    description: "w.o. filter: every generated intention",
    needs: { trains: true, kb: "kb", criticScores: false },
    judge: () => null,
  },
  unimodal: {
    name: "unimodal",
    description: "w. unimodal: the role-aware filter applied to a KB generated without images",
    needs: { trains: true, kb: "unimodal_kb", criticScores: false },
    expects: "a text-only KB: intentions generated and filtered with no images (harness distill --text-only)",
    judge: roleAwareFilter,
  },
  critic: {
    name: "critic",
    description: `w. critic filter: intentions whose typicality critic score is >= the threshold (default ${BUILD_SFT_DEFAULTS.criticThreshold}), instead of the role-aware filter`,
    needs: { trains: true, kb: "kb", criticScores: true },
    expects: "a critic score per row, from a KB column or --critic-file",
    judge: (record, rowIndex, context) => {
      const score = context.criticScore(record, rowIndex);
      if (score === undefined) return "missingCriticScore";
      return score >= context.criticThreshold ? null : "belowCriticThreshold";
    },
  },
};

/** "mind,unfiltered" -> recipes, in order, without repeats. An unknown name lists the known ones. */
export function parseRecipes(spec: string): Recipe[] {
  const names = spec
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 0) throw usageError(`--recipe is empty: expected one or more of ${RECIPE_NAMES.join(", ")}`);
  const recipes: Recipe[] = [];
  for (const name of names) {
    if (!(RECIPE_NAMES as readonly string[]).includes(name)) {
      throw usageError(`--recipe "${name}" is not a recipe: expected ${RECIPE_NAMES.join(", ")} (comma-separated for several)`);
    }
    const recipe = RECIPES[name as RecipeName];
    if (!recipes.includes(recipe)) recipes.push(recipe);
  }
  return recipes;
}

const ZERO_SHOT_NEEDS: RecipeNeeds = { trains: false, kb: null, criticScores: false };

/** What a table row needs: the one place a row's name decides anything. */
export function needsOf(row: TableRow): RecipeNeeds {
  return row === ZERO_SHOT ? ZERO_SHOT_NEEDS : RECIPES[row].needs;
}
