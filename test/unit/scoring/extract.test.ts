import { describe, expect, it } from "vitest";
import { majorityVote, officialParse, strictParse } from "../../../harness/scoring/extract.ts";
import { argmaxLetter, letterProbabilities } from "../../../harness/scoring/logprobs.ts";

const ABCD = ["A", "B", "C", "D"];

describe("official parse (spec: Answer parsing)", () => {
  it("zero-shot strips dots from both ends and takes the first character, upper-cased", () => {
    expect(officialParse("B", "zero-shot")).toBe("B");
    expect(officialParse("..c.", "zero-shot")).toBe("C");
    expect(officialParse("Answer: C", "zero-shot")).toBe("A");
    expect(officialParse("The answer is B.", "zero-shot")).toBe("T");
    expect(officialParse("", "zero-shot")).toBe(" ");
    expect(officialParse("...", "zero-shot")).toBe(" ");
  });

  it("cot takes the first non-space character after STEP 2:", () => {
    expect(officialParse("Step 1: both are cables.\nStep 2: b", "cot")).toBe("B");
    expect(officialParse("step 2:    D. because", "cot")).toBe("D");
    expect(officialParse("The answer is D", "cot")).toBe(" ");
    expect(officialParse("Step 2:", "cot-sc")).toBe(" ");
  });
});

describe("strict parse: exactly one option letter", () => {
  it.each([
    ["B", "B"],
    ["B.", "B"],
    ["(C)", "C"],
    ["D. because they both are cables", "D"],
    ["The answer is B.", "B"],
    ["Answer: C", "C"],
    ["I think the answer is option A", "A"],
    ["Both are cables, so B fits best", "B"],
  ])("reads %j as %s", (response, letter) => {
    expect(strictParse(response, ABCD, "zero-shot")).toBe(letter);
  });

  it.each([["A or B"], ["It could be A, B or C"], ["I cannot tell"], [""], ["E"]])("reads no letter from %j", (response) => {
    expect(strictParse(response, ABCD, "zero-shot")).toBeNull();
  });

  it("reads E only where E is an option", () => {
    expect(strictParse("E", [...ABCD, "E"], "zero-shot")).toBe("E");
  });

  it("reads chain-of-thought answers after the last Step 2:", () => {
    expect(strictParse("Step 1: A is a cable and B is a ring.\nStep 2: B", ABCD, "cot")).toBe("B");
  });
});

describe("cot-sc majority vote", () => {
  it("picks the most frequent letter, ties to the first seen", () => {
    expect(majorityVote(["B", "C", "C", "B", "A"])).toBe("B");
    expect(majorityVote(["D", "C", "C"])).toBe("C");
  });
  it("counts official blanks as votes but ignores strict nulls", () => {
    expect(majorityVote([" ", " ", "A"])).toBe(" ");
    expect(majorityVote([null, null, "A"])).toBe("A");
    expect(majorityVote([null])).toBeNull();
  });
});

describe("letter probabilities at the first answer token", () => {
  it("sums the spellings of each letter and ignores other tokens", () => {
    const probs = letterProbabilities(
      [
        {
          token: "B",
          logprob: Math.log(0.6),
          top: [
            { token: "B", logprob: Math.log(0.6) },
            { token: " B", logprob: Math.log(0.1) },
            { token: "A", logprob: Math.log(0.2) },
            { token: "The", logprob: Math.log(0.05) },
          ],
        },
      ],
      ABCD,
    )!;
    expect(probs["B"]).toBeCloseTo(0.7, 6);
    expect(probs["A"]).toBeCloseTo(0.2, 6);
    expect(probs["C"]).toBe(0);
    expect(argmaxLetter(probs)).toBe("B");
  });

  it("skips leading whitespace tokens and is undefined without logprobs", () => {
    const probs = letterProbabilities(
      [
        { token: " ", logprob: 0, top: [] },
        { token: "C", logprob: Math.log(0.9), top: [{ token: "C", logprob: Math.log(0.9) }] },
      ],
      ABCD,
    );
    expect(argmaxLetter(probs)).toBe("C");
    expect(letterProbabilities(undefined, ABCD)).toBeUndefined();
  });
});
