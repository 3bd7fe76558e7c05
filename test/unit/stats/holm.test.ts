import { describe, expect, it } from "vitest";
import { holmAdjust } from "../../../harness/stats/holm.ts";

describe("Holm-Bonferroni adjusted p-values", () => {
  it('matches R\'s p.adjust(method = "holm") on hand-computed examples', () => {
    // p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm"): sorted 0.005*4 = 0.02, 0.01*3 = 0.03,
    // 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06; in input order 0.03 0.06 0.06 0.02.
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    for (const [i, p] of [0.03, 0.06, 0.06, 0.02].entries()) expect(adjusted[i]).toBeCloseTo(p, 12);
    // p.adjust(c(0.2, 0.001, 0.5), "holm"): 0.001*3 = 0.003, 0.2*2 = 0.4, 0.5*1 = 0.5.
    const second = holmAdjust([0.2, 0.001, 0.5]);
    for (const [i, p] of [0.4, 0.003, 0.5].entries()) expect(second[i]).toBeCloseTo(p, 12);
  });

  it("caps at 1, keeps ties tied and leaves a single test alone", () => {
    // 0.3*3 = 0.9, 0.6*2 = 1.2 -> 1, 1*1 = 1.
    const capped = holmAdjust([0.3, 0.6, 1]);
    expect(capped[0]).toBeCloseTo(0.9, 12);
    expect(capped.slice(1)).toEqual([1, 1]);
    const tied = holmAdjust([0.02, 0.02, 0.02]);
    expect(tied).toEqual([0.06, 0.06, 0.06]);
    expect(holmAdjust([0.037])).toEqual([0.037]);
    expect(holmAdjust([])).toEqual([]);
  });

  it("never lowers a p-value and never exceeds Bonferroni", () => {
    const ps = [0.001, 0.0101, 0.049, 0.2, 0.0004, 0.9, 0.03];
    const adjusted = holmAdjust(ps);
    ps.forEach((p, i) => {
      expect(adjusted[i]).toBeGreaterThanOrEqual(p);
      expect(adjusted[i]).toBeLessThanOrEqual(Math.min(1, p * ps.length) + 1e-15);
    });
  });

  it("refuses what is not a p-value", () => {
    expect(() => holmAdjust([0.1, Number.NaN])).toThrow(RangeError);
    expect(() => holmAdjust([1.5])).toThrow(RangeError);
  });
});
