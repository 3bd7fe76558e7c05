import { filterAccepted } from "../kb/schema.ts";
import { HarnessError } from "../util/errors.ts";

/**
 * The MIND distillation prompts (spec: mind.md, from HKUST-KnowComp/MIND_Distillation). Bumped
 * whenever a prompt, a relation text or the request shape changes, so old cached answers are not reused.
 */
export const MIND_PROTOCOL_VERSION = "mind-1";

/** Original sampling: temperature 0.2, max_new_tokens 512. */
export const MIND_DEFAULT_SAMPLING = { temperature: 0.2, maxTokens: 512 } as const;

/** The 20 relations and the text each puts into the prompts, in the spec's order ("open" is empty). */
export const MIND_RELATIONS = [
  { name: "can", prompt: "they both can" },
  { name: "effect", prompt: "they both have an effect of" },
  { name: "usedFor", prompt: "they are both used for" },
  { name: "createdBy", prompt: "they are created by" },
  { name: "isA", prompt: "they both are a type of" },
  { name: "capableOf", prompt: "they both are capable of" },
  { name: "propertyOf", prompt: "they both have a property of" },
  { name: "open", prompt: "" },
  { name: "cause", prompt: "the person wants to" },
  { name: "mannerOf", prompt: "they both are a manner of" },
  { name: "definedAs", prompt: "they both are defined as" },
  { name: "partOf", prompt: "they both are a part of" },
  { name: "symbolOf", prompt: "they both are symbols of" },
  { name: "similarTo", prompt: "they both are similar to" },
  { name: "deriveFrom", prompt: "they are derived from" },
  { name: "madeOf", prompt: "they both are made of" },
  { name: "distinctFrom", prompt: "they are distinct from" },
  { name: "relatedTo", prompt: "they both are related to" },
  { name: "other", prompt: "they both are" },
  { name: "causeDesire", prompt: "the person wants his" },
] as const;

export type RelationName = (typeof MIND_RELATIONS)[number]["name"];
export const RELATION_NAMES: readonly RelationName[] = MIND_RELATIONS.map((r) => r.name);

/**
 * The paper's Table 1: kept intentions per relation, in the paper's row order and spelling.
 * Stats print the run's counts in this layout, beside the paper's numbers.
 */
export const PAPER_TABLE1: ReadonlyArray<{ relation: RelationName; label: string; kept: number }> = [
  { relation: "effect", label: "Effect", kept: 97_047 },
  { relation: "mannerOf", label: "MannerOf", kept: 50_563 },
  { relation: "isA", label: "isA", kept: 62_069 },
  { relation: "other", label: "Other", kept: 545 },
  { relation: "madeOf", label: "MadeOf", kept: 40_593 },
  { relation: "similarTo", label: "SimilarTo", kept: 63_558 },
  { relation: "usedFor", label: "UsedFor", kept: 52_383 },
  { relation: "can", label: "Can", kept: 90_392 },
  { relation: "causeDesire", label: "CauseDesire", kept: 95_097 },
  { relation: "relatedTo", label: "RelatedTo", kept: 64_152 },
  { relation: "partOf", label: "PartOf", kept: 81_230 },
  { relation: "open", label: "Open", kept: 122_296 },
  { relation: "createdBy", label: "CreatedBy", kept: 35_723 },
  { relation: "deriveFrom", label: "DeriveFrom", kept: 60_347 },
  { relation: "definedAs", label: "DefinedAs", kept: 51_680 },
  { relation: "propertyOf", label: "PropertyOf", kept: 57_947 },
  { relation: "capableOf", label: "CapableOf", kept: 86_772 },
  { relation: "cause", label: "Cause", kept: 61_860 },
  { relation: "symbolOf", label: "SymbolOf", kept: 64_477 },
  { relation: "distinctFrom", label: "DistinctFrom", kept: 27_710 },
];

export function relationPrompt(relation: RelationName): string {
  return MIND_RELATIONS.find((r) => r.name === relation)!.prompt;
}

/**
 * `--relations can,isA` -> those relations in the spec's order; undefined or "all" -> all 20.
 * The original's misspelling "propertOf" is accepted as propertyOf (same text).
 */
export function parseRelations(spec: string | undefined): RelationName[] {
  if (spec === undefined || spec.trim() === "" || spec.trim() === "all") return [...RELATION_NAMES];
  const wanted = new Set<RelationName>();
  for (const raw of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const name = raw === "propertOf" ? "propertyOf" : raw;
    const known = RELATION_NAMES.find((r) => r === name);
    if (!known) throw new HarnessError(`--relations: "${raw}" is not a MIND relation; expected a comma-separated list of: ${RELATION_NAMES.join(", ")}`, { exitCode: 2 });
    wanted.add(known);
  }
  return RELATION_NAMES.filter((r) => wanted.has(r));
}

/** Stage 1, once per product (image + name). */
export function featurePrompt(name: string): string {
  return (
    `The image contains a product and name of it is ${name}. Please analyze the product image, together with the product name, ` +
    `provide a detailed description focusing on the product's features, design, and apparent quality. ` +
    `Highlight any unique characteristics or visible elements that distinguish this product from similar items. ` +
    `Additionally, speculate on the potential uses and benefits of this product for a consumer, based on its appearance or any information in the image and the name.`
  );
}

export interface PairContext {
  nameA: string;
  featuresA: string;
  nameB: string;
  featuresB: string;
}

function pairPreamble(pair: PairContext): string {
  return (
    `The two images are two different products. The product name of the upper image is ${pair.nameA}. ` +
    `The product detail and the potential purchase intention is ${pair.featuresA}. ` +
    `The product name of the lower image is ${pair.nameB}. ` +
    `The product detail and the potential purchase intention is ${pair.featuresB}.`
  );
}

/**
 * Stage-2 wordings: the original, and the paper's robustness check (section 5.4.4), which drops
 * the instructions to rely on the images ("together with the product images", "take the image
 * features into consideration") while the images are still shown.
 */
export const STAGE2_PROMPTS = ["original", "robustness"] as const;
export type Stage2Prompt = (typeof STAGE2_PROMPTS)[number];

/** Stage 2, once per (pair, relation). For "open" the relation text is empty, as in the original. */
export function intentionPrompt(pair: PairContext, relation: RelationName, variant: Stage2Prompt = "original"): string {
  const rel = relationPrompt(relation);
  const original = variant === "original";
  return (
    `${pairPreamble(pair)} Based on information provided, ${original ? "together with the product images, " : ""}` +
    `what could be the potential intention for people buying these two products in one purchase simultaneously based on the relation of ${rel}, ` +
    `${original ? "take the image features into consideration, " : ""}limit your word count within 120 words. ` +
    `Start with the potential co-buy intention could be ${rel}`
  );
}

/** Stage 3, the human-centric role-aware filter, once per generated intention. */
export function filterPrompt(pair: PairContext, relation: RelationName, intention: string): string {
  return (
    `${pairPreamble(pair)} Under the relation of ${relationPrompt(relation)}, the potential co-buy intention would be ${intention}. ` +
    `If you are a consumer who are eager to buy product a or product b, would this intention encourage you to buy the two products simultaneously? ` +
    `be critical on your choice, output yes or no together with the reason for your answer. For example, the output should be Yes, ... or No, ...`
  );
}

export type Verdict = "yes" | "no" | "unparsed";

/**
 * The filter's answer: "yes" when it starts with yes (the rule build-sft applies, filterAccepted),
 * "no" when it starts with no, and "unparsed" for anything else: never guessed.
 */
export function parseVerdict(answer: string): Verdict {
  if (filterAccepted(answer)) return "yes";
  if (/^\s*["'*]*no\b/i.test(answer)) return "no";
  return "unparsed";
}
