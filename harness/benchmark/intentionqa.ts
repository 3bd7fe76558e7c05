import { briefMessage, HarnessError } from "../util/errors.ts";
import { readTextFile } from "../util/text.ts";
import type { TaskName } from "./tasks.ts";

/** Letters are the question's own option keys, in order (A..D, sometimes E). */
export type OptionLetter = string;

/** One IntentionQA record, with the fields every evaluator needs validated and typed. */
export interface Question {
  id: string;
  task: TaskName;
  itemAId: string;
  itemBId: string;
  itemAName: string;
  itemBName: string;
  relation: string;
  assertion: string;
  typicality: number;
  gold: OptionLetter;
  /** Option letter -> text, in the file's letter order. */
  options: ReadonlyArray<readonly [OptionLetter, string]>;
  /** 1-based line in the source file, for error messages and logs. */
  line: number;
}

/** The official scorer skips questions with fewer than 4 options. */
export const MIN_SCORED_OPTIONS = 4;

export function isScored(question: Question): boolean {
  return question.options.length >= MIN_SCORED_OPTIONS;
}

export function optionLetters(question: Question): OptionLetter[] {
  return question.options.map(([letter]) => letter);
}

/**
 * Validates one parsed JSON record. Errors name the file, line and field, since a user who
 * edits or regenerates these files needs to find the bad record fast.
 */
export function parseQuestion(raw: unknown, task: TaskName, where: { file: string; line: number }): Question {
  const at = `${where.file}:${where.line}`;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new HarnessError(`${at}: expected a JSON object, got ${Array.isArray(raw) ? "an array" : typeof raw}`);
  }
  const record = raw as Record<string, unknown>;
  const str = (field: string): string => {
    const value = record[field];
    if (typeof value !== "string") throw new HarnessError(`${at}: field "${field}" must be a string, got ${describe(value)}`);
    return value;
  };
  const id = str("id");
  if (id.length === 0) throw new HarnessError(`${at}: field "id" must not be empty`);
  const options = record["options"];
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new HarnessError(`${at}: field "options" must be an object of letter -> text, got ${describe(options)} (id ${id})`);
  }
  const entries = Object.entries(options as Record<string, unknown>);
  if (entries.length === 0) throw new HarnessError(`${at}: field "options" is empty (id ${id})`);
  const parsedOptions = entries.map(([letter, text]): [string, string] => {
    if (!/^[A-Z]$/.test(letter)) throw new HarnessError(`${at}: option key "${letter}" must be one upper-case letter (id ${id})`);
    if (typeof text !== "string") throw new HarnessError(`${at}: option "${letter}" must be a string, got ${describe(text)} (id ${id})`);
    return [letter, text];
  });
  const gold = str("gold_ind");
  if (!parsedOptions.some(([letter]) => letter === gold)) {
    throw new HarnessError(
      `${at}: field "gold_ind" is "${gold}", which is not one of the options ${parsedOptions.map(([l]) => l).join(", ")} (id ${id})`,
    );
  }
  const typicality = record["typicality"];
  if (typeof typicality !== "number" || !Number.isFinite(typicality)) {
    throw new HarnessError(`${at}: field "typicality" must be a number, got ${describe(typicality)} (id ${id})`);
  }
  return {
    id,
    task,
    itemAId: str("item_a_id"),
    itemBId: str("item_b_id"),
    itemAName: str("item_a_name"),
    itemBName: str("item_b_name"),
    relation: str("relation"),
    assertion: str("assertion"),
    typicality,
    gold,
    options: parsedOptions,
    line: where.line,
  };
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (field missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `${typeof value} ${JSON.stringify(value).slice(0, 40)}`;
}

/** Streams and validates a JSONL file; blank lines are allowed, duplicate ids are not. */
export async function loadQuestions(file: string, task: TaskName): Promise<Question[]> {
  const questions: Question[] = [];
  const seen = new Map<string, number>();
  let lineNumber = 0;
  // Read whole (a few MB): invalid UTF-8 is an error naming the line, a BOM is dropped.
  const text = await readTextFile(file);
  for (const rawLine of text.split("\n")) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    lineNumber += 1;
    if (line.trim() === "") continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new HarnessError(`${file}:${lineNumber}: not valid JSON (${briefMessage(error)})`);
    }
    const question = parseQuestion(raw, task, { file, line: lineNumber });
    const previous = seen.get(question.id);
    if (previous !== undefined) throw new HarnessError(`${file}:${lineNumber}: duplicate id "${question.id}" (first on line ${previous})`);
    seen.set(question.id, lineNumber);
    questions.push(question);
  }
  if (questions.length === 0) throw new HarnessError(`${file}: no records`);
  return questions;
}
