import { BackendError, type ChatRequest, type RequestMessage } from "../backends/types.ts";
import { optionLetters, type Question, type TaskName } from "../dataset/intentionqa.ts";
import { buildMessages, type Decoding, type Mode } from "../prompts/intentionqa.ts";
import type { Asker } from "../runtime/ask.ts";
import { runPool } from "../runtime/pool.ts";
import type { Progress } from "../runtime/progress.ts";
import { argmaxLetter, letterProbabilities } from "../scoring/logprobs.ts";
import { majorityVote, officialParse, strictParse } from "../scoring/extract.ts";
import { HarnessError } from "../util/errors.ts";
import type { Level } from "./difficulty.ts";

/** One line of samples.jsonl: what was asked, what came back, how it was read and scored. */
export interface SampleRecord {
  task: TaskName;
  id: string;
  level?: Level;
  relation?: string;
  gold: string;
  letters: string[];
  messages: RequestMessage[];
  /** One per sample (cot-sc has several). Empty when the question ended in an API error. */
  responses: string[];
  officialPerSample: string[];
  strictPerSample: Array<string | null>;
  /** After the vote (cot-sc) or the single sample. */
  official: string | null;
  strict: string | null;
  correct: 0 | 1 | null;
  strictCorrect: 0 | 1 | null;
  letterProbs?: Record<string, number>;
  logprobLetter?: string | null;
  logprobCorrect?: 0 | 1 | null;
  latencyMs: number;
  cached: boolean;
  /** Why the question was not answered: the last attempt's error (HTTP status and the server's message, timeout...). */
  error?: string;
  /** Attempts made on the failed request, retries included. */
  attempts?: number;
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
  progress?: Progress;
}

/** Errors that make every further request pointless: stop the run instead of logging 2000 failures. */
function isFatal(error: BackendError): boolean {
  return error.kind === "auth" || error.kind === "not-found";
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
      if (error instanceof BackendError && isFatal(error)) {
        throw new HarnessError(
          `${asker.backend.id()}: ${error.message}${error.kind === "auth" ? " (the API key was rejected; check the key in the environment)" : ""}`,
          { cause: error },
        );
      }
      if (!(error instanceof BackendError)) throw error;
      records[index] = {
        ...base,
        responses: [],
        officialPerSample: [],
        strictPerSample: [],
        official: null,
        strict: null,
        correct: null,
        strictCorrect: null,
        latencyMs,
        cached: false,
        error: error.message,
        attempts: error.attempts ?? 1,
      };
      options.progress?.tick();
      return;
    }
    const officialPerSample = responses.map((r) => officialParse(r, mode));
    const strictPerSample = responses.map((r) => strictParse(r, letters, mode));
    const official = decoding.samples > 1 ? (majorityVote(officialPerSample) ?? " ") : officialPerSample[0]!;
    const strict = decoding.samples > 1 ? majorityVote(strictPerSample) : strictPerSample[0]!;
    const logprobLetter = letterProbs ? argmaxLetter(letterProbs) : undefined;
    records[index] = {
      ...base,
      responses,
      officialPerSample,
      strictPerSample,
      official,
      strict,
      correct: official === question.gold ? 1 : 0,
      strictCorrect: strict === question.gold ? 1 : 0,
      ...(letterProbs
        ? { letterProbs, logprobLetter: logprobLetter ?? null, logprobCorrect: logprobLetter === question.gold ? 1 : 0 }
        : {}),
      latencyMs,
      cached,
    };
    options.progress?.tick();
  });
  return records;
}
