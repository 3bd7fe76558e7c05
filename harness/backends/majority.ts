import { BackendError, type BackendIdentity, type ChatRequest, type ChatResponse, type ModelBackend } from "./types.ts";

/** The most frequent gold letter; ties go to the alphabetically first letter so the choice is stable. */
export function majorityLetter(golds: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const gold of golds) counts.set(gold, (counts.get(gold) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (ranked.length === 0) throw new BackendError("bad-request", "majority baseline: no scored questions");
  return ranked[0]![0];
}

/**
 * `baseline:majority`: always the most frequent gold letter of the scored set of each task
 * (the caller computes it per task from the data, as the papers' tables do, and builds one
 * backend per task).
 */
export class MajorityBaseline implements ModelBackend {
  readonly cacheable = false;
  constructor(readonly letter: string) {}

  id(): string {
    return "baseline:majority";
  }

  identity(): BackendIdentity {
    return { kind: "baseline", model: `majority(${this.letter})` };
  }

  async callApi(_request: ChatRequest): Promise<ChatResponse> {
    return { text: this.letter };
  }
}
