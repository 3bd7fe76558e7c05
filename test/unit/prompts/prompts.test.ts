import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadQuestions, type Question } from "../../../harness/benchmark/intentionqa.ts";
import { buildMessages, buildPrompt, defaultDecoding, utilizationReason } from "../../../harness/prompts/intentionqa.ts";
import { intentionqaDir } from "../../helpers/paths.ts";

let task1: Question[];
let task2: Question[];
const byId = (qs: Question[], id: string) => qs.find((q) => q.id === id)!;

beforeAll(async () => {
  task1 = await loadQuestions(join(intentionqaDir(), "QA_fullInfo_task1.jsonl"), "understanding");
  task2 = await loadQuestions(join(intentionqaDir(), "QA_fullInfo_task2.jsonl"), "utilization");
});

describe("task 1 prompt (spec: intentionqa.md, Prompts)", () => {
  it("reproduces the official 4-option prompt byte for byte", () => {
    expect(buildPrompt(byId(task1, "FS_1"), "zero-shot")).toBe(
      "A customer buys Belkin USB A/A Extension Cable, USB Type-A Female and USB Type-A Male (6 Feet) and " +
        "Cable Matters 3-Pack USB Extension Cable (USB Extender Cable/USB 2.0 Extension Cable) - 3 Feet - Available 3FT - 10FT in Length. " +
        "What is the most likely intention for buying them?\n" +
        "A. because they both are a type of USB extension cable.\n" +
        'B. because they both are a manner of "Audio & Video Accessories".\n' +
        'C. because they both are related to the topic of "Army Style".\n' +
        "D. because they could both be worn as a bracelet.\n" +
        "Answer A or B or C or D only without any other word.",
    );
  });

  it("asks a 5-option question with all its letters", () => {
    const prompt = buildPrompt(byId(task1, "FS_3721"), "zero-shot");
    expect(prompt).toMatch(/\nE\. [^\n]+\nAnswer A or B or C or D or E only without any other word\.$/);
    expect(prompt.split("\n")).toHaveLength(7);
  });

  it("replaces the last line with the three chain-of-thought lines in cot modes", () => {
    const prompt = buildPrompt(byId(task1, "FS_1"), "cot");
    expect(
      prompt.endsWith(
        "D. because they could both be worn as a bracelet.\n" +
          "Formulate your answer in this way.\n" +
          "Step 1: Give a short and brief rationale by thinking step by step.\n" +
          "Step 2: Answer A or B or C or D only without any other word.",
      ),
    ).toBe(true);
    expect(buildPrompt(byId(task1, "FS_1"), "cot-sc")).toBe(prompt);
  });

  it("sends one user message and no system message", () => {
    const messages = buildMessages(byId(task1, "FS_1"), "zero-shot");
    expect(messages).toHaveLength(1);
    expect(messages[0]!.role).toBe("user");
  });
});

describe("task 2 prompt", () => {
  it("reproduces the official prompt, reason from the first 'because'", () => {
    expect(buildPrompt(byId(task2, "FS_1"), "zero-shot")).toBe(
      "A customer buys Belkin USB A/A Extension Cable, USB Type-A Female and USB Type-A Male (6 Feet), because they both are a type of USB extension cable.\n" +
        "What is the customer's most probable additional purchase?\n" +
        "A. Mighty Wallet Men's Ultra Thin Strong Tyvek Wallet by Dynomighty - Music Sheet\n" +
        "B. Metal Factory 3MM Sterling Silver Princess Cut CZ Eternity Cubic Zirconia Ring\n" +
        "C. Cable Matters 3-Pack USB Extension Cable (USB Extender Cable/USB 2.0 Extension Cable) - 3 Feet - Available 3FT - 10FT in Length\n" +
        "D. Blue Clip on Earrings Braided Rope Round Antique Women Fashion\n" +
        "Answer A or B or C or D only without any other word.",
    );
  });

  it("adds the missing full stop when the reason does not end with one", () => {
    const first = buildPrompt(byId(task2, "FS_2"), "zero-shot").split("\n")[0]!;
    expect(first.endsWith("but he had to buy a longer cable.")).toBe(true);
  });

  it("uses the 'as a result, ' assertions from that phrase on", () => {
    const question = byId(task2, "FS_299");
    expect(utilizationReason(question.assertion)).toBe(
      "as a result, the person will be able to trace the cable and find out the location of the fault in the cable.",
    );
    expect(buildPrompt(question, "zero-shot").split("\n")[0]).toBe(
      "A customer buys Triplett Fox &amp; Hound 3399 Premium Wire and Cable Tracing Kit with Tone Generator and Probe with Adjustable Sensitivity, " +
        "as a result, the person will be able to trace the cable and find out the location of the fault in the cable.",
    );
  });
});

describe("official decoding defaults", () => {
  it("match the official runs per mode", () => {
    expect(defaultDecoding("zero-shot")).toEqual({ maxTokens: 10, temperature: 0.1, topP: 1, samples: 1 });
    expect(defaultDecoding("cot")).toEqual({ maxTokens: 200, temperature: 0.1, topP: 1, samples: 1 });
    expect(defaultDecoding("cot-sc")).toEqual({ maxTokens: 200, temperature: 0.7, topP: 1, samples: 5 });
  });
});

describe("selecting questions", () => {
  it("keeps the scored set, narrows by --ids then --limit, and names unknown ids", async () => {
    const { selectQuestions } = await import("../../../harness/eval/run.ts");
    const scoredIds = task1.filter((q) => q.options.length >= 4).map((q) => q.id);
    expect(selectQuestions(task1, null, undefined, "t1")).toHaveLength(2245);
    expect(selectQuestions(task1, null, 3, "t1").map((q) => q.id)).toEqual(scoredIds.slice(0, 3));
    expect(selectQuestions(task1, ["FS_3721", "FS_1"], undefined, "t1").map((q) => q.id)).toEqual(["FS_1", "FS_3721"]);
    expect(() => selectQuestions(task1, ["FS_1", "FS_99999"], undefined, "t1")).toThrow(/--ids: 1 id\(s\) not in t1: FS_99999/);
  });
});
