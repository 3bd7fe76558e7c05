import { expect, it } from "vitest";
import { classifierInput, classifierScore, judgePrompt, judgeRequest, judgeScore } from "../../../harness/critic/judge.ts";
import type { KbRow } from "../../../harness/kb/schema.ts";

const row: KbRow = {
  id_a: "A",
  id_b: "B",
  Product_a: "Trail Shoes",
  Product_b: "Wool Socks",
  Relation: "usedFor",
  product_a_desc: "",
  product_b_desc: "",
  Intention: "the potential co-buy intention could be they are both used for running.",
  tail: "",
  Agreement: "Yes",
};

it("the judge prompt (docs/critic.md) and its greedy request", () => {
  expect(judgePrompt(row, "logprobs")).toBe(
    "Two products were bought together.\nProduct A: Trail Shoes\nProduct B: Wool Socks\nA proposed intention for buying them together: the potential co-buy intention could be they are both used for running.\nIs this intention typical: an informative, specific reason that would cause a customer to buy these two products together? Answer Yes or No.",
  );
  expect(judgeRequest(row, "logprobs")).toMatchObject({ maxTokens: 1, temperature: 0, topLogprobs: 20 });
  expect(judgeRequest(row, "number").topLogprobs).toBeUndefined();
  expect(
    judgePrompt(row, "number").endsWith(
      "Rate its typicality from 0 (not typical at all) to 1 (very typical). Answer with the number only.",
    ),
  ).toBe(true);
});

it("logprobs score: P(Yes) / (P(Yes) + P(No)) over the first token's alternatives, spellings summed", () => {
  const tokens = [
    {
      token: "Yes",
      logprob: Math.log(0.6),
      top: [
        { token: "Yes", logprob: Math.log(0.6) },
        { token: " yes", logprob: Math.log(0.1) },
        { token: "No.", logprob: Math.log(0.2) },
        { token: "Maybe", logprob: Math.log(0.1) },
      ],
    },
  ];
  const reading = judgeScore({ text: "Yes", tokens }, "logprobs");
  expect("score" in reading && reading.score).toBeCloseTo(0.7 / 0.9, 12);
  expect(judgeScore({ text: "Yes" }, "logprobs")).toEqual({ unscored: expect.stringContaining("no logprobs") as string });
  expect(judgeScore({ text: "Hmm", tokens: [{ token: "Hmm", logprob: 0, top: [{ token: "Hmm", logprob: 0 }] }] }, "logprobs")).toEqual({
    unscored: expect.stringContaining("neither Yes nor No") as string,
  });
});

it("number score: the first number, only in 0..1", () => {
  expect(judgeScore({ text: "0.85" }, "number")).toEqual({ score: 0.85 });
  expect(judgeScore({ text: "Score: .7 out of 1" }, "number")).toEqual({ score: 0.7 });
  expect("unscored" in judgeScore({ text: "8/10" }, "number")).toBe(true);
  expect("unscored" in judgeScore({ text: "very typical" }, "number")).toBe(true);
  // Parts of other notations are not the number: these read as 0, 1, 0, 0.5 and 0.5 before.
  for (const text of ["0,8", "1/2", "0x1", "0.5%", "0.5abc"]) expect("unscored" in judgeScore({ text }, "number"), text).toBe(true);
  expect(judgeScore({ text: "1 (very typical)." }, "number")).toEqual({ score: 1 });
  expect(judgeScore({ text: "-0" }, "number")).toEqual({ score: -0 });
  expect(judgeScore({ text: "Typicality: 0.25." }, "number")).toEqual({ score: 0.25 });
});

it("classifier score: the named label, or the only one; the template fills every placeholder", () => {
  const answer = {
    text: JSON.stringify([
      { label: "typical", score: 0.9 },
      { label: "atypical", score: 0.1 },
    ]),
  };
  expect(classifierScore(answer, "typical")).toEqual({ score: 0.9 });
  expect(classifierScore(answer, undefined)).toEqual({ unscored: expect.stringContaining("name one with --label") as string });
  expect(classifierScore({ text: JSON.stringify([{ label: "LABEL_0", score: 0.42 }]) }, undefined)).toEqual({ score: 0.42 });
  expect(classifierScore({ text: JSON.stringify([{ label: "LABEL_0", score: 3.2 }]) }, undefined)).toEqual({
    unscored: expect.stringContaining("not in 0..1") as string,
  });
  expect(classifierInput("{relation}: {product_a} + {product_b} -> {intention}", row)).toBe(
    `usedFor: Trail Shoes + Wool Socks -> ${row.Intention}`,
  );
});
