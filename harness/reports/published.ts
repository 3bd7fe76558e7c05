import type { SplitName } from "./schema.ts";

/**
 * Numbers the papers published (reference card: /work/shared/spec/mind.md and intentionqa.md),
 * shown by `harness report --published` as reference rows labelled "(published)". They are the
 * official parse's accuracies in percent; nothing here is measured by the harness.
 */
export type PublishedTask = "understanding" | "utilization";

export interface PublishedRow {
  /** Which table the row belongs in. */
  table: 2 | 3;
  backbone: string;
  recipe: string;
  /** Row label before the " (published)" suffix. */
  label: string;
  values: Partial<Record<PublishedTask, Partial<Record<SplitName, number>>>>;
  source: string;
}

const MISTRAL = "Mistral-7B-Instruct-v0.2";
const MIND_TABLE_3 = "MIND paper, Table 3 (Mistral-7B-Instruct-v0.2, understanding Avg)";
const everySplit = (value: number): Partial<Record<SplitName, number>> => ({ easy: value, medium: value, hard: value, avg: value });

export const PUBLISHED_ROWS: readonly PublishedRow[] = [
  { table: 2, backbone: "Random", recipe: "—", label: "Random", values: { understanding: everySplit(25), utilization: everySplit(25) }, source: "IntentionQA / MIND papers: random baseline" },
  { table: 2, backbone: MISTRAL, recipe: "zero-shot", label: `${MISTRAL} / zero-shot`, values: { understanding: { avg: 75.5 } }, source: MIND_TABLE_3 },
  { table: 2, backbone: MISTRAL, recipe: "MIND distilled", label: `${MISTRAL} / MIND distilled`, values: { understanding: { avg: 76.97 } }, source: MIND_TABLE_3 },
  { table: 3, backbone: MISTRAL, recipe: "zero-shot", label: "zero-shot", values: { understanding: { avg: 75.5 } }, source: MIND_TABLE_3 },
  { table: 3, backbone: MISTRAL, recipe: "w. unimodal", label: "w. unimodal", values: { understanding: { avg: 73.72 } }, source: MIND_TABLE_3 },
  { table: 3, backbone: MISTRAL, recipe: "w. critic filter", label: "w. critic filter", values: { understanding: { avg: 72.29 } }, source: MIND_TABLE_3 },
  { table: 3, backbone: MISTRAL, recipe: "MIND distilled", label: "MIND distilled", values: { understanding: { avg: 76.97 } }, source: MIND_TABLE_3 },
];

export const PUBLISHED_SUFFIX = " (published)";
