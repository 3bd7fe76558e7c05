import { writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "csv-stringify/sync";
import { expect, it } from "vitest";
import { readJudgements } from "../../../harness/annotate/judgements.ts";
import { QUESTIONS } from "../../../harness/annotate/questions.ts";
import { scoreJudgements } from "../../../harness/annotate/score.ts";

const dir = mkdtempSync(join(tmpdir(), "judgements-"));
const names = Object.keys(QUESTIONS);
const write = (name: string, rows: string[][]) => {
  const file = join(dir, name);
  writeFileSync(file, stringify(rows));
  return file;
};

it("MTurk batch results: Answer.<question> columns and crowd-form taskAnswers; rejected assignments left out; relation from Input.relation", async () => {
  const file = write("results.csv", [
    [
      "HITId",
      "WorkerId",
      "AssignmentStatus",
      "Input.item_id",
      "Input.relation",
      "Input.intention",
      "Answer.plausible",
      "Answer.taskAnswers",
    ],
    ["H1", "W1", "Approved", "isA:2", "isA", "an intention,\nover two lines", "yes", ""],
    ["H1", "W2", "Submitted", "isA:2", "isA", "x", "", '[{"plausible":{"yes":false,"no":true},"typical":"yes"}]'],
    ["H1", "W3", "Rejected", "isA:2", "isA", "x", "no", ""],
  ]);
  const { shape, judgements } = await readJudgements(file, names);
  expect(shape).toBe("mturk");
  expect(judgements.map((j) => [j.annotator, j.question, j.label, j.line, j.relation])).toEqual([
    ["W1", "plausible", "yes", 2, "isA"],
    ["W2", "plausible", "no", 4, "isA"],
    ["W2", "typical", "yes", 4, "isA"],
  ]);
});

it("a filled sheet: one judgement per answered question column; blank cells are not answered", async () => {
  const file = write("filled.csv", [
    ["item_id", "relation", "intention", "annotator", "plausible", "typical", "filter_correct", "rationale_ok"],
    ["can:3", "can", "i", "ann1", "yes", "no", "", ""],
    ["can:3", "can", "i", "ann2", "Yes", "", "", ""],
  ]);
  const { shape, judgements } = await readJudgements(file, names);
  expect(shape).toBe("sheet");
  expect(judgements.map((j) => `${j.annotator}/${j.question}/${j.label}`)).toEqual([
    "ann1/plausible/yes",
    "ann1/typical/no",
    "ann2/plausible/Yes",
  ]);
  // Labels match case-insensitively; typical has a single annotator, so it is an error naming its line.
  expect(() => scoreJudgements({ judgements, questions: Object.values(QUESTIONS) })).toThrow(
    `${file}:2: item can:3 has a single annotator for typical`,
  );
  const plausibleOnly = scoreJudgements({
    judgements: judgements.filter((j) => j.question === "plausible"),
    questions: Object.values(QUESTIONS),
  });
  expect(plausibleOnly.questions[0]!.perRelation["can"]).toMatchObject({ items: 1, positive: 1, rate: 1 });
});

it("items with different numbers of annotators: no Fleiss' kappa, Krippendorff's alpha instead", () => {
  const j = (item: string, annotator: string, label: string, line: number) => ({
    itemId: item,
    annotator,
    question: "plausible",
    label,
    file: "f.csv",
    line,
  });
  const result = scoreJudgements({
    judgements: [
      j("a", "1", "yes", 2),
      j("a", "2", "yes", 3),
      j("a", "3", "no", 4),
      j("b", "1", "no", 5),
      j("b", "2", "no", 6),
      j("c", "1", "yes", 7),
      j("c", "2", "yes", 8),
    ],
    questions: [QUESTIONS["plausible"]!],
  });
  const agreement = result.questions[0]!.agreement;
  expect(agreement.fleiss).toBeNull();
  expect(agreement.fleissNote).toMatch(/2 to 3 annotators/);
  expect(agreement.krippendorffAlpha).toBeGreaterThan(0);
  expect(agreement.pairwiseAgreement).toBeCloseTo(3 / 5, 12);
  expect(result.questions[0]!.overall).toMatchObject({ items: 3, positive: 2, ties: 0 });
});

it("a file in none of the three shapes names what it expected", async () => {
  const file = write("other.csv", [
    ["id", "rater", "value"],
    ["1", "a", "yes"],
  ]);
  await expect(readJudgements(file, names)).rejects.toThrow(`${file}:1: not a judgements file`);
});
