import type { Coverage, EvalReport, TaskResult } from "./schema.ts";

/**
 * How much of the benchmark a task result covers. `harness eval` records it; reports written
 * before it did are derived from their question counts (every report@1 file has them), and say so.
 */
export interface CoverageView extends Coverage {
  /** False when derived from an older report's question counts, not recorded by eval. */
  recorded: boolean;
}

/** The coverage eval records: counts from the run, `subset` from the flags that narrowed it. */
export function computeCoverage(
  counts: { scorable: number; selected: number; failed: number },
  flags: { limit: number | null; ids: number | null },
): Coverage {
  const answered = counts.selected - counts.failed;
  return {
    scorable: counts.scorable,
    selected: counts.selected,
    answered,
    failed: counts.failed,
    subset: counts.selected < counts.scorable ? { limit: flags.limit, ids: flags.ids } : null,
    complete: answered === counts.scorable,
  };
}

export function coverageOf(result: TaskResult, config: EvalReport["config"]): CoverageView {
  if (result.coverage) return { ...result.coverage, recorded: true };
  const q = result.questions;
  return {
    ...computeCoverage(
      { scorable: q.scorable, selected: q.selected, failed: q.apiErrors },
      { limit: config.limit, ids: config.ids?.length ?? null },
    ),
    recorded: false,
  };
}

/** "--limit 100", "--ids (40 ids)", or "a subset" when the flags are not known. */
export function subsetFlags(subset: NonNullable<Coverage["subset"]>): string {
  const flags = [subset.ids !== null ? `--ids (${subset.ids} ids)` : "", subset.limit !== null ? `--limit ${subset.limit}` : ""].filter(
    Boolean,
  );
  return flags.length > 0 ? flags.join(" ") : "a subset";
}

/** One line a reader needs about a partial task, e.g. "100 of 2245 scored questions (--limit 100)". */
export function describeCoverage(c: Coverage): string {
  const parts: string[] = [];
  if (c.subset) parts.push(`subset: ${subsetFlags(c.subset)}`);
  if (c.failed > 0) parts.push(`${c.failed} failed`);
  return `${c.answered} of ${c.scorable} scored questions answered${parts.length > 0 ? ` (${parts.join("; ")})` : ""}`;
}

/** The short mark a partial row carries in every format: "partial: --limit 100; 12 failed". */
export function partialMark(coverages: readonly Coverage[]): string | undefined {
  const partial = coverages.filter((c) => !c.complete);
  if (partial.length === 0) return undefined;
  const flags = [...new Set(partial.flatMap((c) => (c.subset ? [subsetFlags(c.subset)] : [])))];
  const failed = partial.reduce((a, c) => a + c.failed, 0);
  const parts = [...flags, ...(failed > 0 ? [`${failed} failed`] : [])];
  return `partial: ${parts.length > 0 ? parts.join("; ") : "not every question answered"}`;
}
