import { HarnessError } from "./errors.ts";

/**
 * A CSV header that names a column twice is refused: readers that key rows by name keep the last
 * cell and readers that look columns up keep the first, so either way one column is silently lost.
 */
export function assertUniqueColumns(header: readonly string[], where: string): void {
  const first = new Map<string, number>();
  for (const [index, name] of header.entries()) {
    const earlier = first.get(name);
    if (earlier !== undefined)
      throw new HarnessError(
        `${where}: the header names the column "${name.slice(0, 80)}" twice (columns ${earlier + 1} and ${index + 1}); rename or drop one`,
      );
    first.set(name, index);
  }
}

/**
 * The 1-based line a CSV record starts on, from the line csv-parse says it ends on (`info.lines`)
 * and its fields: a quoted field may hold line breaks.
 */
export function csvRecordStartLine(endLine: number, fields: readonly string[]): number {
  let breaks = 0;
  for (const field of fields) for (let at = field.indexOf("\n"); at !== -1; at = field.indexOf("\n", at + 1)) breaks += 1;
  return endLine - breaks;
}
