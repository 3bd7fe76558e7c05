/**
 * Holm-Bonferroni adjusted p-values (Holm 1979), as R's p.adjust(p, method = "holm"): sorted
 * ascending, the i-th smallest of m is multiplied by m - i + 1, made non-decreasing by a running
 * maximum and capped at 1; returned in the input order. Rejecting where the adjusted p is below
 * alpha controls the family-wise error rate at alpha under any dependence between the tests
 * (the Avg split of a task contains its Easy/Medium/Hard questions).
 */
export function holmAdjust(pValues: readonly number[]): number[] {
  for (const p of pValues) if (!(p >= 0 && p <= 1)) throw new RangeError(`not a p-value: ${p}`);
  const m = pValues.length;
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p || a.i - b.i);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}
