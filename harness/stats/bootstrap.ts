import { quantileSorted } from "simple-statistics";
import { mulberry32 } from "./rng.ts";

export interface Interval {
  low: number;
  high: number;
}

export const DEFAULT_BOOTSTRAP_RESAMPLES = 1000;

/**
 * Percentile bootstrap interval of the mean of 0/1 outcomes, in percent, from a seeded PRNG.
 * For 0/1 data a resample's mean is its count of ones over n, so a resample costs n draws.
 */
export function bootstrapAccuracyInterval(outcomes: readonly (0 | 1)[], seed: number, resamples = DEFAULT_BOOTSTRAP_RESAMPLES, level = 0.95): Interval {
  const n = outcomes.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  const random = mulberry32(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let ones = 0;
    for (let i = 0; i < n; i++) ones += outcomes[Math.floor(random() * n)]!;
    means[b] = (100 * ones) / n;
  }
  means.sort();
  const sorted = Array.from(means);
  const alpha = (1 - level) / 2;
  return { low: round2(quantileSorted(sorted, alpha)), high: round2(quantileSorted(sorted, 1 - alpha)) };
}

/** Percent with two decimals, the way the papers' tables print accuracies. */
export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

export function percent(correct: number, n: number): number {
  return n === 0 ? Number.NaN : round2((100 * correct) / n);
}
