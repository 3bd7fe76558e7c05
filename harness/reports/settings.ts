import type { EvalReport } from "./schema.ts";

/**
 * The settings a reader needs beside a number: how the answers were decoded and what the model
 * was trained on. Printed under the tables by every format.
 */
export function decodingText(report: EvalReport): string {
  const recorded = report.decoding;
  if (recorded) {
    const values = [
      ["temperature", recorded.temperature],
      ["top_p", recorded.top_p],
      ["max_tokens", recorded.max_tokens],
    ].map(([name, value]) => `${name} ${value === null || value === undefined ? "not sent" : String(value)}`);
    return `${recorded.mode ?? report.config.mode}, ${values.join(", ")}${recorded.source ? ` (${recorded.source})` : ""}`;
  }
  const d = report.config.decoding;
  return `${report.config.mode}, temperature ${d.temperature}, top_p ${d.topP ?? "not sent (server default)"}, max_tokens ${d.maxTokens}${d.samples > 1 ? `, ${d.samples} samples` : ""}`;
}

/** Whether the fine-tuning data was decontaminated and how many benchmark pairs it held; undefined when the report does not say. */
export function trainingText(report: EvalReport): string | undefined {
  const training = report.training;
  if (!training) return undefined;
  const pairs = Object.entries(training.benchmarkPairsInTraining ?? {}).map(([task, count]) => `${task} ${count.n} of ${count.of}`);
  return `${training.decontaminated ? "decontaminated" : "not decontaminated (all intentions, as the paper)"}${pairs.length > 0 ? `; scored questions whose product pair is in the training data: ${pairs.join(", ")}` : ""}`;
}
