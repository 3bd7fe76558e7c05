import { formatDuration } from "../render/progress.ts";

/** One line of LLaMA-Factory's trainer_log.jsonl (train/callbacks.py; null fields are left out). */
export interface TrainerLogEntry {
  currentSteps: number;
  totalSteps: number;
  loss?: number;
  evalLoss?: number;
  lr?: number;
  epoch?: number;
  percentage?: number;
  elapsedTime?: string;
  remainingTime?: string;
  throughput?: number;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

/**
 * Parses one line; null for blank, partial or foreign lines. Python's json.dumps writes NaN
 * and Infinity bare, which JSON.parse rejects: they are read as NaN so a diverging fp16 run
 * is noticed instead of the line being dropped.
 */
export function parseTrainerLogLine(line: string): TrainerLogEntry | null {
  const text = line.trim();
  if (!text.startsWith("{")) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/:\s*(-?Infinity|NaN)\b/g, ': "$1"'));
  } catch {
    return null;
  }
  if (raw === null || typeof raw !== "object") return null;
  const r = raw as Record<string, unknown>;
  const steps = num(r.current_steps);
  const total = num(r.total_steps);
  if (steps === undefined || total === undefined) return null;
  const loose = (value: unknown): number | undefined =>
    typeof value === "string" && /^(-?Infinity|NaN)$/.test(value) ? Number(value) : num(value);
  const entry: TrainerLogEntry = { currentSteps: steps, totalSteps: total };
  const loss = loose(r.loss);
  if (loss !== undefined) entry.loss = loss;
  const evalLoss = loose(r.eval_loss);
  if (evalLoss !== undefined) entry.evalLoss = evalLoss;
  if (num(r.lr) !== undefined) entry.lr = num(r.lr)!;
  if (num(r.epoch) !== undefined) entry.epoch = num(r.epoch)!;
  if (num(r.percentage) !== undefined) entry.percentage = num(r.percentage)!;
  if (typeof r.elapsed_time === "string") entry.elapsedTime = r.elapsed_time;
  if (typeof r.remaining_time === "string") entry.remainingTime = r.remaining_time;
  if (num(r.throughput) !== undefined) entry.throughput = num(r.throughput)!;
  return entry;
}

/** Loss that is NaN or infinite: fp16 LoRA diverged (V100s, no bf16). */
export function isDiverged(entry: TrainerLogEntry): boolean {
  return entry.loss !== undefined && !Number.isFinite(entry.loss);
}

/** "H:MM:SS" -> seconds, or NaN. */
export function parseClock(text: string | undefined): number {
  const match = /^(\d+):(\d{2}):(\d{2})$/.exec(text ?? "");
  return match ? Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]) : Number.NaN;
}

/** The progress line: a bar on a terminal, plain words in logs. */
export function formatTrainerProgress(entry: TrainerLogEntry, interactive: boolean, lastLoss?: number): string {
  const pct = entry.totalSteps > 0 ? Math.min(100, (100 * entry.currentSteps) / entry.totalSteps) : 0;
  const loss = entry.loss ?? lastLoss;
  const parts = [
    `step ${entry.currentSteps}/${entry.totalSteps} (${pct.toFixed(1)}%)`,
    `loss ${loss === undefined ? "-" : Number.isFinite(loss) ? loss.toFixed(4) : String(loss)}`,
    `lr ${entry.lr === undefined ? "-" : entry.lr.toExponential(2)}`,
    `ETA ${formatDuration(parseClock(entry.remainingTime))}`,
  ];
  if (!interactive) return `train: ${parts.join("  ")}`;
  const width = 24;
  const filled = Math.round((width * pct) / 100);
  return `train [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${parts.join("  ")}`;
}
