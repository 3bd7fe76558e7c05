import { describe, expect, it } from "vitest";
import { binomialCdf, bootstrapAccuracyInterval } from "../../../harness/stats/bootstrap.ts";
import { mulberry32 } from "../../../harness/stats/rng.ts";

/** The textbook bootstrap: draw n indices with replacement. */
function naiveInterval(outcomes: (0 | 1)[], seed: number, resamples: number): { low: number; high: number } {
  const random = mulberry32(seed);
  const means: number[] = [];
  for (let b = 0; b < resamples; b++) {
    let ones = 0;
    for (let i = 0; i < outcomes.length; i++) ones += outcomes[Math.floor(random() * outcomes.length)]!;
    means.push((100 * ones) / outcomes.length);
  }
  means.sort((a, b) => a - b);
  return { low: means[Math.floor(0.025 * resamples)]!, high: means[Math.floor(0.975 * resamples)]! };
}

describe("bootstrap intervals of an accuracy", () => {
  it("agree with drawing indices with replacement (same distribution, fewer draws)", () => {
    const outcomes = Array.from({ length: 2245 }, (_, i) => ((i * 7919) % 100 < 62 ? 1 : 0)) as (0 | 1)[];
    const fast = bootstrapAccuracyInterval(outcomes, 1, 20_000);
    const naive = naiveInterval(outcomes, 2, 20_000);
    expect(Math.abs(fast.low - naive.low)).toBeLessThan(0.3);
    expect(Math.abs(fast.high - naive.high)).toBeLessThan(0.3);
    // The normal approximation: 62% +- 1.96 * sqrt(p(1-p)/n) = +- 2.01 points.
    expect(fast.high - fast.low).toBeGreaterThan(3.6);
    expect(fast.high - fast.low).toBeLessThan(4.4);
  });

  it("is seeded, and degenerate at 0% and 100%", () => {
    const outcomes = [1, 0, 1, 1, 0, 1, 0, 1] as (0 | 1)[];
    expect(bootstrapAccuracyInterval(outcomes, 5)).toEqual(bootstrapAccuracyInterval(outcomes, 5));
    expect(bootstrapAccuracyInterval([1, 1, 1], 5)).toEqual({ low: 100, high: 100 });
    expect(bootstrapAccuracyInterval([0, 0], 5)).toEqual({ low: 0, high: 0 });
  });

  it("uses a proper binomial distribution", () => {
    const cdf = binomialCdf(4, 0.5);
    expect(Array.from(cdf).map((v) => Number(v.toFixed(4)))).toEqual([0.0625, 0.3125, 0.6875, 0.9375, 1]);
  });
});
