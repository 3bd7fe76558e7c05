import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadQuestions, type Question } from "../../../harness/benchmark/intentionqa.ts";
import type { TaskName } from "../../../harness/benchmark/tasks.ts";
import { permuteAll, permuteQuestionOptions } from "../../../harness/eval/permute.ts";
import { buildPrompt, MODES } from "../../../harness/prompts/intentionqa.ts";
import { intentionqaDir } from "../../helpers/paths.ts";

/** eval --permute-options: the options reordered under a seed, the gold letter moved with its text. */

const LETTERS = "ABCDEFGH".split("");

/** A question with 2 to 8 options (texts may repeat, as nothing in the data forbids it), gold any of them. */
const questionArb = fc
  .record({
    id: fc.string({ minLength: 1, maxLength: 12 }),
    task: fc.constantFrom<TaskName>("understanding", "utilization"),
    texts: fc.array(fc.string({ maxLength: 30 }), { minLength: 2, maxLength: 8 }),
    goldPick: fc.nat(),
    itemAName: fc.string({ maxLength: 20 }),
    itemBName: fc.string({ maxLength: 20 }),
  })
  .map(
    ({ id, task, texts, goldPick, itemAName, itemBName }): Question => ({
      id,
      task,
      itemAId: "a",
      itemBId: "b",
      itemAName,
      itemBName,
      relation: "usedFor",
      assertion: "they are used because it works",
      typicality: 1,
      gold: LETTERS[goldPick % texts.length]!,
      options: texts.map((text, i) => [LETTERS[i]!, text] as const),
      line: 1,
    }),
  );

const seedArb = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const textOf = (question: Question, letter: string) => question.options.find(([l]) => l === letter)![1];
const sorted = (values: readonly string[]) => [...values].sort();

describe("permuteQuestionOptions", () => {
  it("for every question and seed: the same option texts under the same letters, and the gold letter on the gold text", () => {
    fc.assert(
      fc.property(questionArb, seedArb, fc.constantFrom(...MODES), (question, seed, mode) => {
        const { question: shown, permutation } = permuteQuestionOptions(question, seed);
        // The letters, and so the instruction line, stay as they were; only the texts move.
        expect(shown.options.map(([letter]) => letter)).toEqual(question.options.map(([letter]) => letter));
        expect(sorted(shown.options.map(([, text]) => text))).toEqual(sorted(question.options.map(([, text]) => text)));
        expect(textOf(shown, shown.gold)).toBe(textOf(question, question.gold));
        // The permutation is a reordering of the official letters and maps every shown option back.
        expect(sorted(permutation)).toEqual(sorted(question.options.map(([letter]) => letter)));
        expect(shown.options.map(([, text]) => text)).toEqual(permutation.map((letter) => textOf(question, letter)));
        expect(permutation[shown.options.findIndex(([letter]) => letter === shown.gold)]).toBe(question.gold);
        // The prompt shows every option text, each under its new letter, and nothing else changes.
        const prompt = buildPrompt(shown, mode);
        for (const [letter, text] of shown.options) expect(prompt).toContain(`\n${letter}. ${text}\n`);
        const official = buildPrompt(question, mode);
        const withoutOptions = (p: string, q: Question) => p.replace(q.options.map(([l, t]) => `${l}. ${t}\n`).join(""), "");
        expect(withoutOptions(prompt, shown)).toBe(withoutOptions(official, question));
      }),
      { numRuns: 500 },
    );
  });

  it("depends only on the seed, the task and the id: the same alone or among others, and the question is not changed", () => {
    fc.assert(
      // Ids unique, as in one task's file (loadQuestions refuses a repeated id; permuteAll is per task).
      fc.property(fc.uniqueArray(questionArb, { minLength: 1, maxLength: 6, selector: (q) => q.id }), seedArb, (questions, seed) => {
        const before = JSON.stringify(questions);
        const all = permuteAll(questions, seed);
        questions.forEach((question, i) => {
          const alone = permuteQuestionOptions(question, seed);
          expect(all.questions[i]).toEqual(alone.question);
          expect(all.permutations.get(question.id)).toEqual(alone.permutation);
        });
        expect(JSON.stringify(questions)).toBe(before);
      }),
    );
  });

  it("on the real questions: every order of four options appears about equally often, and other seeds give other orders", async () => {
    const questions = await loadQuestions(join(intentionqaDir(), "QA_fullInfo_task1.jsonl"), "understanding");
    const four = questions.filter((q) => q.options.length === 4);
    const counts = new Map<string, number>();
    for (const question of four) {
      const key = permuteQuestionOptions(question, 1).permutation.join("");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    const expected = four.length / 24;
    for (const count of counts.values()) expect(Math.abs(count - expected)).toBeLessThan(expected * 0.5);
    const differ = four.filter(
      (q) => permuteQuestionOptions(q, 1).permutation.join("") !== permuteQuestionOptions(q, 2).permutation.join(""),
    ).length;
    expect(differ / four.length).toBeGreaterThan(0.9);
  });
});
