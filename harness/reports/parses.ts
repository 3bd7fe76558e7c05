import { parseNames, type ParseName } from "../scoring/parses.ts";
import { INTERVAL_METHOD_TITLES, INTERVAL_METHODS, type IntervalMethod } from "../stats/proportion.ts";
import { usageError } from "../util/errors.ts";
import type { LoadedReport } from "./load.ts";
import type { EvalReport, ParseAccuracy } from "./schema.ts";

/** The parses a report has accuracies for (any split of any task), in the harness's parse order, unknown ones after. */
export function reportParses(report: EvalReport): ParseName[] {
  const found = new Set<string>();
  for (const result of report.results) {
    for (const split of [...Object.values(result.splits), ...Object.values(result.relations ?? {})])
      if (split) for (const name of Object.keys(split.parses)) found.add(name);
  }
  const known = parseNames();
  return [...known.filter((n) => found.has(n)), ...[...found].filter((n) => !known.includes(n)).sort()];
}

/**
 * Checks that every report has the parse --metric names; else a usage error (exit 2) that names
 * the file and lists the parses it has (logprob, say, when the server returned no top_logprobs).
 */
export function requireParse(reports: readonly LoadedReport[], parse: ParseName): void {
  const known = parseNames();
  for (const { path, report } of reports) {
    const has = reportParses(report);
    // A report with no answered question has no accuracy under any parse: its cells show "—" and PARTIAL.
    if (has.includes(parse) || has.length === 0) continue;
    const what = known.includes(parse)
      ? `has no "${parse}" parse${parse === "logprob" ? " (the run has no letter probabilities: a zero-shot run whose backend returns top_logprobs has)" : ""}`
      : `--metric "${parse}" is not a parse (the harness knows ${known.join(", ")})`;
    throw usageError(`${path}: ${what}; this report has: ${has.join(", ") || "none"}`);
  }
}

/** How a stored accuracy's 95% interval was made: reports before issue 21 carry no method and used the bootstrap. */
export const intervalMethodOf = (accuracy: Pick<ParseAccuracy, "ciMethod">): IntervalMethod => accuracy.ciMethod ?? "bootstrap";

/** The interval methods a report's accuracies carry, in INTERVAL_METHODS order. */
export function reportIntervalMethods(report: EvalReport): IntervalMethod[] {
  const found = new Set<IntervalMethod>();
  for (const result of report.results)
    for (const split of [...Object.values(result.splits), ...Object.values(result.relations ?? {})])
      if (split) for (const accuracy of Object.values(split.parses)) found.add(intervalMethodOf(accuracy));
  return INTERVAL_METHODS.filter((m) => found.has(m));
}

/** One line saying which 95% interval a report's accuracies carry (an old report's are bootstraps). */
export function intervalNote(report: EvalReport): string {
  const parts = reportIntervalMethods(report).map((method) =>
    method === "wilson"
      ? `${INTERVAL_METHOD_TITLES.wilson} (from correct of n)`
      : `${INTERVAL_METHOD_TITLES.bootstrap} (${report.config.bootstrapResamples} resamples, seed ${report.config.seed}; written before Wilson intervals)`,
  );
  return `95% intervals of each accuracy: ${parts.join("; ") || "none (no accuracy)"}`;
}
