import type { Mode } from "../prompts/intentionqa.ts";
import { majorityVote, officialParse, strictParse } from "./extract.ts";
import { argmaxLetter } from "./logprobs.ts";

/** What every parse may read of one answered question. */
export interface AnsweredSample {
  /** One response per sample (cot-sc has several). */
  responses: readonly string[];
  /** The question's option letters. */
  letters: readonly string[];
  mode: Mode;
  /** The option letters' probabilities at the first answer token, where the backend returned them. */
  letterProbs?: Record<string, number> | undefined;
}

/** A parse's reading of one question: the letter (null: none read), and each sample's where it votes. */
export interface ParsedAnswer {
  answer: string | null;
  perSample?: Array<string | null>;
}

/**
 * A named answer parse, in the manner of lm-evaluation-harness's named filters ("strict-match",
 * "flexible-extract"): every report keeps one accuracy per parse, and `report`/`diff` take any
 * of them with --metric <name>.
 */
export interface AnswerParse {
  name: string;
  describe: string;
  /** undefined: the parse does not apply to this question (logprob without letter probabilities). */
  extract(sample: AnsweredSample): ParsedAnswer | undefined;
}

const official: AnswerParse = {
  name: "official",
  describe: "the benchmark's own answer parse (its quirks included): the benchmark's number",
  extract({ responses, mode }) {
    const perSample = responses.map((r) => officialParse(r, mode));
    // An unreadable majority stays " " (always wrong), as the official script.
    const answer = perSample.length > 1 ? (majorityVote(perSample) ?? " ") : perSample[0]!;
    return { answer, perSample };
  },
};

const strict: AnswerParse = {
  name: "strict",
  describe: "exactly one option letter readable, else no answer (majority vote over samples)",
  extract({ responses, letters, mode }) {
    const perSample = responses.map((r) => strictParse(r, letters, mode));
    return { answer: perSample.length > 1 ? majorityVote(perSample) : perSample[0]!, perSample };
  },
};

const logprob: AnswerParse = {
  name: "logprob",
  describe: "the most probable option letter at the first answer token, where the backend returned top_logprobs",
  extract({ letterProbs }) {
    return letterProbs ? { answer: argmaxLetter(letterProbs) } : undefined;
  },
};

/** Every parse the harness knows, in report order. Add a parse here and every table, chart and diff can use it. */
export const PARSES: readonly AnswerParse[] = [official, strict, logprob];

/** The parse every table and diff uses unless --metric names another: the benchmark's number. */
export const DEFAULT_PARSE = "official";

export function parseNames(): string[] {
  return PARSES.map((p) => p.name);
}
