import { describe, expect, it } from "vitest";
import { bootstrapAccuracyInterval } from "../../../harness/stats/bootstrap.ts";
import { wilsonInterval, Z_95 } from "../../../harness/stats/proportion.ts";

describe("Wilson score interval of an accuracy", () => {
  it("matches the published values (Newcombe 1998, Table II, score method without continuity correction)", () => {
    // Newcombe, "Two-sided confidence intervals for the single proportion", Stat Med 17:857-872,
    // prints these to four decimals; statsmodels' proportion_confint(method="wilson") agrees.
    expect(wilsonInterval(81, 263)).toEqual({ low: 25.53, high: 36.62 }); // 0.2553-0.3662
    expect(wilsonInterval(15, 148)).toEqual({ low: 6.24, high: 16.05 }); // 0.0624-0.1605
    expect(wilsonInterval(0, 20)).toEqual({ low: 0, high: 16.11 }); // 0.0000-0.1611
    expect(wilsonInterval(1, 29)).toEqual({ low: 0.61, high: 17.18 }); // 0.0061-0.1718
  });

  it("keeps a non-zero width at 0 of 25 and 25 of 25, where the bootstrap collapses", () => {
    // By hand: at 0 of n the upper bound is (z^2/n) / (1 + z^2/n) = 0.153658 / 1.153658 = 0.133192.
    expect(wilsonInterval(0, 25)).toEqual({ low: 0, high: 13.32 });
    expect(wilsonInterval(25, 25)).toEqual({ low: 86.68, high: 100 });
    expect(wilsonInterval(12, 25)).toEqual({ low: 30.03, high: 66.5 });
    // The old per-accuracy bootstrap, for contrast: nothing to resample, zero width.
    expect(bootstrapAccuracyInterval(Array(25).fill(0), 0)).toEqual({ low: 0, high: 0 });
    expect(bootstrapAccuracyInterval(Array(25).fill(1), 0)).toEqual({ low: 100, high: 100 });
  });

  it("depends on the counts alone: equal counts give equal intervals, symmetric about 50%", () => {
    // 553 of 2245 (24.63%): the two parses with one accuracy and two bootstrap intervals.
    expect(wilsonInterval(553, 2245)).toEqual({ low: 22.89, high: 26.46 });
    expect(wilsonInterval(553, 2245)).toEqual(wilsonInterval(553, 2245));
    const a = wilsonInterval(7, 40);
    const b = wilsonInterval(33, 40);
    expect(a.low).toBeCloseTo(100 - b.high, 2);
    expect(a.high).toBeCloseTo(100 - b.low, 2);
  });

  it("stays within 0-100 and contains the observed share", () => {
    for (const n of [1, 2, 3, 10, 25, 2245])
      for (let k = 0; k <= n; k += Math.max(1, Math.floor(n / 7))) {
        const { low, high } = wilsonInterval(k, n);
        expect(low).toBeGreaterThanOrEqual(0);
        expect(high).toBeLessThanOrEqual(100);
        expect(high).toBeGreaterThan(low);
        expect(low).toBeLessThanOrEqual((100 * k) / n);
        expect(high).toBeGreaterThanOrEqual((100 * k) / n);
      }
  });

  it("uses the normal 0.975 quantile, has no interval for n = 0 and refuses impossible counts", () => {
    expect(Z_95).toBeCloseTo(1.96, 3);
    const empty = wilsonInterval(0, 0);
    expect(Number.isNaN(empty.low) && Number.isNaN(empty.high)).toBe(true);
    expect(() => wilsonInterval(3, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(-1, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(0.5, 2)).toThrow(RangeError);
  });
});
