import { expect, it } from "vitest";
import {
  countTable,
  fleissKappa,
  krippendorffAlpha,
  krippendorffAlphaNominal,
  majorityLabel,
  pairwiseAgreement,
} from "../../../harness/stats/agreement.ts";

/** Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 items, 14 raters, 5 categories. */
const FLEISS_WIKIPEDIA = [
  [0, 0, 0, 0, 14],
  [0, 2, 6, 4, 2],
  [0, 0, 3, 5, 6],
  [0, 3, 9, 2, 0],
  [2, 2, 8, 1, 1],
  [7, 7, 0, 0, 0],
  [3, 2, 6, 3, 0],
  [2, 5, 3, 2, 2],
  [6, 5, 2, 1, 0],
  [0, 2, 2, 3, 7],
];

it("Fleiss' kappa of the textbook example is 0.210 (P-bar 0.378, P-bar-e 0.213)", () => {
  const result = fleissKappa(FLEISS_WIKIPEDIA);
  expect(result.kappa.toFixed(3)).toBe("0.210");
  expect(result.observed.toFixed(3)).toBe("0.378");
  expect(result.expected.toFixed(3)).toBe("0.213");
  expect(result.proportions.map((p) => p.toFixed(3))).toEqual(["0.143", "0.200", "0.279", "0.150", "0.229"]);
  // Fleiss, Nee & Landis (1979) null SE (as R irr::kappam.fleiss computes it), from the p_j above.
  const p = result.proportions;
  const pq = p.map((x) => x * (1 - x));
  const sumPq = pq.reduce((a, b) => a + b, 0);
  const skew = p.reduce((a, x, j) => a + pq[j]! * (1 - 2 * x), 0);
  const expectedSe = Math.sqrt((2 * (sumPq ** 2 - skew)) / (10 * 14 * 13 * sumPq ** 2));
  expect(result.se).toBeCloseTo(expectedSe, 12);
  expect(result.se.toFixed(4)).toBe("0.0170");
  expect(result.z).toBeCloseTo(result.kappa / result.se, 12);
});

it("pairwise agreement equals Fleiss' P-bar when every item has the same number of annotators", () => {
  expect(pairwiseAgreement(FLEISS_WIKIPEDIA)).toBeCloseTo(fleissKappa(FLEISS_WIKIPEDIA).observed, 12);
  expect(
    pairwiseAgreement([
      [3, 0],
      [2, 1],
    ]),
  ).toBeCloseTo(4 / 6, 12);
});

it("Fleiss' kappa refuses items with different numbers of annotators", () => {
  expect(() =>
    fleissKappa([
      [2, 1],
      [1, 1],
    ]),
  ).toThrow(/same number of annotators/);
});

/**
 * Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the reliability data with
 * missing values: 4 observers, 12 units, values 1..5. The paper's alphas: nominal 0.743, ordinal
 * 0.815, interval 0.849; the literals below are the same figures to more digits, as Python's
 * `krippendorff` package (0.8.x, level_of_measurement, value_domain 1..5) and an independent
 * coincidence-matrix computation both give them.
 */
const M = null;
const KRIPPENDORFF_2011: Array<Array<number | null>> = [
  [1, 2, 3, 3, 2, 1, 4, 1, 2, M, M, M],
  [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, M, 3],
  [M, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, M],
  [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, M],
];
const KRIPPENDORFF_COUNTS = countTable(
  KRIPPENDORFF_2011[0]!.map((_, unit) =>
    KRIPPENDORFF_2011.map((o) => o[unit])
      .filter((v): v is number => v !== null)
      .map((v) => v - 1),
  ),
  5,
);

it("Krippendorff's nominal alpha of Krippendorff's own example with missing values is 0.743", () => {
  const result = krippendorffAlphaNominal(KRIPPENDORFF_COUNTS);
  expect(result.alpha.toFixed(3)).toBe("0.743");
  expect(result.alpha).toBeCloseTo(0.743421052631579, 12);
  expect(result.metric).toBe("nominal");
  expect(result.pairableItems).toBe(11);
  expect(result.pairableValues).toBe(40);
});

it("Krippendorff's ordinal alpha of the same example is 0.815 and its interval alpha 0.849", () => {
  const ordinal = krippendorffAlpha(KRIPPENDORFF_COUNTS, "ordinal");
  expect(ordinal.alpha.toFixed(3)).toBe("0.815");
  expect(ordinal.alpha).toBeCloseTo(0.8153875037548814, 12);
  expect(ordinal.metric).toBe("ordinal");
  const interval = krippendorffAlpha(KRIPPENDORFF_COUNTS, "interval", [1, 2, 3, 4, 5]);
  expect(interval.alpha.toFixed(3)).toBe("0.849");
  expect(interval.alpha).toBeCloseTo(0.8491071428571428, 12);
  // Equally spaced values by default: only differences matter, so 0..4 gives the same alpha.
  expect(krippendorffAlpha(KRIPPENDORFF_COUNTS, "interval").alpha).toBeCloseTo(interval.alpha, 12);
});

it("ordinal alpha depends only on the order of the values, interval alpha on their distances", () => {
  // The same data with values 1, 2, 4, 8, 16 (Python's krippendorff package: ordinal 0.81539, interval 0.93447).
  const stretched = [1, 2, 4, 8, 16];
  expect(krippendorffAlpha(KRIPPENDORFF_COUNTS, "interval", stretched).alpha).toBeCloseTo(0.9344732658679384, 12);
  expect(krippendorffAlpha(KRIPPENDORFF_COUNTS, "ordinal").alpha).toBeCloseTo(0.8153875037548814, 12);
  expect(() => krippendorffAlpha(KRIPPENDORFF_COUNTS, "interval", [1, 2, 3])).toThrow(/expected 5 finite numbers/);
});

it("a near miss costs less than a far one under ordinal and interval alpha, the same under nominal", () => {
  // Same values overall (so the same chance disagreement); pairs one step apart, or two and four.
  const near = [
    [1, 1, 0, 0, 0],
    [0, 0, 0, 1, 1],
    [2, 0, 0, 0, 0],
    [0, 0, 0, 0, 2],
  ];
  const far = [
    [1, 0, 0, 0, 1],
    [0, 1, 0, 1, 0],
    [2, 0, 0, 0, 0],
    [0, 0, 0, 0, 2],
  ];
  for (const metric of ["ordinal", "interval"] as const)
    expect(krippendorffAlpha(near, metric).alpha, metric).toBeGreaterThan(krippendorffAlpha(far, metric).alpha);
  expect(krippendorffAlpha(near, "nominal").alpha).toBeCloseTo(krippendorffAlpha(far, "nominal").alpha, 12);
});

it("perfect agreement gives kappa and alpha 1; a single category used gives NaN, not a number", () => {
  const perfect = [
    [3, 0],
    [0, 3],
    [3, 0],
  ];
  expect(fleissKappa(perfect).kappa).toBe(1);
  expect(krippendorffAlphaNominal(perfect).alpha).toBe(1);
  expect(
    fleissKappa([
      [3, 0],
      [3, 0],
    ]).kappa,
  ).toBeNaN();
});

it("majority label: strict majority or null on a tie", () => {
  expect(majorityLabel([2, 1])).toBe(0);
  expect(majorityLabel([1, 2])).toBe(1);
  expect(majorityLabel([2, 2])).toBeNull();
  expect(majorityLabel([1, 1, 1])).toBeNull();
});
