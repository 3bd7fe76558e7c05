import { join } from "node:path";
import { loadQuestions, TASKS, type Question } from "../dataset/intentionqa.ts";
import { INTENTIONQA_FILES } from "../dataset/sources.ts";

/**
 * Keeps benchmark questions out of the training data: a KB row is contaminated when its product
 * pair is the product pair of an IntentionQA question, matched by item ids or by normalised
 * names, in either order (the benchmark's pairs come from the same co-buy data as the KB).
 */

/**
 * Lower-case, HTML entities (the benchmark has `6.5&quot;`) and every run of whitespace or
 * punctuation -> one space, trimmed.
 */
export function normaliseProductName(name: string): string {
  return name
    .toLowerCase()
    .replace(/&(?:[a-z]+|#\d+|#x[0-9a-f]+);/g, " ")
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

export class ContaminationIndex {
  private readonly idPairs = new Set<string>();
  private readonly namePairs = new Set<string>();

  constructor(questions: Iterable<Pick<Question, "itemAId" | "itemBId" | "itemAName" | "itemBName">>) {
    for (const q of questions) {
      if (q.itemAId.trim() && q.itemBId.trim()) this.idPairs.add(pairKey(q.itemAId.trim(), q.itemBId.trim()));
      const a = normaliseProductName(q.itemAName);
      const b = normaliseProductName(q.itemBName);
      if (a && b) this.namePairs.add(pairKey(a, b));
    }
  }

  /** Distinct benchmark pairs known (by ids, by names). */
  get size(): { idPairs: number; namePairs: number } {
    return { idPairs: this.idPairs.size, namePairs: this.namePairs.size };
  }

  // A KB lists each co-buy pair once per relation, in consecutive rows: remember the last answer.
  private last: { idA: string; idB: string; nameA: string; nameB: string; contaminated: boolean } | null = null;

  isContaminated(idA: string, idB: string, nameA: string, nameB: string): boolean {
    const last = this.last;
    if (last !== null && last.idA === idA && last.idB === idB && last.nameA === nameA && last.nameB === nameB) return last.contaminated;
    const contaminated =
      this.idPairs.has(pairKey(idA.trim(), idB.trim())) || this.namePairs.has(pairKey(normaliseProductName(nameA), normaliseProductName(nameB)));
    this.last = { idA, idB, nameA, nameB, contaminated };
    return contaminated;
  }
}

/** Loads all three IntentionQA files from a data folder. */
export async function loadContaminationIndex(dataDir: string): Promise<ContaminationIndex> {
  const questions: Question[] = [];
  for (const task of TASKS) questions.push(...(await loadQuestions(join(dataDir, INTENTIONQA_FILES[task].fileName), task)));
  return new ContaminationIndex(questions);
}
