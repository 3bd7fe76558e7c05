import { expect, it } from "vitest";
import { intentionPrompt } from "../../../harness/prompts/mind.ts";
import { histogram } from "../../../harness/stats/histogram.ts";
import { bootstrapMeanInterval } from "../../../harness/stats/mean-bootstrap.ts";
import { SeededSample } from "../../../harness/stats/sample.ts";

const pair = { nameA: "Trail Shoes", featuresA: "light mesh shoes.", nameB: "Wool Socks", featuresB: "warm socks." };

it("the robustness stage-2 prompt is the original without the two image instructions (mind.md, paper 5.4.4)", () => {
  expect(intentionPrompt(pair, "usedFor", "robustness")).toBe(
    "The two images are two different products. The product name of the upper image is Trail Shoes. The product detail and the potential purchase intention is light mesh shoes.. The product name of the lower image is Wool Socks. The product detail and the potential purchase intention is warm socks.. Based on information provided, what could be the potential intention for people buying these two products in one purchase simultaneously based on the relation of they are both used for, limit your word count within 120 words. Start with the potential co-buy intention could be they are both used for",
  );
  const original = intentionPrompt(pair, "usedFor");
  expect(original.replace("together with the product images, ", "").replace("take the image features into consideration, ", "")).toBe(
    intentionPrompt(pair, "usedFor", "robustness"),
  );
  expect(intentionPrompt(pair, "usedFor", "original")).toBe(original);
});

it("bootstrap interval of a mean: seeded, around the mean, degenerate for a constant sample", () => {
  const values = [0.7, 0.8, 0.9, 0.95, 0.6, 0.85];
  const a = bootstrapMeanInterval(values, 1);
  expect(bootstrapMeanInterval(values, 1)).toEqual(a);
  const mean = values.reduce((x, y) => x + y, 0) / values.length;
  expect(a.low).toBeLessThan(mean);
  expect(a.high).toBeGreaterThan(mean);
  expect(bootstrapMeanInterval([0.5, 0.5, 0.5], 3)).toEqual({ low: 0.5, high: 0.5 });
});

it("histogram: a value on a bin edge starts its bin; 1.0 is in the last bin", () => {
  const bins = histogram([0.85, 0.849, 1, 0], 0, 1, 20);
  expect(bins[17]!.count).toBe(1);
  expect(bins[16]!.count).toBe(1);
  expect(bins[19]!.count).toBe(1);
  expect(bins[0]!.count).toBe(1);
});

it("seeded sample: independent of row order, and a smaller sample lies inside a larger one", () => {
  const keys = Array.from({ length: 200 }, (_, i) => `row${i}`);
  const take = (size: number, order: string[]) => {
    const sample = new SeededSample<string>(size, 9);
    for (const key of order) sample.offer(key, key);
    return sample.items();
  };
  const forward = take(10, keys);
  expect(take(10, [...keys].reverse())).toEqual(forward);
  expect(take(30, keys).slice(0, 10)).toEqual(forward);
  expect(take(10, keys)).not.toEqual(new SeededSample<string>(10, 10).items());
});

it("a prompt set with the robustness stage 2 (distill --stage2-prompt robustness) changes stage 2 only", async () => {
  const { MIND_PROMPT_SETS, withStage2 } = await import("../../../harness/prompts/mind.ts");
  const robust = withStage2(MIND_PROMPT_SETS.multimodal, "robustness");
  expect(robust.intention(pair, "can")).toBe(intentionPrompt(pair, "can", "robustness"));
  expect(robust.feature("x")).toBe(MIND_PROMPT_SETS.multimodal.feature("x"));
  expect(robust.filter(pair, "can", "i")).toBe(MIND_PROMPT_SETS.multimodal.filter(pair, "can", "i"));
  expect(robust.images).toBe(true);
  expect(withStage2(MIND_PROMPT_SETS.multimodal)).toBe(MIND_PROMPT_SETS.multimodal);
});
