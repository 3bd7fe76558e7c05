import type { ChatMessage } from "../backends/types.ts";
import type { Question } from "../benchmark/intentionqa.ts";
import { taskDefinition, type TaskName, type TaskPrompt } from "../benchmark/tasks.ts";

/** Bumped whenever a prompt or parse rule changes, so cached answers from older rules are not reused. */
export const PROTOCOL_VERSION = "intentionqa-1";

export const MODES = ["zero-shot", "cot", "cot-sc"] as const;
export type Mode = (typeof MODES)[number];

/** "A or B or C or D", from the question's own option keys. */
export function letterList(question: Question): string {
  return question.options.map(([letter]) => letter).join(" or ");
}

function optionBlock(question: Question): string {
  return question.options.map(([letter, text]) => `${letter}. ${text}\n`).join("");
}

function instruction(question: Question, mode: Mode): string {
  const answerLine = `Answer ${letterList(question)} only without any other word.`;
  if (mode === "zero-shot") return answerLine;
  return [
    "Formulate your answer in this way.",
    "Step 1: Give a short and brief rationale by thinking step by step.",
    `Step 2: ${answerLine}`,
  ].join("\n");
}

/**
 * Task 2's reason: the assertion from its first "because" on, or, for the few assertions
 * without one, from "as a result, " on; trimmed.
 */
export function utilizationReason(assertion: string): string {
  const because = assertion.indexOf("because");
  if (because >= 0) return assertion.slice(because).trim();
  const asAResult = assertion.indexOf("as a result, ");
  if (asAResult >= 0) return assertion.slice(asAResult).trim();
  return assertion.trim();
}

/** The question each kind of task asks, before the options (the task table's `prompt` names one). */
const QUESTION_PROMPTS: Record<TaskPrompt, (question: Question) => string> = {
  intention: (question) =>
    `A customer buys ${question.itemAName} and ${question.itemBName}. What is the most likely intention for buying them?\n`,
  purchase: (question) => {
    const first = `A customer buys ${question.itemAName}, ${utilizationReason(question.assertion)}`;
    return `${first}${first.endsWith(".") ? "\n" : ".\n"}What is the customer's most probable additional purchase?\n`;
  },
};

/** The exact user prompt of the benchmark's official scripts (spec: intentionqa.md). */
export function buildPrompt(question: Question, mode: Mode, task: TaskName = question.task): string {
  return `${QUESTION_PROMPTS[taskDefinition(task).prompt](question)}${optionBlock(question)}${instruction(question, mode)}`;
}

/** One user message, no system message, as the official runs send it. */
export function buildMessages(question: Question, mode: Mode): ChatMessage[] {
  return [{ role: "user", content: buildPrompt(question, mode) }];
}

export interface Decoding {
  maxTokens: number;
  temperature: number;
  /** Always sent, so a server's own default (LLaMA-Factory's API: 0.7) never decides it. */
  topP: number;
  /** Samples per question; more than one only for cot-sc (majority vote). */
  samples: number;
}

/**
 * The official runs' decoding settings per mode. Their scripts leave top_p unset, which on the
 * (Azure) OpenAI API they called means 1.
 */
export function defaultDecoding(mode: Mode): Decoding {
  switch (mode) {
    case "zero-shot":
      return { maxTokens: 10, temperature: 0.1, topP: 1, samples: 1 };
    case "cot":
      return { maxTokens: 200, temperature: 0.1, topP: 1, samples: 1 };
    case "cot-sc":
      return { maxTokens: 200, temperature: 0.7, topP: 1, samples: 5 };
  }
}
