import { describe, expect, it } from "vitest";
import {
  featurePrompt,
  filterPrompt,
  intentionPrompt,
  MIND_PROMPT_SETS,
  MIND_RELATIONS,
  parseRelations,
  parseVerdict,
  RELATION_NAMES,
  relationFromName,
  textOnlyFeaturePrompt,
  textOnlyFilterPrompt,
  textOnlyIntentionPrompt,
} from "../../../harness/prompts/mind.ts";
import { filterAccepted, KB_PROMPT_SETS } from "../../../harness/kb/schema.ts";

// Expected strings are the spec's text (mind.md) with its line breaks joined by one space and the placeholders filled.
const pair = { nameA: "Trail Shoes", featuresA: "light mesh shoes.", nameB: "Wool Socks", featuresB: "warm socks." };

describe("MIND prompts (spec: mind.md)", () => {
  it("stage 1, feature extraction", () => {
    expect(featurePrompt("Trail Shoes")).toBe(
      "The image contains a product and name of it is Trail Shoes. Please analyze the product image, together with the product name, provide a detailed description focusing on the product's features, design, and apparent quality. Highlight any unique characteristics or visible elements that distinguish this product from similar items. Additionally, speculate on the potential uses and benefits of this product for a consumer, based on its appearance or any information in the image and the name.",
    );
  });

  it("stage 2, intention generation, for usedFor", () => {
    expect(intentionPrompt(pair, "usedFor")).toBe(
      "The two images are two different products. The product name of the upper image is Trail Shoes. The product detail and the potential purchase intention is light mesh shoes.. The product name of the lower image is Wool Socks. The product detail and the potential purchase intention is warm socks.. Based on information provided, together with the product images, what could be the potential intention for people buying these two products in one purchase simultaneously based on the relation of they are both used for, take the image features into consideration, limit your word count within 120 words. Start with the potential co-buy intention could be they are both used for",
    );
  });

  it("stage 2 for open: the empty relation text leaves 'of ,' and a trailing space, as the original does", () => {
    const prompt = intentionPrompt(pair, "open");
    expect(prompt).toContain("simultaneously based on the relation of , take the image features into consideration");
    expect(prompt.endsWith("Start with the potential co-buy intention could be ")).toBe(true);
  });

  it("stage 3, the role-aware filter", () => {
    expect(filterPrompt(pair, "cause", "the person wants to run a marathon.")).toBe(
      "The two images are two different products. The product name of the upper image is Trail Shoes. The product detail and the potential purchase intention is light mesh shoes.. The product name of the lower image is Wool Socks. The product detail and the potential purchase intention is warm socks.. Under the relation of the person wants to, the potential co-buy intention would be the person wants to run a marathon.. If you are a consumer who are eager to buy product a or product b, would this intention encourage you to buy the two products simultaneously? be critical on your choice, output yes or no together with the reason for your answer. For example, the output should be Yes, ... or No, ...",
    );
    expect(filterPrompt(pair, "open", "x")).toContain("Under the relation of , the potential co-buy intention would be x. If you");
  });

  it("text-only stage 1 (spec: Unimodal ablation)", () => {
    expect(textOnlyFeaturePrompt("Trail Shoes")).toBe(
      "The product name is Trail Shoes. Please analyze the product name, provide a detailed description focusing on the product's features, design, and apparent quality. Highlight any unique characteristics that distinguish this product from similar items. Additionally, speculate on the potential uses and benefits of this product for a consumer, based on the name.",
    );
  });

  it("text-only stage 2, for usedFor", () => {
    expect(textOnlyIntentionPrompt(pair, "usedFor")).toBe(
      "The two products are different products. The product name of the first product is Trail Shoes. The product detail and the potential purchase intention is light mesh shoes.. The product name of the second product is Wool Socks. The product detail and the potential purchase intention is warm socks.. Based on information provided, what could be the potential intention for people buying these two products in one purchase simultaneously based on the relation of they are both used for, limit your word count within 120 words. Start with the potential co-buy intention could be they are both used for",
    );
  });

  it("text-only stage 3: the multimodal filter with the two preamble phrases replaced, nothing else", () => {
    const multimodal = filterPrompt(pair, "cause", "the person wants to run a marathon.");
    expect(textOnlyFilterPrompt(pair, "cause", "the person wants to run a marathon.")).toBe(
      multimodal
        .replace(
          "The two images are two different products. The product name of the upper image is",
          "The two products are different products. The product name of the first product is",
        )
        .replace("The product name of the lower image is", "The product name of the second product is"),
    );
    for (const set of ["text-only"] as const) {
      const texts = [
        MIND_PROMPT_SETS[set].feature("x"),
        MIND_PROMPT_SETS[set].intention(pair, "can"),
        MIND_PROMPT_SETS[set].filter(pair, "can", "y"),
      ];
      for (const text of texts) expect(text).not.toMatch(/image/i);
    }
    expect(MIND_PROMPT_SETS["text-only-image-phrased"].intention(pair, "can")).toBe(intentionPrompt(pair, "can"));
    // The KB records a prompt set by these names (kb/schema.ts): a new set needs its name there too.
    expect(Object.keys(MIND_PROMPT_SETS)).toEqual([...KB_PROMPT_SETS]);
    expect([
      MIND_PROMPT_SETS.multimodal.images,
      MIND_PROMPT_SETS["text-only"].images,
      MIND_PROMPT_SETS["text-only-image-phrased"].images,
    ]).toEqual([true, false, false]);
  });

  it("the 20 relations and their text, as in the spec's table", () => {
    expect(Object.fromEntries(MIND_RELATIONS.map((r) => [r.name, r.prompt]))).toEqual({
      can: "they both can",
      effect: "they both have an effect of",
      usedFor: "they are both used for",
      createdBy: "they are created by",
      isA: "they both are a type of",
      capableOf: "they both are capable of",
      propertyOf: "they both have a property of",
      open: "",
      cause: "the person wants to",
      mannerOf: "they both are a manner of",
      definedAs: "they both are defined as",
      partOf: "they both are a part of",
      symbolOf: "they both are symbols of",
      similarTo: "they both are similar to",
      deriveFrom: "they are derived from",
      madeOf: "they both are made of",
      distinctFrom: "they are distinct from",
      relatedTo: "they both are related to",
      other: "they both are",
      causeDesire: "the person wants his",
    });
  });
});

describe("--relations", () => {
  it("\"all\" is all 20; none given is no fan-out; keeps the spec's order, accepts the original's propertOf", () => {
    expect(parseRelations("all")).toEqual(RELATION_NAMES);
    expect(parseRelations(undefined)).toBeNull();
    expect(RELATION_NAMES).toHaveLength(20);
    expect(parseRelations("isA,can")).toEqual(["can", "isA"]);
    expect(parseRelations("propertOf")).toEqual(["propertyOf"]);
  });

  it("input files' spellings: exact names, the paper's Table 1 casing, the original's propertOf; unknown -> null", () => {
    expect(["isA", "UsedFor", "Effect", "CauseDesire", "propertOf", "PropertyOf", " open "].map(relationFromName)).toEqual([
      "isA",
      "usedFor",
      "effect",
      "causeDesire",
      "propertyOf",
      "propertyOf",
      "open",
    ]);
    expect(relationFromName("hasA")).toBeNull();
  });

  it("an unknown relation is an error that lists the known ones", () => {
    expect(() => parseRelations("can,usedfor")).toThrow(/"usedfor" is not a MIND relation.*can, effect, usedFor/);
  });
});

describe("the filter verdict", () => {
  it("yes and no at the start, whatever the case or decoration; anything else is unparsed, never guessed", () => {
    expect(parseVerdict("Yes, because they go together.")).toBe("yes");
    expect(parseVerdict("  **yes** they do")).toBe("yes");
    expect(parseVerdict("No, the intention is vague.")).toBe("no");
    expect(parseVerdict('"NO". Not really.')).toBe("no");
    expect(parseVerdict("Maybe, it depends.")).toBe("unparsed");
    expect(parseVerdict("I would say yes.")).toBe("unparsed");
    expect(parseVerdict("Yesterday I ...")).toBe("unparsed");
    expect(parseVerdict("Nobody would.")).toBe("unparsed");
    expect(parseVerdict("")).toBe("unparsed");
  });

  it("agrees with the rule build-sft applies", () => {
    for (const answer of ["Yes, x", "yes", "**Yes**", "No, x", "Maybe", "Yesterday"]) {
      expect(parseVerdict(answer) === "yes").toBe(filterAccepted(answer));
    }
  });
});
