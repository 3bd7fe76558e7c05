import { join } from "node:path";
import { isScored, loadQuestions, type Question } from "../benchmark/intentionqa.ts";
import { INTENTIONQA_FILES, TASKS } from "../benchmark/tasks.ts";

/**
 * Benchmark pairs in training data: a KB row is contaminated when its product pair is the
 * product pair of an IntentionQA question, matched by item ids or by normalised names, in either
 * order (the benchmark's pairs come from the same co-buy data as the KB). Dropping them is
 * optional (the paper did not); counting the scored questions whose pair was trained on is not.
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

/** The two tasks the paper's tables score; "n of 2245" / "n of 2143" counts are kept for these. */
export const OVERLAP_TASKS = ["understanding", "utilization"] as const;
export type OverlapTask = (typeof OVERLAP_TASKS)[number];

function isOverlapTask(task: string): task is OverlapTask {
  return (OVERLAP_TASKS as readonly string[]).includes(task);
}

/** A benchmark question as the index needs it; task and id only for questions that count in the overlap. */
export type IndexedQuestion = Pick<Question, "itemAId" | "itemBId" | "itemAName" | "itemBName"> & {
  scoredIn?: { task: OverlapTask; id: string };
};

/** Scored questions whose product pair a training set holds, per task, out of the task's scored total. */
export interface BenchmarkOverlap {
  understanding: { questions: number; scored: number };
  utilization: { questions: number; scored: number };
}

export class ContaminationIndex {
  private readonly idPairs = new Map<string, number[]>();
  private readonly namePairs = new Map<string, number[]>();
  /** Scored understanding / utilization questions, by index. */
  private readonly scored: Array<{ task: OverlapTask; id: string } | null> = [];
  readonly scoredTotals: Record<OverlapTask, number> = { understanding: 0, utilization: 0 };

  constructor(questions: Iterable<IndexedQuestion>) {
    const add = (map: Map<string, number[]>, key: string, index: number) => {
      const list = map.get(key);
      if (list) list.push(index);
      else map.set(key, [index]);
    };
    for (const q of questions) {
      const index = this.scored.length;
      this.scored.push(q.scoredIn ?? null);
      if (q.scoredIn) this.scoredTotals[q.scoredIn.task] += 1;
      if (q.itemAId.trim() && q.itemBId.trim()) add(this.idPairs, pairKey(q.itemAId.trim(), q.itemBId.trim()), index);
      const a = normaliseProductName(q.itemAName);
      const b = normaliseProductName(q.itemBName);
      if (a && b) add(this.namePairs, pairKey(a, b), index);
    }
  }

  /** Distinct benchmark pairs known (by ids, by names). */
  get size(): { idPairs: number; namePairs: number } {
    return { idPairs: this.idPairs.size, namePairs: this.namePairs.size };
  }

  // A KB lists each co-buy pair once per relation, in consecutive rows: remember the last answer.
  private last: { idA: string; idB: string; nameA: string; nameB: string; matches: readonly number[] } | null = null;

  private matches(idA: string, idB: string, nameA: string, nameB: string): readonly number[] {
    const last = this.last;
    if (last !== null && last.idA === idA && last.idB === idB && last.nameA === nameA && last.nameB === nameB) return last.matches;
    const byId = this.idPairs.get(pairKey(idA.trim(), idB.trim())) ?? [];
    const byName = this.namePairs.get(pairKey(normaliseProductName(nameA), normaliseProductName(nameB))) ?? [];
    const matches = byName.length === 0 ? byId : byId.length === 0 ? byName : [...new Set([...byId, ...byName])];
    this.last = { idA, idB, nameA, nameB, matches };
    return matches;
  }

  /** Whether the pair is the product pair of any question in any of the benchmark files. */
  isContaminated(idA: string, idB: string, nameA: string, nameB: string): boolean {
    return this.matches(idA, idB, nameA, nameB).length > 0;
  }

  /** The scored understanding / utilization questions whose product pair this is. */
  scoredQuestions(idA: string, idB: string, nameA: string, nameB: string): Array<{ task: OverlapTask; id: string }> {
    const out: Array<{ task: OverlapTask; id: string }> = [];
    for (const index of this.matches(idA, idB, nameA, nameB)) {
      const ref = this.scored[index];
      if (ref) out.push(ref);
    }
    return out;
  }
}

/** Counts the distinct scored questions whose pair a training set holds, as it is written. */
export class OverlapCounter {
  private readonly seen: Record<OverlapTask, Set<string>> = { understanding: new Set(), utilization: new Set() };
  constructor(private readonly index: ContaminationIndex) {}

  add(refs: ReadonlyArray<{ task: OverlapTask; id: string }>): void {
    for (const ref of refs) this.seen[ref.task].add(ref.id);
  }

  result(): BenchmarkOverlap {
    return {
      understanding: { questions: this.seen.understanding.size, scored: this.index.scoredTotals.understanding },
      utilization: { questions: this.seen.utilization.size, scored: this.index.scoredTotals.utilization },
    };
  }
}

/** "812 of 2245 understanding, 790 of 2143 utilization". */
export function describeOverlap(overlap: BenchmarkOverlap): string {
  return `${overlap.understanding.questions} of ${overlap.understanding.scored} understanding, ${overlap.utilization.questions} of ${overlap.utilization.scored} utilization`;
}

/**
 * Loads all three IntentionQA files from a data folder: every pair counts for decontamination,
 * the scored questions of the two tasks for the overlap counts.
 */
export async function loadContaminationIndex(dataDir: string): Promise<ContaminationIndex> {
  const questions: IndexedQuestion[] = [];
  for (const task of TASKS) {
    for (const q of await loadQuestions(join(dataDir, INTENTIONQA_FILES[task].fileName), task)) {
      questions.push(isOverlapTask(task) && isScored(q) ? { ...q, scoredIn: { task, id: q.id } } : q);
    }
  }
  return new ContaminationIndex(questions);
}
