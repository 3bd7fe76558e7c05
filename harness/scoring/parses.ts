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

/** A parse's name, as reports store it and `report`/`diff --metric` take it: official, strict, logprob, ... */
export type ParseName = string;

/**
 * A named answer parse, in the manner of lm-evaluation-harness's named filters ("strict-match",
 * "flexible-extract"): every report keeps one accuracy per parse, and `report`/`diff` take any
 * of them with --metric <name>.
 */
export interface AnswerParse {
  name: ParseName;
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

const parses: AnswerParse[] = [official, strict, logprob];

/**
 * The parse table: every parse the harness knows, in report order. Add a parse here and eval
 * scores every answer with it, and every table, chart and diff can show it.
 */
export const PARSES: readonly AnswerParse[] = parses;

/** The parse every table and diff uses unless --metric names another: the benchmark's number. */
export const DEFAULT_PARSE: ParseName = "official";

export function parseNames(): ParseName[] {
  return PARSES.map((p) => p.name);
}

/**
 * The extension point for parses added without editing this file (the tests' toy parse): appends
 * one to the table, after the built-in ones.
 */
export function registerParse(parse: AnswerParse): void {
  if (parses.some((p) => p.name === parse.name)) throw new Error(`internal error: parse "${parse.name}" is already in the parse table`);
  parses.push(parse);
}
