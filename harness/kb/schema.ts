/**
 * The intention knowledge base, in the released MIND CSV column layout. `harness distill` writes
 * it (CSV and JSONL with these same keys, plus optional extras); `harness build-sft` reads both.
 */
export const KB_COLUMNS = [
  "id_a",
  "id_b",
  "Product_a",
  "Product_b",
  "Relation",
  "product_a_desc",
  "product_b_desc",
  "Intention",
  "tail",
  "Agreement",
] as const;
export type KbColumn = (typeof KB_COLUMNS)[number];

/** The KB's file formats: the released CSV layout, or distill's JSON lines. */
export const KB_FORMATS = ["csv", "jsonl"] as const;
export type KbFormat = (typeof KB_FORMATS)[number];

/** Where a KB (or a critic side file) keeps the typicality critic score unless told otherwise. */
export const DEFAULT_CRITIC_COLUMN = "critic_score";

/** One generated intention: the ten released columns, each a string. */
export type KbRow = Record<KbColumn, string>;

/**
 * Optional extras a JSONL KB may carry beside the released columns (the CSV carries only the
 * released ten). critic_score is a typicality score in 0..1 for the `critic` recipe.
 */
export interface KbExtras {
  critic_score?: number;
  /** "yes" | "no" | "unparsed": the role-aware filter's verdict, as distill read it. */
  verdict?: "yes" | "no" | "unparsed";
  /** Whether the KB was generated without images (the unimodal ablation). */
  text_only?: boolean;
  /** The prompt set that generated the row (KB_PROMPT_SETS). */
  prompt_set?: KbPromptSet;
  /** "row": one intention per input row under its relation (the original's unit); "fan-out": a bare pair under each of --relations. */
  unit?: KbUnit;
}

/** The prompt sets distill asks with (harness/prompts/mind.ts MIND_PROMPT_SETS), as the KB records them. */
export const KB_PROMPT_SETS = ["multimodal", "text-only", "text-only-image-phrased"] as const;
export type KbPromptSet = (typeof KB_PROMPT_SETS)[number];
export const KB_UNITS = ["row", "fan-out"] as const;
export type KbUnit = (typeof KB_UNITS)[number];

/** The role-aware filter accepted the intention: the Agreement answer starts with "yes". */
export function filterAccepted(agreement: string): boolean {
  return /^\s*["'*]*yes\b/i.test(agreement);
}
