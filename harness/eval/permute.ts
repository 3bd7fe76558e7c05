import { optionLetters, type OptionLetter, type Question } from "../benchmark/intentionqa.ts";
import { deriveSeed, mulberry32 } from "../stats/rng.ts";

/**
 * `eval --permute-options SEED`: each question's option texts shown in a seeded order, to measure
 * how much a model's accuracy depends on the benchmark's one fixed order. The letters stay where
 * they are (A, B, C, D in the file's order, so the instruction line is unchanged); the texts move,
 * and the gold letter moves with its text. The order depends only on the seed, the task and the
 * question id, so it is the same whatever subset, concurrency or order the run uses.
 */
export interface PermutedQuestion {
  question: Question;
  /**
   * The official letter of the option shown at each position: ["C", "A", "D", "B"] means the
   * prompt's A is the file's option C. Recorded per sample, so a viewer can map answers back.
   */
  permutation: OptionLetter[];
}

export function permuteQuestionOptions(question: Question, seed: number): PermutedQuestion {
  const random = mulberry32(deriveSeed(seed, "permute-options", question.task, question.id));
  const order = question.options.map((_, index) => index);
  // Fisher-Yates: every order equally likely.
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const letters = optionLetters(question);
  const goldAt = order.indexOf(letters.indexOf(question.gold));
  return {
    question: {
      ...question,
      options: order.map((from, to) => [letters[to]!, question.options[from]![1]] as const),
      gold: letters[goldAt]!,
    },
    permutation: order.map((from) => letters[from]!),
  };
}

/** Every question of one task permuted, and each one's permutation by id (for the samples): ids are unique in a task's file (loadQuestions refuses a repeat). */
export function permuteAll(
  questions: readonly Question[],
  seed: number,
): { questions: Question[]; permutations: Map<string, OptionLetter[]> } {
  const permutations = new Map<string, OptionLetter[]>();
  const permuted = questions.map((question) => {
    const { question: shown, permutation } = permuteQuestionOptions(question, seed);
    permutations.set(question.id, permutation);
    return shown;
  });
  return { questions: permuted, permutations };
}
