import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import type { Judgement } from "../../../harness/annotate/judgements.ts";
import { parseQuestionSpecs } from "../../../harness/annotate/questions.ts";
import { renderScores } from "../../../harness/annotate/render.ts";
import { scoreJudgements } from "../../../harness/annotate/score.ts";
import { paperTable1 } from "../../../harness/published/table1.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";

/** Krippendorff (2011)'s reliability data, 11 pairable units (the twelfth has one value and is left out). */
const FIXTURE = join(PROJECT_ROOT, "test", "fixtures", "annotate", "krippendorff2011.csv");
const judgements: Judgement[] = readFileSync(FIXTURE, "utf8")
  .trim()
  .split("\n")
  .slice(1)
  .map((line, i) => {
    const [itemId, annotator, question, label] = line.split(",") as [string, string, string, string];
    return { itemId, annotator, question, label, file: FIXTURE, line: i + 2 };
  });

it("--question NAME:SCALE=... declares the level of measurement; nominal is the default", () => {
  expect(parseQuestionSpecs(["rating=1,2,3"])[0]!.scale).toBe("nominal");
  expect(parseQuestionSpecs(["rating:ordinal=low,mid,high"])[0]).toMatchObject({
    name: "rating",
    scale: "ordinal",
    labels: ["low", "mid", "high"],
  });
  expect(parseQuestionSpecs(["rating:interval=1,2.5,4"])[0]!.scale).toBe("interval");
  expect(() => parseQuestionSpecs(["rating:ratio=1,2"])).toThrow(/unknown scale "ratio"; expected one of nominal, ordinal, interval/);
  expect(() => parseQuestionSpecs(["rating:interval=low,high"])).toThrow(/label "low" is not a number/);
  expect(() => parseQuestionSpecs([":ordinal=1,2"])).toThrow(/expected NAME\[:nominal\|ordinal\|interval\]=label1,label2/);
});

it("annotate score uses the declared scale's alpha: Krippendorff (2011)'s 0.743 nominal, 0.815 ordinal, 0.849 interval", () => {
  const expected = { nominal: "0.743", ordinal: "0.815", interval: "0.849" } as const;
  for (const [scale, alpha] of Object.entries(expected)) {
    const questions = parseQuestionSpecs([`rating:${scale}=1,2,3,4,5`]);
    const result = scoreJudgements({ judgements, questions });
    const q = result.questions[0]!;
    expect(q.scale).toBe(scale);
    expect(q.agreement.krippendorffMetric).toBe(scale);
    expect(q.agreement.krippendorffAlpha.toFixed(3), scale).toBe(alpha);
    const text = renderScores(result, paperTable1(), "terminal");
    expect(text).toContain(scale === "nominal" ? ` ${alpha}\n` : ` ${alpha} (${scale})`);
    expect(text).toContain(scale === "nominal" ? "Krippendorff's alpha: nominal metric." : `${scale} metric for rating.`);
    const json = JSON.parse(renderScores(result, paperTable1(), "json")) as {
      questions: Array<{ agreement: { krippendorffMetric: string } }>;
    };
    expect(json.questions[0]!.agreement.krippendorffMetric).toBe(scale);
    expect(renderScores(result, paperTable1(), "csv")).toMatch(new RegExp(`,${q.agreement.krippendorffAlpha},${scale}\\r?\\n`));
  }
});

it("interval alpha uses the labels' numbers, so unequal steps change it; ordinal uses only their order", () => {
  const relabel = { "1": "1", "2": "2", "3": "4", "4": "8", "5": "16" } as Record<string, string>;
  const stretched = judgements.map((j) => ({ ...j, label: relabel[j.label]! }));
  const score = (spec: string) => scoreJudgements({ judgements: stretched, questions: parseQuestionSpecs([spec]) }).questions[0]!.agreement;
  // Python's krippendorff package on the same data with value_domain [1, 2, 4, 8, 16]: 0.93447 and 0.81539.
  expect(score("rating:interval=1,2,4,8,16").krippendorffAlpha).toBeCloseTo(0.9344732658679384, 12);
  expect(score("rating:ordinal=1,2,4,8,16").krippendorffAlpha).toBeCloseTo(0.8153875037548814, 12);
});

it("questions pool only with questions of the same labels and the same scale", () => {
  const two = judgements.flatMap((j) => [j, { ...j, question: "other" }]);
  const same = scoreJudgements({ judgements: two, questions: parseQuestionSpecs(["rating:ordinal=1,2,3,4,5", "other:ordinal=1,2,3,4,5"]) });
  expect(same.pooled?.questions).toEqual(["rating", "other"]);
  expect(same.pooled?.krippendorffMetric).toBe("ordinal");
  const mixed = scoreJudgements({ judgements: two, questions: parseQuestionSpecs(["rating:ordinal=1,2,3,4,5", "other=1,2,3,4,5"]) });
  expect(mixed.pooled).toBeNull();
});
