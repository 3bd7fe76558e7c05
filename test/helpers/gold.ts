import { join } from "node:path";
import { loadQuestions } from "../../harness/benchmark/intentionqa.ts";
import { INTENTIONQA_FILES, type TaskName } from "../../harness/benchmark/tasks.ts";
import { buildPrompt, type Mode } from "../../harness/prompts/intentionqa.ts";
import type { Reply } from "./openai-server.ts";
import { intentionqaDir } from "./paths.ts";

/** Prompt text -> gold letter for the real files, so a test server can answer like an oracle. */
export async function goldByPrompt(tasks: TaskName[], mode: Mode = "zero-shot"): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const task of tasks) {
    for (const q of await loadQuestions(join(intentionqaDir(), INTENTIONQA_FILES[task].fileName), task))
      map.set(buildPrompt(q, mode), q.gold);
  }
  return map;
}

/**
 * A model that always generates a wrong letter while its letter probabilities favour the right
 * one (0.5 against 0.4): the generated (official) accuracy is 0, the logprob accuracy 100.
 */
export function wrongLetterRightProbabilities(gold: ReadonlyMap<string, string>, prompt: string): Reply {
  const right = gold.get(prompt)!;
  const wrong = right === "A" ? "B" : "A";
  return {
    content: wrong,
    logprobs: [
      {
        token: wrong,
        logprob: Math.log(0.4),
        top_logprobs: [
          { token: wrong, logprob: Math.log(0.4) },
          { token: right, logprob: Math.log(0.5) },
        ],
      },
    ],
  };
}
