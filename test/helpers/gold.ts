import { join } from "node:path";
import { loadQuestions, type TaskName } from "../../harness/benchmark/intentionqa.ts";
import { INTENTIONQA_FILES } from "../../harness/benchmark/sources.ts";
import { buildPrompt, type Mode } from "../../harness/prompts/intentionqa.ts";
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
