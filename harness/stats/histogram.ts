export interface HistogramBin {
  low: number;
  high: number;
  count: number;
}

/** Equal-width bins over [low, high]; a value equal to high falls in the last bin, values outside are clamped. */
export function histogram(values: readonly number[], low: number, high: number, bins: number): HistogramBin[] {
  const width = (high - low) / bins;
  const out: HistogramBin[] = Array.from({ length: bins }, (_, i) => ({ low: low + i * width, high: low + (i + 1) * width, count: 0 }));
  for (const value of values) {
    // The epsilon keeps a value on a bin edge (0.85 with width 0.05) in the bin it starts.
    const index = Math.min(bins - 1, Math.max(0, Math.floor((value - low) / width + 1e-9)));
    out[index]!.count += 1;
  }
  return out;
}
