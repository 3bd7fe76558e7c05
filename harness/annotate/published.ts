import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HarnessError } from "../util/errors.ts";
import { PROJECT_ROOT } from "../util/version.ts";

/**
 * The paper's Table 1 from the project's copy, harness/published/mind_table1.tsv (the same
 * file as the reference card's published/mind_table1.tsv): kept intentions and the four human
 * annotation rates per relation, and the Total row, numbers as printed.
 */
export interface PublishedTable1Row {
  /** As printed: "Effect", "isA", ..., "Total". */
  relation: string;
  keptIntentions: number;
  plausibility: number;
  typicality: number;
  filter_correct: number;
  filter_rationale_ok: number;
}

export const PUBLISHED_TABLE1_FILE = join(PROJECT_ROOT, "harness", "published", "mind_table1.tsv");
const COLUMNS = ["relation", "kept_intentions", "plausibility", "typicality", "filter_correct", "filter_rationale_ok"] as const;

/** Paper, section 4.2: over all aspects, pairwise agreement 73.1% and Fleiss' kappa 0.56. */
export const PUBLISHED_AGREEMENT = { pairwiseAgreement: 0.731, fleissKappa: 0.56 } as const;

export function loadPublishedTable1(file: string = PUBLISHED_TABLE1_FILE): PublishedTable1Row[] {
  const lines = readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "");
  const header = lines[0]?.split("\t") ?? [];
  if (COLUMNS.some((c, i) => header[i] !== c)) throw new HarnessError(`${file}:1: expected the columns ${COLUMNS.join(", ")}`, { exitCode: 70 });
  return lines.slice(1).map((line, i) => {
    const cells = line.split("\t");
    const numbers = cells.slice(1).map(Number);
    if (cells.length !== COLUMNS.length || numbers.some((n) => !Number.isFinite(n))) throw new HarnessError(`${file}:${i + 2}: expected a relation and five numbers`, { exitCode: 70 });
    const [keptIntentions, plausibility, typicality, filterCorrect, rationaleOk] = numbers as [number, number, number, number, number];
    return { relation: cells[0]!, keptIntentions, plausibility, typicality, filter_correct: filterCorrect, filter_rationale_ok: rationaleOk };
  });
}
