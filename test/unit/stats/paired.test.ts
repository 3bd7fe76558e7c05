import { describe, expect, it } from "vitest";
import { exactBinomialTwoSided, mcnemarExact } from "../../../harness/stats/mcnemar.ts";
import { pairedBootstrapDeltaInterval } from "../../../harness/stats/paired-bootstrap.ts";

const pairs = (spec: Array<[0 | 1, 0 | 1, number]>): Array<readonly [0 | 1, 0 | 1]> =>
  spec.flatMap(([a, b, count]) => Array.from({ length: count }, () => [a, b] as const));

describe("exact McNemar", () => {
  // Reference values: scipy.stats.binomtest(k, n, 0.5).pvalue
  it.each([
    [0, 5, 0.0625],
    [1, 10, 0.021484375],
    [3, 20, 0.0025768280029296875],
    [50, 130, 0.010694055123829345],
    [10, 10, 0.001953125],
    [500, 1100, 0.0028195449914364284],
  ])("binomial two-sided p for %i of %i", (k, n, expected) => {
    expect(exactBinomialTwoSided(k, n)).toBeCloseTo(expected, 12);
  });

  it("is 1 with no discordant pairs, and capped at 1 for balanced ones", () => {
    expect(
      mcnemarExact(
        pairs([
          [1, 1, 40],
          [0, 0, 60],
        ]),
      ).pValue,
    ).toBe(1);
    expect(mcnemarExact([]).pValue).toBe(1);
    expect(exactBinomialTwoSided(5, 10)).toBe(1);
  });

  it("counts discordant pairs by direction and ignores concordant ones", () => {
    const result = mcnemarExact(
      pairs([
        [1, 0, 7],
        [0, 1, 2],
        [1, 1, 100],
        [0, 0, 100],
      ]),
    );
    expect(result).toMatchObject({ baseOnly: 7, headOnly: 2 });
    expect(result.pValue).toBeCloseTo(exactBinomialTwoSided(2, 9), 15);
  });

  it("does not underflow with thousands of discordant pairs", () => {
    const p = exactBinomialTwoSided(900, 2000);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1e-5);
  });
});

describe("paired bootstrap interval of the change", () => {
  const mixed = pairs([
    [1, 0, 30],
    [0, 1, 10],
    [1, 1, 80],
    [0, 0, 80],
  ]);

  it("is reproducible from its seed", () => {
    expect(pairedBootstrapDeltaInterval(mixed, 42, 500)).toEqual(pairedBootstrapDeltaInterval(mixed, 42, 500));
  });

  it("brackets the observed change (-10 points here) and excludes zero for a clear drop", () => {
    const interval = pairedBootstrapDeltaInterval(mixed, 1, 2000);
    expect(interval.low).toBeLessThan(-10);
    expect(interval.high).toBeGreaterThan(-10);
    expect(interval.high).toBeLessThan(0);
  });

  it("is exactly 0 to 0 when nothing changed, and -100 when every answer flipped to wrong", () => {
    expect(
      pairedBootstrapDeltaInterval(
        pairs([
          [1, 1, 5],
          [0, 0, 5],
        ]),
        3,
      ),
    ).toEqual({ low: 0, high: 0 });
    expect(pairedBootstrapDeltaInterval(pairs([[1, 0, 8]]), 3)).toEqual({ low: -100, high: -100 });
  });

  it("has no interval without pairs", () => {
    const empty = pairedBootstrapDeltaInterval([], 0);
    expect(Number.isNaN(empty.low) && Number.isNaN(empty.high)).toBe(true);
  });
});
