import { describe, expect, it } from "vitest";
import type { SampleRecord } from "../../../harness/eval/ask-questions.ts";
import { summarizeSplit } from "../../../harness/eval/summarize.ts";

/** An answered record whose official and strict parses are right or wrong as given. */
function record(i: number, official: 0 | 1, strict: 0 | 1 = official): SampleRecord {
  return {
    task: "understanding",
    id: `FS_${i}`,
    gold: "A",
    letters: ["A", "B", "C", "D"],
    messages: [],
    responses: ["A"],
    parses: { official: { answer: official ? "A" : "B", correct: official }, strict: { answer: strict ? "A" : "B", correct: strict } },
    latencyMs: 1,
    cached: false,
  };
}

describe("eval's accuracy intervals", () => {
  it("are Wilson score intervals of non-zero width at 0 of 25 and 25 of 25", () => {
    const none = summarizeSplit(Array.from({ length: 25 }, (_, i) => record(i, 0)));
    expect(none.parses.official).toEqual({ n: 25, correct: 0, accuracy: 0, ci95: { low: 0, high: 13.32 }, ciMethod: "wilson" });
    const all = summarizeSplit(Array.from({ length: 25 }, (_, i) => record(i, 1)));
    expect(all.parses.official).toEqual({ n: 25, correct: 25, accuracy: 100, ci95: { low: 86.68, high: 100 }, ciMethod: "wilson" });
  });

  it("give two parses with equal counts equal intervals, whichever questions they got right", () => {
    // official right on the first 12, strict on the last 12: same count, different questions.
    const records = Array.from({ length: 25 }, (_, i) => record(i, i < 12 ? 1 : 0, i >= 13 ? 1 : 0));
    const split = summarizeSplit(records);
    expect(split.parses.official!.correct).toBe(12);
    expect(split.parses.strict!.correct).toBe(12);
    expect(split.parses.official!.ci95).toEqual({ low: 30.03, high: 66.5 });
    expect(split.parses.strict!.ci95).toEqual(split.parses.official!.ci95);
  });
});
