/**
 * Exact McNemar test for paired 0/1 outcomes: under "no change", each discordant pair is equally
 * likely to go either way, so the smaller discordant count is Binomial(b + c, 1/2).
 */
export interface McNemarResult {
  /** Pairs correct in base only (base 1, head 0). */
  baseOnly: number;
  /** Pairs correct in head only (base 0, head 1). */
  headOnly: number;
  /** Two-sided exact p-value; 1 when there are no discordant pairs. */
  pValue: number;
}

/** log(k!) by summation: exact enough, and counts here are at most a few thousand. */
function logFactorials(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) table[k] = table[k - 1]! + Math.log(k);
  return table;
}

/** Two-sided exact binomial p-value for k successes in n trials at p = 1/2: min(1, 2 P(X <= min(k, n-k))). */
export function exactBinomialTwoSided(k: number, n: number): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n)
    throw new RangeError(`invalid binomial counts k=${k}, n=${n}`);
  if (n === 0) return 1;
  const tail = Math.min(k, n - k);
  const logFact = logFactorials(n);
  const logHalfPowN = -n * Math.LN2;
  // Sum the tail in log space: 2^-n underflows for n above ~1074.
  const logTerms: number[] = [];
  for (let i = 0; i <= tail; i++) logTerms.push(logFact[n]! - logFact[i]! - logFact[n - i]! + logHalfPowN);
  const max = Math.max(...logTerms);
  const sum = logTerms.reduce((acc, t) => acc + Math.exp(t - max), 0);
  return Math.min(1, 2 * Math.exp(max + Math.log(sum)));
}

/** McNemar's exact test over pairs of (base, head) outcomes. */
export function mcnemarExact(pairs: ReadonlyArray<readonly [0 | 1, 0 | 1]>): McNemarResult {
  let baseOnly = 0;
  let headOnly = 0;
  for (const [base, head] of pairs) {
    if (base === 1 && head === 0) baseOnly++;
    else if (base === 0 && head === 1) headOnly++;
  }
  return { baseOnly, headOnly, pValue: exactBinomialTwoSided(baseOnly, baseOnly + headOnly) };
}
