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

export interface HistogramBin {
  low: number;
  high: number;
  count: number;
}

/** Equal-width bins over [low, high]; a value equal to high falls in the last bin, values outside are clamped. */
export function histogram(values: readonly number[], low: number, high: number, bins: number): HistogramBin[] {
  const width = (high - low) / bins;
  const out: HistogramBin[] = Array.from({ length: bins }, (_, i) => ({ low: low + i * width, high: low + (i + 1) * width, count: 0 }));
  for (const value of values) {
    // The epsilon keeps a value on a bin edge (0.85 with width 0.05) in the bin it starts.
    const index = Math.min(bins - 1, Math.max(0, Math.floor((value - low) / width + 1e-9)));
    out[index]!.count += 1;
  }
  return out;
}
