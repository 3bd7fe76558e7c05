import { quantileSorted } from "simple-statistics";
import { round2, type Interval } from "./bootstrap.ts";
import { mulberry32 } from "./rng.ts";

/**
 * Percentile bootstrap interval of the change in accuracy (head - base, in points) over paired
 * questions: each resample draws questions with replacement and keeps both outcomes of a question
 * together, so the interval reflects the pairing. Seeded: the same seed gives the same interval.
 */
export function pairedBootstrapDeltaInterval(
  pairs: ReadonlyArray<readonly [0 | 1, 0 | 1]>,
  seed: number,
  resamples = 1000,
  level = 0.95,
): Interval {
  const n = pairs.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  // Per question the change is -1, 0 or +1; a resample's mean change is their sum over n.
  const change = Int8Array.from(pairs, ([base, head]) => head - base);
  const random = mulberry32(seed);
  const deltas = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += change[Math.floor(random() * n)]!;
    deltas[b] = (100 * sum) / n;
  }
  deltas.sort();
  const sorted = Array.from(deltas);
  const alpha = (1 - level) / 2;
  return { low: round2(quantileSorted(sorted, alpha)), high: round2(quantileSorted(sorted, 1 - alpha)) };
}
