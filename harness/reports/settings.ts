import type { EvalReport } from "./schema.ts";

/**
 * The settings a reader needs beside a number: how the answers were decoded and what the model
 * was trained on. Printed under the tables by every format.
 */
export function decodingText(report: EvalReport): string {
  const d = report.config.decoding;
  const values = `temperature ${d.temperature}, top_p ${d.topP ?? "not sent (server default)"}, max_tokens ${d.maxTokens}${d.samples > 1 ? `, ${d.samples} samples` : ""}`;
  const source = [
    d.preset ? `${d.preset}${d.from ? `: ${d.from}` : ""}` : "",
    d.overrides && d.overrides.length > 0 ? `set on the command line: ${d.overrides.join(", ")}` : "",
  ].filter(Boolean);
  const notSent = Object.entries(d.notSent ?? {}).map(([key, value]) => `${key} ${String(value)}`);
  return `${report.config.mode}, ${values}${source.length > 0 ? ` (${source.join("; ")})` : ""}${notSent.length > 0 ? `; the model's ${notSent.join(", ")} not sent (no such request field)` : ""}`;
}

/** Whether the fine-tuning data was decontaminated and how many benchmark pairs it held; undefined when the report does not say. */
export function trainingText(report: EvalReport): string | undefined {
  const t = report.training;
  if (!t) return undefined;
  const decontaminated =
    t.decontaminated === null
      ? "decontamination unknown"
      : t.decontaminated
        ? "decontaminated"
        : "not decontaminated (all intentions, as the paper)";
  const overlap = t.benchmarkOverlap
    ? `scored questions whose product pair is in the training data: ${(["understanding", "utilization"] as const).map((task) => `${task} ${t.benchmarkOverlap![task].questions} of ${t.benchmarkOverlap![task].scored}`).join(", ")}`
    : "benchmark pairs in the training data not counted";
  return `${t.recipe} data ${t.dataset} (${t.records} records), ${decontaminated}; ${overlap}`;
}

/** The order the options were shown in: the benchmark's, or eval --permute-options' seeded one. */
export function optionOrderText(report: EvalReport): string {
  const seed = report.config.permuteOptions;
  return seed === undefined ? "official" : `permuted (seed ${seed})`;
}
