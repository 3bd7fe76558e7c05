import { renderText } from "../render/text-table.ts";
import { describeOverlap, type BenchmarkOverlap } from "./decontaminate.ts";

/** Why a row did not become a training record. Checked in this order; the first reason counts. */
export const DROP_REASONS = [
  "badRow",
  "emptyIntention",
  "emptyProductName",
  "filterRejected",
  "missingCriticScore",
  "belowCriticThreshold",
  "contaminated",
  "duplicate",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const DROP_LABELS: Record<DropReason, string> = {
  badRow: "bad row skipped",
  emptyIntention: "empty intention",
  emptyProductName: "empty product name",
  filterRejected: "filter rejected",
  missingCriticScore: "no critic score",
  belowCriticThreshold: "below critic threshold",
  contaminated: "contaminated (IntentionQA pair)",
  duplicate: "duplicate",
};

export const SFT_STATS_SCHEMA = "intentionqa-harness/sft-stats@1";

export interface RelationStats {
  /** Valid rows with this relation (generated intentions). */
  read: number;
  /** Of those, accepted by the role-aware filter (Agreement starts with yes). */
  filterAccepted: number;
  /** filterAccepted / read: the paper's relation-wise filter preserve rate. */
  preserveRate: number;
  /** Records this recipe wrote for the relation. */
  kept: number;
}

export interface SftStats {
  schema: typeof SFT_STATS_SCHEMA;
  dataset: string;
  recipe: string;
  description: string;
  /** What input the recipe expects (e.g. a text-only KB for unimodal). */
  expects?: string;
  file: string;
  kb: { path: string; format: string; bytes: number };
  options: {
    decontaminate: boolean;
    skipBadRows: boolean;
    criticThreshold?: number;
    criticSource?: string;
  };
  rows: {
    /** Data rows in the KB, bad ones included. */
    read: number;
    kept: number;
    dropped: Record<DropReason, number>;
  };
  filterPreserveRate: number;
  perRelation: Record<string, RelationStats>;
  decontamination: { enabled: boolean; dataDir?: string; benchmarkPairs?: { idPairs: number; namePairs: number }; dropped: number };
  /**
   * Scored IntentionQA questions (understanding of 2245, utilization of 2143) whose product pair
   * is in this training data; null when the benchmark files were not found (see the next field).
   */
  benchmarkOverlap: BenchmarkOverlap | null;
  benchmarkOverlapUnavailable?: string;
  /** JSONL KBs may say whether they were generated without images; counts of rows that did. */
  textOnly?: { yes: number; no: number; unknown: number };
  /**
   * How the KB's rows were made, from distill's records (JSONL prompt_set / unit, or the KB's
   * mind_kb.meta.json): rows per prompt set (multimodal, text-only, text-only-image-phrased) and per
   * unit (row, fan-out); "unknown" for rows that do not say (e.g. the released KB).
   */
  kbMadeWith?: { promptSets: Record<string, number>; units: Record<string, number> };
  /** First bad rows (file:line: reason), at most 20. */
  badRowExamples: string[];
  harness: { version: string; commit: string | null };
  createdAt: string;
  seconds: number;
}

export function emptyDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
}

export function rate(part: number, whole: number): number {
  return whole === 0 ? 0 : part / whole;
}

/** The short human summary printed after a build: one block per dataset. */
export function renderStats(stats: SftStats): string {
  const lines = [
    `${stats.dataset} (${stats.recipe}): ${stats.rows.kept} of ${stats.rows.read} rows kept -> ${stats.file}`,
    ...(stats.expects ? [`  expects ${stats.expects}`] : []),
    `  decontaminated: ${stats.decontamination.enabled ? "yes (benchmark pairs dropped)" : "no (the paper's setting)"}; scored IntentionQA questions whose pair is in the data: ${
      stats.benchmarkOverlap ? describeOverlap(stats.benchmarkOverlap) : "not counted (IntentionQA not found)"
    }`,
  ];
  const made = stats.kbMadeWith;
  const counts = (byName: Record<string, number>) =>
    Object.entries(byName)
      .map(([name, n]) => `${name} ${n}`)
      .join(", ");
  if (made && Object.keys(made.promptSets).length > 0)
    lines.push(`  KB prompts: ${counts(made.promptSets)} rows; unit: ${counts(made.units)} rows`);
  const dropRows = DROP_REASONS.filter((reason) => stats.rows.dropped[reason] > 0).map((reason) => [
    `  dropped: ${DROP_LABELS[reason]}`,
    String(stats.rows.dropped[reason]),
  ]);
  if (dropRows.length > 0)
    lines.push(
      renderText({ headers: ["", "rows"], rows: dropRows })
        .split("\n")
        .slice(2)
        .join("\n"),
    );
  const relations = Object.entries(stats.perRelation).sort(([a], [b]) => a.localeCompare(b));
  if (relations.length > 0) {
    lines.push(
      renderText({
        headers: ["relation", "generated", "accepted", "preserve", "kept"],
        rows: [
          ...relations.map(([relation, r]) => [
            relation,
            String(r.read),
            String(r.filterAccepted),
            r.preserveRate.toFixed(3),
            String(r.kept),
          ]),
          [
            "all",
            String(relations.reduce((s, [, r]) => s + r.read, 0)),
            String(relations.reduce((s, [, r]) => s + r.filterAccepted, 0)),
            stats.filterPreserveRate.toFixed(3),
            String(stats.rows.kept),
          ],
        ],
      }),
    );
  }
  return lines.join("\n");
}
