import { quantileSorted } from "simple-statistics";
import type { Interval } from "./bootstrap.ts";
import { mulberry32 } from "./rng.ts";

/**
 * Percentile bootstrap interval of the mean of real values (e.g. cosine similarities): each
 * resample draws n values with replacement from a seeded PRNG, so the same seed gives the same
 * interval. NaN bounds for an empty sample.
 */
export function bootstrapMeanInterval(values: readonly number[], seed: number, resamples = 1000, level = 0.95): Interval {
  const n = values.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  const random = mulberry32(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(random() * n)]!;
    means[b] = sum / n;
  }
  means.sort();
  const sorted = Array.from(means);
  const alpha = (1 - level) / 2;
  return { low: quantileSorted(sorted, alpha), high: quantileSorted(sorted, 1 - alpha) };
}
