/**
 * One task's questions asked: each question's request built (buildRequest), asked through the
 * cache and retries, its answers parsed and scored into a samples.jsonl record (runTask, SampleRecord).
 */
import { BackendError, isFatalError, refusedRunError, type ChatRequest, type RequestMessage } from "../backends/types.ts";
import { optionLetters, type Question } from "../benchmark/intentionqa.ts";
import type { TaskName } from "../benchmark/tasks.ts";
import { buildMessages, type Decoding, type Mode } from "../prompts/intentionqa.ts";
import type { Asker } from "../requests/ask.ts";
import { runPool } from "../requests/concurrency.ts";
import type { Progress } from "../render/progress.ts";
import { letterProbabilities } from "../scoring/logprobs.ts";
import { PARSES } from "../scoring/parses.ts";
import type { Level } from "./difficulty.ts";

/**
 * The most characters of response text one sample record keeps, shared by its samples: a server
 * may answer 60 MiB of text (under the 64 MiB body cap) to every question, and samples.jsonl must
 * stay writable (one string per file is at most ~512 MiB in V8) and readable by `harness report`
 * (16 MiB a line). Parses read the whole text before it is cut; only what is kept is cut.
 */
export const KEPT_RESPONSE_CHARS = 1 << 20;

/** Each response cut to its share of KEPT_RESPONSE_CHARS, saying how much was left out. */
export function keptResponses(responses: readonly string[]): string[] {
  const share = Math.max(1024, Math.floor(KEPT_RESPONSE_CHARS / Math.max(1, responses.length)));
  return responses.map((text) =>
    text.length <= share ? text : `${text.slice(0, share)}… [${text.length - share} more characters of this response not kept]`,
  );
}

/** One line of samples.jsonl: what was asked, what came back, how it was read and scored. */
export interface SampleRecord {
  task: TaskName;
  id: string;
  level?: Level;
  relation?: string;
  /** The gold letter as shown: with --permute-options, where the gold text was moved to. */
  gold: string;
  letters: string[];
  /** --permute-options only: the official letter of the option shown at each position (eval/permute.ts). */
  permutation?: string[];
  messages: RequestMessage[];
  /** One per sample (cot-sc has several). Empty when the question ended in an API error. */
  responses: string[];
  /**
   * Each named parse's reading (scoring/parses.ts): the letter after the vote (cot-sc) or of the
   * single sample, and 1/0 against gold. Empty when the question ended in an API error; a parse
   * that does not apply (logprob without letter probabilities) is absent.
   */
  parses: Record<string, ParseOutcome>;
  letterProbs?: Record<string, number>;
  latencyMs: number;
  cached: boolean;
  /** Why the question was not answered: the last attempt's error (HTTP status and the server's message, timeout...). */
  error?: string;
  /** Attempts made on the failed request, retries included. */
  attempts?: number;
}

/** One parse's reading of one question. */
export interface ParseOutcome {
  answer: string | null;
  correct: 0 | 1;
  /** Each sample's letter, for the parses that vote. */
  perSample?: Array<string | null>;
}

/** Whether the question was answered (not ended in an API error). */
export function isAnswered(record: Pick<SampleRecord, "error">): boolean {
  return record.error === undefined;
}

export interface TaskRunOptions {
  task: TaskName;
  questions: readonly Question[];
  mode: Mode;
  decoding: Decoding;
  /** Ask for letter probabilities (zero-shot only; 0 turns it off). */
  topLogprobs: number;
  asker: Asker;
  concurrency: number;
  levels: ReadonlyMap<string, Level>;
  /** --permute-options: each question's permutation by id, recorded in its sample. */
  permutations?: ReadonlyMap<string, readonly string[]>;
  progress?: Progress;
}

export function buildRequest(question: Question, mode: Mode, decoding: Decoding, topLogprobs: number, sampleIndex: number): ChatRequest {
  return {
    messages: buildMessages(question, mode),
    maxTokens: decoding.maxTokens,
    temperature: decoding.temperature,
    topP: decoding.topP,
    ...(mode === "zero-shot" && topLogprobs > 0 ? { topLogprobs } : {}),
    sampleIndex,
    choices: optionLetters(question),
    itemId: question.id,
  };
}

/** Asks every question (every sample of it), reads the answers, and scores them against gold. */
export async function runTask(options: TaskRunOptions): Promise<SampleRecord[]> {
  const { questions, mode, decoding, asker } = options;
  const records: SampleRecord[] = new Array(questions.length);
  await runPool(questions, options.concurrency, async (question, index) => {
    const letters = optionLetters(question);
    const firstRequest = buildRequest(question, mode, decoding, options.topLogprobs, 0);
    const base = {
      task: options.task,
      id: question.id,
      ...(options.levels.get(question.id) ? { level: options.levels.get(question.id)! } : {}),
      ...(question.relation !== "all" ? { relation: question.relation } : {}),
      gold: question.gold,
      letters,
      ...(options.permutations?.has(question.id) ? { permutation: [...options.permutations.get(question.id)!] } : {}),
      messages: firstRequest.messages,
    };
    const responses: string[] = [];
    let latencyMs = 0;
    let cached = true;
    let letterProbs: Record<string, number> | undefined;
    try {
      for (let sample = 0; sample < decoding.samples; sample++) {
        const answer = await asker.ask(sample === 0 ? firstRequest : { ...firstRequest, sampleIndex: sample });
        responses.push(answer.response.text);
        latencyMs += answer.latencyMs;
        cached &&= answer.cached;
        if (sample === 0 && mode === "zero-shot") letterProbs = letterProbabilities(answer.response.tokens, letters);
      }
    } catch (error) {
      // Stop the run instead of logging 2000 failures.
      if (isFatalError(error)) throw refusedRunError(error, asker.backend.id());
      if (!(error instanceof BackendError)) throw error;
      records[index] = {
        ...base,
        responses: [],
        parses: {},
        latencyMs,
        cached: false,
        error: error.message,
        attempts: error.attempts ?? 1,
      };
      options.progress?.tick();
      return;
    }
    const parses: Record<string, ParseOutcome> = {};
    for (const parse of PARSES) {
      const parsed = parse.extract({ responses, letters, mode, letterProbs });
      if (!parsed) continue;
      parses[parse.name] = {
        answer: parsed.answer,
        correct: parsed.answer === question.gold ? 1 : 0,
        ...(parsed.perSample ? { perSample: parsed.perSample } : {}),
      };
    }
    records[index] = {
      ...base,
      responses: keptResponses(responses),
      parses,
      ...(letterProbs ? { letterProbs } : {}),
      latencyMs,
      cached,
    };
    options.progress?.tick();
  });
  return records;
}
