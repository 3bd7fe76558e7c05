import { BoundedReadError, MAX_TEXT_FILE_BYTES, readRegularFileCapped } from "../util/bounded.ts";
import { specialPathKind } from "../util/paths.ts";
import { parse } from "csv-parse/sync";
import { assertUniqueColumns, csvRecordStartLine } from "../util/csv-header.ts";
import { briefMessage, errorMessage, EXIT, HarnessError, usageError } from "../util/errors.ts";
import { decodeHtml, restoreSheetCell } from "../util/escape.ts";
import { decodeUtf8, notRegularInput } from "../util/text.ts";

/**
 * Reading human judgements. Three CSV shapes, told apart by the header, any other column kept
 * but ignored:
 * - long: item_id, annotator, question, label: one row per judgement;
 * - a filled sheet (wide): item_id, annotator and one column per question (blank = not answered);
 * - MTurk batch results: Input.item_id, WorkerId and Answer.<question> columns (or the JSON
 *   Answer.taskAnswers of crowd-form templates); assignments with AssignmentStatus Rejected are left out.
 */

export interface Judgement {
  itemId: string;
  annotator: string;
  question: string;
  /** As written (trimmed); checked against the question's scale by the scorer. */
  label: string;
  /** The relation the row itself names (a filled sheet's relation column, MTurk's Input.relation). */
  relation?: string;
  file: string;
  line: number;
}

export type JudgementShape = "long" | "sheet" | "mturk";

interface Parsed {
  header: string[];
  rows: Array<{ fields: string[]; line: number }>;
}

async function readCsv(file: string): Promise<Parsed> {
  let bytes: Buffer;
  const special = specialPathKind(file);
  if (special !== null) throw notRegularInput(file, special);
  try {
    // A regular file under the cap: a FIFO would block forever, /dev/zero never end.
    bytes = await readRegularFileCapped(file, MAX_TEXT_FILE_BYTES);
  } catch (error) {
    if (error instanceof BoundedReadError)
      throw usageError(`${file}: ${error.reason === "not-a-file" ? "not a regular file" : "too large"}: ${error.message}`);
    const code = (error as NodeJS.ErrnoException).code;
    throw new HarnessError(`cannot read ${file}: ${code === "ENOENT" ? "no such file" : errorMessage(error)}`, {
      exitCode: code === "ENOENT" ? EXIT.usage : EXIT.failed,
    });
  }
  // A spreadsheet saved as Latin-1 is an error naming the line, not names compared with U+FFFD in them.
  const text = decodeUtf8(bytes, file);
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true, info: true }) as unknown as Array<{
      record: string[];
      info: { lines: number };
    }>;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new HarnessError(
      `${file}${line ? `:${line}` : ""}: malformed CSV: ${briefMessage(errorMessage(error).replace(/\s+at line \d+/, ""))}`,
    );
  }
  if (records.length === 0) throw new HarnessError(`${file}: empty file: expected a header such as item_id,annotator,question,label`);
  const rows: Parsed["rows"] = [];
  // csv-parse reports the line a record ends on; blank lines between records are skipped.
  // The sheets annotate export writes have formula-like cells quoted ('=...): undone here, exactly.
  for (const { record, info } of records.slice(1))
    rows.push({ fields: record.map(restoreSheetCell), line: csvRecordStartLine(info.lines, record) });
  const header = records[0]!.record.map((h) => h.trim());
  assertUniqueColumns(header, `${file}:${csvRecordStartLine(records[0]!.info.lines, records[0]!.record)}`);
  return { header, rows };
}

/**
 * The judgements of one file; `questions` names the question columns a filled sheet may carry.
 * The same annotator answering the same question for the same item twice (in one file or across
 * files) is refused by the scorer (score.ts), naming both file:line places.
 */
export async function readJudgements(
  file: string,
  questions: readonly string[],
): Promise<{ shape: JudgementShape; judgements: Judgement[] }> {
  const csv = await readCsv(file);
  const { header } = csv;
  if (["item_id", "annotator", "question", "label"].every((c) => header.includes(c)))
    return { shape: "long", judgements: longJudgements(file, csv) };
  if (header.includes("Input.item_id") && header.includes("WorkerId"))
    return { shape: "mturk", judgements: mturkJudgements(file, csv, questions) };
  const questionColumns = questions.filter((q) => header.includes(q));
  if (header.includes("item_id") && header.includes("annotator") && questionColumns.length > 0)
    return { shape: "sheet", judgements: sheetJudgements(file, csv, questionColumns) };
  throw new HarnessError(
    `${file}:1: not a judgements file: expected the columns item_id,annotator,question,label (one row per judgement), ` +
      `a filled sheet (item_id, annotator and question columns ${questions.join(", ")}), or MTurk results (Input.item_id, WorkerId, Answer.<question>)`,
  );
}

/** A row's cell, trimmed; "" where the file has no such column. */
function cell(fields: readonly string[], index: number): string {
  return index < 0 ? "" : (fields[index] ?? "").trim();
}

/** A cell that must not be empty. */
function need(at: { file: string; line: number }, fields: readonly string[], index: number, name: string): string {
  const value = cell(fields, index);
  if (value === "") throw new HarnessError(`${at.file}:${at.line}: column ${name} is empty`);
  return value;
}

/** long: item_id, annotator, question, label (and an optional relation), one judgement per row. */
function longJudgements(file: string, { header, rows }: Parsed): Judgement[] {
  const [item, annotator, question, label, relation] = ["item_id", "annotator", "question", "label", "relation"].map((c) =>
    header.indexOf(c),
  ) as [number, number, number, number, number];
  return rows.map(({ fields, line }) => {
    const at = { file, line };
    const rel = cell(fields, relation);
    return {
      itemId: need(at, fields, item, "item_id"),
      annotator: need(at, fields, annotator, "annotator"),
      question: need(at, fields, question, "question"),
      label: cell(fields, label),
      ...(rel ? { relation: rel } : {}),
      file,
      line,
    };
  });
}

/** MTurk batch results: one row per assignment, its answers in Answer.<question> or Answer.taskAnswers. */
function mturkJudgements(file: string, { header, rows }: Parsed, questions: readonly string[]): Judgement[] {
  const item = header.indexOf("Input.item_id");
  const worker = header.indexOf("WorkerId");
  const relation = header.indexOf("Input.relation");
  const status = header.indexOf("AssignmentStatus");
  const taskAnswers = header.indexOf("Answer.taskAnswers");
  const answerColumns = header.flatMap((h, i) =>
    h.startsWith("Answer.") && h !== "Answer.taskAnswers" ? [{ question: h.slice("Answer.".length), index: i }] : [],
  );
  const judgements: Judgement[] = [];
  for (const { fields, line } of rows) {
    if (cell(fields, status).toLowerCase() === "rejected") continue;
    const at = { file, line };
    // Input.* echo the batch file, whose values are HTML-escaped for the HIT page.
    const base = {
      itemId: decodeHtml(need(at, fields, item, "Input.item_id")),
      annotator: need(at, fields, worker, "WorkerId"),
      file,
      line,
    };
    const rel = decodeHtml(cell(fields, relation));
    const answers = new Map<string, string>();
    for (const { question, index } of answerColumns) if (cell(fields, index) !== "") answers.set(question, cell(fields, index));
    if (taskAnswers >= 0 && cell(fields, taskAnswers) !== "")
      for (const [q, label] of taskAnswerLabels(cell(fields, taskAnswers), `${file}:${line}`)) answers.set(q, label);
    for (const [question, label] of answers)
      if (questions.includes(question)) judgements.push({ ...base, question, label, ...(rel ? { relation: rel } : {}) });
  }
  return judgements;
}

/** A filled sheet: item_id, annotator and one column per question; a blank cell is not answered. */
function sheetJudgements(file: string, { header, rows }: Parsed, questionColumns: readonly string[]): Judgement[] {
  const item = header.indexOf("item_id");
  const annotator = header.indexOf("annotator");
  const relation = header.indexOf("relation");
  const judgements: Judgement[] = [];
  for (const { fields, line } of rows) {
    const answered = questionColumns.filter((q) => cell(fields, header.indexOf(q)) !== "");
    if (answered.length === 0) continue;
    const at = { file, line };
    const rel = cell(fields, relation);
    const base = {
      itemId: need(at, fields, item, "item_id"),
      annotator: need(at, fields, annotator, "annotator"),
      file,
      line,
      ...(rel ? { relation: rel } : {}),
    };
    for (const question of answered) judgements.push({ ...base, question, label: cell(fields, header.indexOf(question)) });
  }
  return judgements;
}

/** crowd-form's Answer.taskAnswers: [{question: "label"}] or [{question: {label: true, other: false}}]. */
function taskAnswerLabels(json: string, where: string): Array<[string, string]> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new HarnessError(`${where}: Answer.taskAnswers is not valid JSON`);
  }
  const first = Array.isArray(value) ? value[0] : value;
  if (first === null || typeof first !== "object") return [];
  const out: Array<[string, string]> = [];
  for (const [question, answer] of Object.entries(first as Record<string, unknown>)) {
    if (typeof answer === "string") out.push([question, answer]);
    else if (answer !== null && typeof answer === "object") {
      const chosen = Object.entries(answer as Record<string, unknown>)
        .filter(([, on]) => on === true)
        .map(([label]) => label);
      if (chosen.length === 1) out.push([question, chosen[0]!]);
    }
  }
  return out;
}

/** item_id -> relation from an exported sheet (the csv or mturk layout). */
export async function readSheetRelations(file: string): Promise<Map<string, { relation: string; line: number }>> {
  const { header, rows } = await readCsv(file);
  const item = header.indexOf("item_id");
  const relation = header.indexOf("relation");
  if (item < 0 || relation < 0)
    throw new HarnessError(
      `${file}:1: not an annotation sheet: expected the columns item_id and relation (harness annotate export writes them)`,
    );
  // An MTurk batch (no product_a_id column) holds its values HTML-escaped for the HIT page.
  const mturk = header.includes("product_a") && !header.includes("product_a_id");
  const value = (fields: string[], index: number) => {
    const text = (fields[index] ?? "").trim();
    return mturk ? decodeHtml(text) : text;
  };
  const out = new Map<string, { relation: string; line: number }>();
  for (const { fields, line } of rows) {
    const id = value(fields, item);
    if (id === "") throw new HarnessError(`${file}:${line}: empty item_id`);
    const seen = out.get(id);
    // A filled sheet repeats an item once per annotator; the relation must not change.
    if (seen && seen.relation !== value(fields, relation))
      throw new HarnessError(
        `${file}:${line}: item ${id} has relation "${value(fields, relation)}", but "${seen.relation}" at line ${seen.line}`,
      );
    if (!seen) out.set(id, { relation: value(fields, relation), line });
  }
  return out;
}
