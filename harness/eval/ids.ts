import { EXIT, usageError } from "../util/errors.ts";
import { readTextFile } from "../util/text.ts";

/**
 * `--ids a,b,c` or `--ids @file` (one id per line): the question ids to evaluate, in order. An id
 * given twice is refused, naming both places: the count of ids goes into the report's coverage,
 * and a repeat is usually a paste error hiding a missing id.
 */
export async function readIdList(spec: string): Promise<string[]> {
  const fromFile = spec.startsWith("@");
  const text = fromFile ? await readTextFile(spec.slice(1), `--ids ${spec}`, EXIT.usage) : spec.replace(/,/g, "\n");
  const ids: string[] = [];
  const firstAt = new Map<string, number>();
  const place = (index: number) => (fromFile ? `${spec.slice(1)}:${index + 1}` : `entry ${index + 1}`);
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const id = raw.trim();
    if (id === "") continue;
    const first = firstAt.get(id);
    if (first !== undefined)
      throw usageError(`--ids ${spec}: duplicate id "${id.slice(0, 80)}" at ${place(first)} and ${place(index)}; give each id once`);
    firstAt.set(id, index);
    ids.push(id);
  }
  if (ids.length === 0) throw usageError(`--ids ${spec}: no ids`);
  return ids;
}
