import { round2, type Interval } from "./bootstrap.ts";

/** The standard normal's 0.975 quantile: a two-sided 95% interval. */
export const Z_95 = 1.959963984540054;

/** How each stored 95% interval was made; reports written before issue 21 carry no method: bootstrap. */
export const INTERVAL_METHODS = ["wilson", "bootstrap"] as const;
export type IntervalMethod = (typeof INTERVAL_METHODS)[number];

export const INTERVAL_METHOD_TITLES: Record<IntervalMethod, string> = {
  wilson: "Wilson score",
  bootstrap: "percentile bootstrap",
};

/**
 * Wilson score interval of a proportion (correct of n), in percent with two decimals.
 * It inverts the normal test of the proportion rather than centring on the sample share, so it
 * keeps a non-zero width at 0 of n and n of n (where a bootstrap of 0/1 outcomes has nothing to
 * resample and collapses), and, being a function of the counts alone, equal counts give equal
 * intervals. NaN bounds for n = 0.
 */
export function wilsonInterval(correct: number, n: number, z = Z_95): Interval {
  if (!Number.isInteger(correct) || !Number.isInteger(n) || correct < 0 || correct > n)
    throw new RangeError(`invalid proportion counts: ${correct} of ${n}`);
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  const p = correct / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At the edges the bound is exactly 0 or 1; clamping keeps rounding error from leaving 0-100.
  const low = correct === 0 ? 0 : Math.max(0, centre - half);
  const high = correct === n ? 1 : Math.min(1, centre + half);
  return { low: round2(100 * low), high: round2(100 * high) };
}
