import { filterAccepted } from "../kb/schema.ts";
import { usageError } from "../util/errors.ts";

/**
 * The MIND distillation prompts (spec: mind.md, from HKUST-KnowComp/MIND_Distillation). Bumped
 * whenever a prompt, a relation text or the request shape changes, so old cached answers are not reused.
 */
export const MIND_PROTOCOL_VERSION = "mind-2";

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

export function relationPrompt(relation: RelationName): string {
  return MIND_RELATIONS.find((r) => r.name === relation)!.prompt;
}

/**
 * A relation as an input file spells it -> the relation, or null when unknown. Exact names first
 * (the original's relation_prompt keys); then, case-insensitively, the paper's Table 1 spelling
 * ("Effect", "UsedFor"); the original's misspelling "propertOf" is propertyOf (same text).
 */
export function relationFromName(raw: string): RelationName | null {
  const name = raw.trim();
  const exact = RELATION_NAMES.find((r) => r === name);
  if (exact) return exact;
  const lower = name.toLowerCase();
  if (lower === "propertof") return "propertyOf";
  return RELATION_NAMES.find((r) => r.toLowerCase() === lower) ?? null;
}

/** A relation as written -> its MIND name where it is one (as relationFromName), else as written, trimmed. */
export function canonicalRelation(raw: string): string {
  return relationFromName(raw) ?? raw.trim();
}

/**
 * `--relations can,isA` -> those relations in the spec's order; "all" -> all 20; undefined -> null
 * (no fan-out asked for). The original's misspelling "propertOf" is accepted as propertyOf.
 */
export function parseRelations(spec: string | undefined): RelationName[] | null {
  if (spec === undefined) return null;
  if (spec.trim() === "all") return [...RELATION_NAMES];
  const wanted = new Set<RelationName>();
  for (const raw of spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const known = raw === "propertOf" ? "propertyOf" : RELATION_NAMES.find((r) => r === raw);
    if (!known)
      throw usageError(
        `--relations: "${raw}" is not a MIND relation; expected "all" or a comma-separated list of: ${RELATION_NAMES.join(", ")}`,
      );
    wanted.add(known);
  }
  if (wanted.size === 0) throw usageError(`--relations: empty; expected "all" or a comma-separated list of: ${RELATION_NAMES.join(", ")}`);
  return RELATION_NAMES.filter((r) => wanted.has(r));
}

// ---------------------------------------------------------------- the multimodal prompts (the original's)

/** Step 1 (features), once per product (image + name). */
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
 * Step-2 wordings (named after the --stage2-prompt flag): the original, and the paper's robustness check (section 5.4.4), which drops
 * the instructions to rely on the images ("together with the product images", "take the image
 * features into consideration") while the images are still shown.
 */
export const STAGE2_PROMPTS = ["original", "robustness"] as const;
export type Stage2Prompt = (typeof STAGE2_PROMPTS)[number];

/** Step 2 (intentions), once per input row (or per pair and relation when fanned out). For "open" the relation text is empty, as in the original. */
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

/** The step-3 question after the preamble; shared by every prompt set. */
function filterQuestion(relation: RelationName, intention: string): string {
  return (
    `Under the relation of ${relationPrompt(relation)}, the potential co-buy intention would be ${intention}. ` +
    `If you are a consumer who are eager to buy product a or product b, would this intention encourage you to buy the two products simultaneously? ` +
    `be critical on your choice, output yes or no together with the reason for your answer. For example, the output should be Yes, ... or No, ...`
  );
}

/** Step 3 (filter), the human-centric role-aware filter, once per generated intention. */
export function filterPrompt(pair: PairContext, relation: RelationName, intention: string): string {
  return `${pairPreamble(pair)} ${filterQuestion(relation, intention)}`;
}

// ---------------------------------------------------------------- the text-only prompts (spec: "Unimodal ablation")

/** Step 1 with every reference to the image removed. */
export function textOnlyFeaturePrompt(name: string): string {
  return (
    `The product name is ${name}. Please analyze the product name, ` +
    `provide a detailed description focusing on the product's features, design, and apparent quality. ` +
    `Highlight any unique characteristics that distinguish this product from similar items. ` +
    `Additionally, speculate on the potential uses and benefits of this product for a consumer, based on the name.`
  );
}

function textOnlyPairPreamble(pair: PairContext): string {
  return (
    `The two products are different products. The product name of the first product is ${pair.nameA}. ` +
    `The product detail and the potential purchase intention is ${pair.featuresA}. ` +
    `The product name of the second product is ${pair.nameB}. ` +
    `The product detail and the potential purchase intention is ${pair.featuresB}.`
  );
}

export function textOnlyIntentionPrompt(pair: PairContext, relation: RelationName): string {
  const rel = relationPrompt(relation);
  return (
    `${textOnlyPairPreamble(pair)} Based on information provided, ` +
    `what could be the potential intention for people buying these two products in one purchase simultaneously based on the relation of ${rel}, ` +
    `limit your word count within 120 words. ` +
    `Start with the potential co-buy intention could be ${rel}`
  );
}

export function textOnlyFilterPrompt(pair: PairContext, relation: RelationName, intention: string): string {
  return `${textOnlyPairPreamble(pair)} ${filterQuestion(relation, intention)}`;
}

// ---------------------------------------------------------------- prompt sets

/** The three steps' prompts, as one set: distill asks with one set, and the KB records its name. */
export interface MindPromptSet {
  /** Whether the prompts are sent with images. */
  images: boolean;
  feature(name: string): string;
  intention(pair: PairContext, relation: RelationName): string;
  filter(pair: PairContext, relation: RelationName, intention: string): string;
}

/**
 * multimodal: the original's prompts with images. text-only: the spec's text-only wording, no
 * images (the unimodal ablation). text-only-image-phrased: the original's prompts ("the upper
 * image") sent with no image, as this harness did before the text-only wording existed.
 */
export const MIND_PROMPT_SETS = {
  multimodal: { images: true, feature: featurePrompt, intention: intentionPrompt, filter: filterPrompt },
  "text-only": { images: false, feature: textOnlyFeaturePrompt, intention: textOnlyIntentionPrompt, filter: textOnlyFilterPrompt },
  "text-only-image-phrased": { images: false, feature: featurePrompt, intention: intentionPrompt, filter: filterPrompt },
} as const satisfies Record<string, MindPromptSet>;

export type MindPromptSetName = keyof typeof MIND_PROMPT_SETS;

/** A prompt set with its step-2 wording swapped for a variant (distill --stage2-prompt, analyze robustness). */
export function withStage2(set: MindPromptSet, variant: Stage2Prompt = "original"): MindPromptSet {
  return variant === "original" ? set : { ...set, intention: (pair, relation) => intentionPrompt(pair, relation, variant) };
}
export const MIND_PROMPT_SET_NAMES = Object.keys(MIND_PROMPT_SETS) as MindPromptSetName[];

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
