/**
 * The per-question viewer's data (report --format viewer): every question of every run, with what
 * the page shows and filters on, built once here so the page's script only compares strings.
 * Pure: the runs in, one JSON-ready object out.
 */
import type { EvalReport, QuestionOutcome } from "../schema.ts";
import type { ViewerRunInput, ViewerSample } from "./samples.ts";

/** How one parse scored one question of one run: the page's outcome filter and flip test. */
export type ViewerOutcome = "right" | "wrong" | "unreadable" | "error";

/** One run's answer to one question. */
export interface ViewerAnswer {
  /** Index into ViewerData.texts (prompts are shared between runs with the same prompt); null without samples. */
  prompt: number | null;
  /** The model's raw answer(s): one per sample (cot-sc has several). */
  responses: string[];
  /** Each parse's letter (null: none readable); empty without samples. */
  readings: Record<string, string | null>;
  /** Each parse's outcome; a parse that did not apply to the question (logprob without probabilities) is absent. */
  outcomes: Record<string, ViewerOutcome>;
  /** Letter probabilities, where the backend returned them. */
  probs?: Record<string, number>;
  /** Why the question was not answered (an API error). */
  error?: string;
}

export interface ViewerQuestion {
  task: string;
  id: string;
  level: string | null;
  relation: string | null;
  gold: string | null;
  letters: string[] | null;
  /** One per run, in run order; null where that run did not have the question. */
  answers: Array<ViewerAnswer | null>;
}

export interface ViewerRun {
  /** What the page calls it: the run id, with its folder where two runs share an id. */
  name: string;
  path: string;
  model: string;
  mode: string;
  labels: Record<string, string>;
  /** False when the run folder had no samples.jsonl: outcomes only, no prompts or answers. */
  samples: boolean;
}

export interface ViewerData {
  runs: ViewerRun[];
  /** Every parse name any run has, the default one first. */
  parses: string[];
  tasks: string[];
  relations: string[];
  levels: string[];
  /** Interned prompt texts. */
  texts: string[];
  questions: ViewerQuestion[];
}

/** A flip between two runs under one parse: right in the first and not in the second (lost), or the reverse (gained). */
export type Flip = "lost" | "gained" | null;

/** right -> wrong or unreadable is lost, the reverse gained; a question missing or failed in either run is no flip. */
export function flipBetween(first: ViewerOutcome | undefined, second: ViewerOutcome | undefined): Flip {
  const scored = (o: ViewerOutcome | undefined) => o === "right" || o === "wrong" || o === "unreadable";
  if (!scored(first) || !scored(second)) return null;
  if (first === "right" && second !== "right") return "lost";
  if (first !== "right" && second === "right") return "gained";
  return null;
}

/** One parse's outcome: a null score is an API error, a readable-letter miss is wrong, no letter unreadable. */
export function outcomeOf(score: 0 | 1 | null, reading: string | null | undefined): ViewerOutcome {
  if (score === null) return "error";
  if (score === 1) return "right";
  return reading === null ? "unreadable" : "wrong";
}

/** A prompt as one text: each message as "role:" and its content (an image as [image]). */
function promptText(messages: NonNullable<ViewerSample["messages"]>): string {
  return messages
    .map((m) => {
      const content = typeof m.content === "string" ? m.content : m.content.map((p) => (p.type === "text" ? p.text : "[image]")).join("\n");
      return `${m.role}:\n${content}`;
    })
    .join("\n\n");
}

/** Interns strings into one array, so a prompt shared by several runs is embedded once. */
class TextTable {
  readonly texts: string[] = [];
  readonly #index = new Map<string, number>();
  add(text: string): number {
    let at = this.#index.get(text);
    if (at === undefined) {
      at = this.texts.length;
      this.texts.push(text);
      this.#index.set(text, at);
    }
    return at;
  }
}

/** One run's answer to one question, from its report outcome and (where present) its sample record. */
function answerOf(outcome: QuestionOutcome, sample: ViewerSample | undefined, texts: TextTable): ViewerAnswer {
  const readings: Record<string, string | null> = {};
  const outcomes: Record<string, ViewerOutcome> = {};
  for (const [parse, score] of Object.entries(outcome.parses)) {
    const reading = sample?.parses[parse]?.answer;
    if (sample?.parses[parse]) readings[parse] = reading ?? null;
    outcomes[parse] = outcomeOf(score, reading);
  }
  return {
    prompt: sample?.messages ? texts.add(promptText(sample.messages)) : null,
    responses: sample?.responses ?? [],
    readings,
    outcomes,
    ...(sample?.letterProbs ? { probs: sample.letterProbs } : {}),
    ...(sample?.error !== undefined ? { error: sample.error } : {}),
  };
}

/** Run names: the run id, with the report's path where two runs share one. */
function runsOf(inputs: readonly ViewerRunInput[]): ViewerRun[] {
  const counts = new Map<string, number>();
  for (const input of inputs) counts.set(input.report.runId, (counts.get(input.report.runId) ?? 0) + 1);
  return inputs.map(({ report, path, samples }) => ({
    name: (counts.get(report.runId) ?? 0) > 1 ? `${report.runId} (${path})` : report.runId,
    path,
    model: report.backend.model,
    mode: report.config.mode,
    labels: report.labels,
    samples: samples !== null,
  }));
}

const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

/** The viewer's data: the questions of every run (in first-seen order), each with every run's answer. */
export function buildViewerData(inputs: readonly ViewerRunInput[], defaultParse: string): ViewerData {
  const texts = new TextTable();
  const questions = new Map<string, ViewerQuestion>();
  const parses = new Set<string>();
  inputs.forEach((input, run) => {
    const samples = new Map((input.samples ?? []).map((s) => [`${s.task}\u0000${s.id}`, s]));
    for (const result of input.report.results) {
      for (const outcome of result.outcomes) {
        const key = `${result.task}\u0000${outcome.id}`;
        const sample = samples.get(key);
        let question = questions.get(key);
        if (!question) {
          question = { ...questionOf(result.task, outcome, sample), answers: new Array(inputs.length).fill(null) };
          questions.set(key, question);
        }
        question.gold ??= sample?.gold ?? null;
        question.letters ??= sample?.letters ?? null;
        question.answers[run] = answerOf(outcome, sample, texts);
        for (const parse of Object.keys(outcome.parses)) parses.add(parse);
      }
    }
  });
  const all = [...questions.values()];
  return {
    runs: runsOf(inputs),
    parses: [...(parses.has(defaultParse) ? [defaultParse] : []), ...sorted(parses).filter((p) => p !== defaultParse)],
    tasks: sorted(all.map((q) => q.task)),
    relations: sorted(all.flatMap((q) => (q.relation === null ? [] : [q.relation]))),
    levels: ["easy", "medium", "hard"].filter((level) => all.some((q) => q.level === level)),
    texts: texts.texts,
    questions: all,
  };
}

function questionOf(task: EvalReport["results"][number]["task"], outcome: QuestionOutcome, sample: ViewerSample | undefined) {
  return {
    task,
    id: outcome.id,
    level: outcome.level ?? null,
    relation: outcome.relation ?? null,
    gold: sample?.gold ?? null,
    letters: sample?.letters ?? null,
  };
}
