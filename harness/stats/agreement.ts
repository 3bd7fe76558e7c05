/**
 * Inter-annotator agreement for categorical and rated judgements: pure functions over count tables.
 *
 * The input everywhere is one row per item (unit) and one column per category: how many
 * annotators gave the item that label. Items may have different numbers of annotators; the
 * statistics that need a constant number (Fleiss' kappa) say so instead of guessing.
 */

/** counts[item][category]: annotators who gave the item that category. */
export type CountTable = ReadonlyArray<readonly number[]>;

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
const pairs = (m: number): number => (m * (m - 1)) / 2;

/**
 * Pairwise agreement: of all pairs of annotators that judged the same item, the share that gave
 * the same label. Pooled over pairs (each pair counts once), so with a constant number of
 * annotators per item it equals Fleiss' mean observed agreement P-bar. Items with fewer than two
 * annotators have no pairs and add nothing. NaN when there are no pairs at all.
 */
export function pairwiseAgreement(counts: CountTable): number {
  let agreeing = 0;
  let all = 0;
  for (const row of counts) {
    all += pairs(sum(row));
    for (const n of row) agreeing += pairs(n);
  }
  return all === 0 ? Number.NaN : agreeing / all;
}

export interface FleissKappa {
  kappa: number;
  /**
   * Large-sample standard error of kappa under the null hypothesis of chance agreement
   * (Fleiss, Nee & Landis 1979, the formula statistical packages print beside Fleiss' kappa).
   */
  se: number;
  /** kappa / se: the z statistic of the test against chance agreement. */
  z: number;
  /** Mean observed agreement over items (P-bar). */
  observed: number;
  /** Agreement expected by chance from the category proportions (P-bar-e). */
  expected: number;
  /** Share of all judgements in each category (p_j). */
  proportions: number[];
  items: number;
  raters: number;
}

/**
 * Fleiss' kappa (Fleiss 1971) for N items each judged by the same number n >= 2 of annotators.
 * Throws a RangeError when the items have different numbers of annotators (use Krippendorff's
 * alpha there) or fewer than two. Kappa is NaN when chance agreement is 1 (a single category used).
 */
export function fleissKappa(counts: CountTable): FleissKappa {
  const items = counts.length;
  if (items === 0) throw new RangeError("Fleiss' kappa needs at least one item");
  const raters = sum(counts[0]!);
  if (raters < 2) throw new RangeError(`Fleiss' kappa needs at least two annotators per item, item 0 has ${raters}`);
  const categories = counts[0]!.length;
  const totals = new Array<number>(categories).fill(0);
  let observedSum = 0;
  counts.forEach((row, i) => {
    const n = sum(row);
    if (n !== raters)
      throw new RangeError(`Fleiss' kappa needs the same number of annotators per item: item 0 has ${raters}, item ${i} has ${n}`);
    if (row.length !== categories) throw new RangeError(`item ${i} has ${row.length} categories, item 0 has ${categories}`);
    let agreeing = 0;
    row.forEach((c, j) => {
      totals[j]! += c;
      agreeing += c * (c - 1);
    });
    observedSum += agreeing / (raters * (raters - 1));
  });
  const proportions = totals.map((t) => t / (items * raters));
  const observed = observedSum / items;
  const expected = sum(proportions.map((p) => p * p));
  const kappa = expected === 1 ? Number.NaN : (observed - expected) / (1 - expected);
  // Fleiss, Nee & Landis (1979): Var0(kappa) = 2 / (N n (n-1)) * [(sum pq)^2 - sum pq(q-p)] / (sum pq)^2.
  const pq = proportions.map((p) => p * (1 - p));
  const sumPq = sum(pq);
  const skew = sum(proportions.map((p, j) => pq[j]! * (1 - p - p)));
  const variance = sumPq === 0 ? Number.NaN : ((2 / (items * raters * (raters - 1))) * (sumPq * sumPq - skew)) / (sumPq * sumPq);
  const se = Math.sqrt(variance);
  return { kappa, se, z: kappa / se, observed, expected, proportions, items, raters };
}

/** Krippendorff's difference functions: which disagreements count, and how much. */
export const ALPHA_METRICS = ["nominal", "ordinal", "interval"] as const;
export type AlphaMetric = (typeof ALPHA_METRICS)[number];

export interface KrippendorffAlpha {
  alpha: number;
  /** The difference function used. */
  metric: AlphaMetric;
  /** Observed and expected disagreement under that metric. */
  observedDisagreement: number;
  expectedDisagreement: number;
  /** Pairable values: judgements on items with at least two annotators. */
  pairableValues: number;
  /** Items with at least two annotators (the others cannot be paired and are left out). */
  pairableItems: number;
}

/** o[c][k]: coincidences of values c and k within items, each item weighted 1 / (m_u - 1). */
function coincidences(counts: CountTable, categories: number): { o: number[][]; pairableItems: number } {
  const o = Array.from({ length: categories }, () => new Array<number>(categories).fill(0));
  let pairableItems = 0;
  for (const row of counts) {
    const m = sum(row);
    if (m < 2) continue;
    pairableItems += 1;
    for (let c = 0; c < categories; c++) {
      for (let k = 0; k < categories; k++) o[c]![k]! += (row[c]! * (c === k ? row[k]! - 1 : row[k]!)) / (m - 1);
    }
  }
  return { o, pairableItems };
}

/**
 * The squared difference delta^2(c, k) of Krippendorff (2011): nominal 0/1; ordinal from the
 * marginals of the ranks between c and k (sum of n_g for g from c to k, less half of n_c and n_k,
 * squared), so only the order of the categories matters; interval (v_c - v_k)^2 on the values.
 */
function differenceFunction(
  metric: AlphaMetric,
  marginals: readonly number[],
  values: readonly number[],
): (c: number, k: number) => number {
  if (metric === "nominal") return (c, k) => (c === k ? 0 : 1);
  if (metric === "interval") return (c, k) => (values[c]! - values[k]!) ** 2;
  return (c, k) => {
    const [lo, hi] = c < k ? [c, k] : [k, c];
    return (sum(marginals.slice(lo, hi + 1)) - (marginals[c]! + marginals[k]!) / 2) ** 2;
  };
}

/**
 * Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability") from
 * the coincidence matrix: any number of annotators per item, missing judgements allowed; items
 * judged once are not pairable and are left out, as the method says. Categories are the count
 * table's columns in scale order (ordinal uses that order); `values` are their numbers for the
 * interval metric (default 0, 1, 2, ...: equally spaced). NaN when nothing can disagree.
 */
export function krippendorffAlpha(counts: CountTable, metric: AlphaMetric = "nominal", values?: readonly number[]): KrippendorffAlpha {
  const categories = counts[0]?.length ?? 0;
  const scale = values ?? Array.from({ length: categories }, (_, i) => i);
  if (scale.length !== categories || scale.some((v) => !Number.isFinite(v)))
    throw new RangeError(`interval values: expected ${categories} finite numbers, got ${scale.join(", ")}`);
  const { o, pairableItems } = coincidences(counts, categories);
  const marginals = o.map((row) => sum(row));
  const n = sum(marginals);
  const delta = differenceFunction(metric, marginals, scale);
  let disagreeing = 0;
  let chance = 0;
  for (let c = 0; c < categories; c++) {
    for (let k = 0; k < categories; k++) {
      if (c === k) continue;
      const d = delta(c, k);
      disagreeing += o[c]![k]! * d;
      chance += marginals[c]! * marginals[k]! * d;
    }
  }
  const observedDisagreement = n === 0 ? Number.NaN : disagreeing / n;
  const expectedDisagreement = n < 2 ? Number.NaN : chance / (n * (n - 1));
  const alpha =
    expectedDisagreement === 0 || Number.isNaN(expectedDisagreement) ? Number.NaN : 1 - observedDisagreement / expectedDisagreement;
  return { alpha, metric, observedDisagreement, expectedDisagreement, pairableValues: n, pairableItems };
}

/** Krippendorff's alpha with the nominal metric (see krippendorffAlpha). */
export function krippendorffAlphaNominal(counts: CountTable): KrippendorffAlpha {
  return krippendorffAlpha(counts, "nominal");
}

/**
 * The majority label of one item: the index of the category with strictly more votes than any
 * other, or null on a tie (with three annotators and two labels there is never one).
 */
export function majorityLabel(row: readonly number[]): number | null {
  let best = -1;
  let bestCount = -1;
  let tied = false;
  row.forEach((count, j) => {
    if (count > bestCount) {
      best = j;
      bestCount = count;
      tied = false;
    } else if (count === bestCount) tied = true;
  });
  return best < 0 || tied || bestCount === 0 ? null : best;
}

/** Count table from raw labels per item (category indices); categories is the scale size. */
export function countTable(labelsPerItem: ReadonlyArray<readonly number[]>, categories: number): number[][] {
  return labelsPerItem.map((labels) => {
    const row = new Array<number>(categories).fill(0);
    for (const label of labels) {
      if (!Number.isInteger(label) || label < 0 || label >= categories)
        throw new RangeError(`label index ${label} outside 0..${categories - 1}`);
      row[label]! += 1;
    }
    return row;
  });
}
