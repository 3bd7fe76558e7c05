import { BackendError, isFatalError, type ChatRequest, type ContentPart, type RequestMessage } from "../backends/types.ts";
import type { KbRow } from "../kb/schema.ts";
import {
  MIND_PROMPT_SETS,
  parseVerdict,
  withStage2,
  type MindPromptSet,
  type MindPromptSetName,
  type PairContext,
  type RelationName,
  type Stage2Prompt,
  type Verdict,
} from "../prompts/mind.ts";
import { runPoolStream } from "../requests/concurrency.ts";
import { errorMessage } from "../util/errors.ts";
import {
  firstImageInFolder,
  ImageProblem,
  isFolderRef,
  loadImage,
  padToSquare,
  resolveImagePath,
  stackImages,
  toDataUrl,
  type ImageOptions,
  type LoadedImage,
} from "./images.ts";
import type { CoBuyRecord, Product } from "./records.ts";
import type { ImageLayout } from "./defaults.ts";

export const MIND_STEPS = ["features", "intentions", "filter"] as const;
export type MindStep = (typeof MIND_STEPS)[number];

export interface DistillSettings {
  /** The relations a bare pair (a record with no relation) is fanned out over; a record with a relation gets one intention, under it. */
  relations: readonly RelationName[];
  /** Which prompts are asked; a set without images reads and sends no image. */
  promptSet: MindPromptSetName;
  imageLayout: ImageLayout;
  /** Pad every image to a square as LLaVA's "pad" preprocessing does, before it is sent. */
  padImages: boolean;
  /**
   * With a prompt set without images: still skip a record whose product has no image file in its
   * image folder (FolkScope's <id>/), so a text-only run distills the same rows as a multimodal one.
   */
  requireImageFolders?: boolean;
  temperature: number;
  maxTokens: number;
  images: ImageOptions;
  /** Records worked on at once; the answerer bounds the requests in flight. */
  concurrency: number;
  /** The stage-2 wording (default original; robustness: paper section 5.4.4). */
  stage2Prompt?: Stage2Prompt;
}

/** Thrown by an answerer that has no answer yet (offline modes): the chain waits for a later run. */
export class NotAnswered extends Error {
  constructor(readonly step: MindStep) {
    super(`not answered yet (${step})`);
    this.name = "NotAnswered";
  }
}

/**
 * Where answers come from: a model through the Asker, or only the cache (emit-batch and the final
 * offline run). Returns the model's text; throws NotAnswered or the request's final error.
 */
export interface Answerer {
  answer(step: MindStep, request: ChatRequest): Promise<string>;
}

/** One generated intention, in KB column layout, with the filter's verdict. */
export interface DistilledRow {
  row: KbRow;
  verdict: Verdict;
}

export type RecordOutcome =
  | { status: "done"; record: CoBuyRecord; rows: DistilledRow[] }
  | { status: "skipped"; record: CoBuyRecord; reason: string }
  | { status: "pending"; record: CoBuyRecord; waiting: MindStep[] }
  | { status: "failed"; record: CoBuyRecord; error: string };

// ---------------------------------------------------------------- requests (pure)

function userMessage(text: string, images: readonly string[]): RequestMessage[] {
  if (images.length === 0) return [{ role: "user", content: text }];
  const parts: ContentPart[] = [...images.map((url): ContentPart => ({ type: "image_url", image_url: { url } })), { type: "text", text }];
  return [{ role: "user", content: parts }];
}

function request(text: string, images: readonly string[], settings: Pick<DistillSettings, "temperature" | "maxTokens">): ChatRequest {
  return { messages: userMessage(text, images), maxTokens: settings.maxTokens, temperature: settings.temperature, sampleIndex: 0 };
}

type Sampling = Pick<DistillSettings, "temperature" | "maxTokens">;

/** Step 1 request: the product's own image (none in text-only mode) then the prompt. */
export function featureRequest(
  product: Product,
  image: string | null,
  settings: Sampling,
  prompts: MindPromptSet = MIND_PROMPT_SETS.multimodal,
): ChatRequest {
  return request(prompts.feature(product.name), image === null ? [] : [image], settings);
}

export function intentionRequest(
  pair: PairContext,
  relation: RelationName,
  images: readonly string[],
  settings: Sampling,
  prompts: MindPromptSet = MIND_PROMPT_SETS.multimodal,
): ChatRequest {
  return request(prompts.intention(pair, relation), images, settings);
}

export function filterRequest(
  pair: PairContext,
  relation: RelationName,
  intention: string,
  images: readonly string[],
  settings: Sampling,
  prompts: MindPromptSet = MIND_PROMPT_SETS.multimodal,
): ChatRequest {
  return request(prompts.filter(pair, relation, intention), images, settings);
}

/** The relations a record is distilled under: its own (one intention per row) or the fan-out list. */
export function relationsOf(record: CoBuyRecord, settings: Pick<DistillSettings, "relations">): readonly RelationName[] {
  return record.relation === null ? settings.relations : [record.relation];
}

/** The model's text as the original keeps it: stripped of surrounding whitespace and a stray "</s>". */
export function cleanAnswer(text: string): string {
  return text.replace(/<\/s>/g, "").trim();
}

/**
 * The longest answer a KB cell takes (characters): a server that ignores max_tokens can answer up
 * to the 64 MiB body cap, and a KB row of such cells would be a line that build-sft refuses to
 * read (16 MiB). A longer answer fails its record, by cause, instead of writing that row.
 */
export const MAX_ANSWER_CHARS = 256 * 1024;

function tooLong(step: MindStep, text: string): string | null {
  return text.length > MAX_ANSWER_CHARS
    ? `the server's ${step} answer is ${text.length} characters, more than the ${MAX_ANSWER_CHARS} a KB cell takes (does it ignore max_tokens?)`
    : null;
}

/** cleanAnswer, refusing an answer too long for a KB cell (a bad-response of that record). */
export function keptAnswer(step: MindStep, text: string): string {
  const clean = cleanAnswer(text);
  const problem = tooLong(step, clean);
  if (problem !== null) throw new BackendError("bad-response", problem);
  return clean;
}

// ---------------------------------------------------------------- the run

/** A bounded memo of promises: the oldest entry goes when it is full; a rejection is kept (and not reported as unhandled). */
class BoundedMemo<T> {
  private readonly entries = new Map<string, Promise<T>>();
  constructor(private readonly limit: number) {}

  get(key: string, make: () => Promise<T>): Promise<T> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = make();
      entry.catch(() => undefined);
      this.entries.set(key, entry);
      if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }
}

/**
 * Images in flight: a product's image is read once, and a pair's images (stacked, padded, encoded)
 * built once, while its records are in flight (FolkScope rows of one pair usually come together).
 * Records in flight hold their images anyway; this only spares redoing the work.
 */
export class ImageMemo {
  private readonly loads = new BoundedMemo<LoadedImage>(64);
  readonly pairs = new BoundedMemo<RecordImages>(32);
  constructor(private readonly options: ImageOptions) {}

  get(ref: string): Promise<LoadedImage> {
    const key = ref.trim() === "" ? "" : resolveImagePath(ref, this.options.imagesDir);
    return this.loads.get(key, () => loadImage(ref, this.options));
  }
}

export interface RecordImages {
  featureA: string | null;
  featureB: string | null;
  /** What the intention and filter prompts show. */
  pair: string[];
}

export function recordImages(record: CoBuyRecord, settings: DistillSettings, memo: ImageMemo): Promise<RecordImages> {
  return memo.pairs.get(`${record.a.image}\u0000${record.b.image}`, () => buildRecordImages(record, settings, memo));
}

async function buildRecordImages(record: CoBuyRecord, settings: DistillSettings, memo: ImageMemo): Promise<RecordImages> {
  if (!MIND_PROMPT_SETS[settings.promptSet].images) {
    if (settings.requireImageFolders) {
      for (const product of [record.a, record.b]) {
        if (isFolderRef(product.image))
          await firstImageInFolder(resolveImagePath(product.image.replace(/\/+$/, ""), settings.images.imagesDir));
      }
    }
    return { featureA: null, featureB: null, pair: [] };
  }
  const [a, b] = await Promise.all([memo.get(record.a.image), memo.get(record.b.image)]);
  // What the original's model saw: each image (step 1) and the stacked pair padded to a square.
  const shown = (image: LoadedImage) => (settings.padImages ? padToSquare(image) : Promise.resolve(image));
  const featureA = toDataUrl(await shown(a));
  const featureB = toDataUrl(await shown(b));
  if (settings.imageLayout === "pair") return { featureA, featureB, pair: [featureA, featureB] };
  return { featureA, featureB, pair: [toDataUrl(await shown(await stackImages(a, b)))] };
}

/**
 * allSettled that rethrows what must stop the run (a fatal backend error, an interrupt, a bug) and
 * otherwise hands back what waited (NotAnswered) or failed after its retries (BackendError).
 */
async function settle<T>(promises: ReadonlyArray<Promise<T>>): Promise<Array<PromiseSettledResult<T>>> {
  const results = await Promise.allSettled(promises);
  const stop = results.find(
    (r): r is PromiseRejectedResult =>
      r.status === "rejected" && (isFatalError(r.reason) || !(r.reason instanceof BackendError || r.reason instanceof NotAnswered)),
  );
  if (stop) throw stop.reason;
  return results;
}

async function distillRecord(record: CoBuyRecord, settings: DistillSettings, answerer: Answerer, memo: ImageMemo): Promise<RecordOutcome> {
  let images: RecordImages;
  try {
    images = await recordImages(record, settings, memo);
  } catch (error) {
    if (error instanceof ImageProblem) return { status: "skipped", record, reason: error.message };
    throw error;
  }
  const waiting = new Set<MindStep>();
  const errors: string[] = [];
  const note = (result: PromiseRejectedResult) => {
    if (result.reason instanceof NotAnswered) waiting.add(result.reason.step);
    else errors.push(errorMessage(result.reason));
  };
  const prompts = withStage2(MIND_PROMPT_SETS[settings.promptSet], settings.stage2Prompt);
  const [featuresA, featuresB] = await settle([
    answerer.answer("features", featureRequest(record.a, images.featureA, settings, prompts)),
    answerer.answer("features", featureRequest(record.b, images.featureB, settings, prompts)),
  ]);
  for (const r of [featuresA!, featuresB!]) if (r.status === "rejected") note(r);
  if (featuresA!.status === "rejected" || featuresB!.status === "rejected") {
    return errors.length > 0
      ? { status: "failed", record, error: errors.join("; ") }
      : { status: "pending", record, waiting: [...waiting] };
  }
  const overlong = tooLong("features", cleanAnswer(featuresA!.value)) ?? tooLong("features", cleanAnswer(featuresB!.value));
  if (overlong !== null) return { status: "failed", record, error: overlong };
  const pair: PairContext = {
    nameA: record.a.name,
    featuresA: cleanAnswer(featuresA!.value),
    nameB: record.b.name,
    featuresB: cleanAnswer(featuresB!.value),
  };
  // The original skips a row whose product has no stage-1 description.
  for (const [product, features] of [
    [record.a, pair.featuresA],
    [record.b, pair.featuresB],
  ] as const) {
    if (features === "") return { status: "skipped", record, reason: `product ${product.id}: no stage-1 description (empty answer)` };
  }
  const chains = await settle(
    relationsOf(record, settings).map(async (relation): Promise<DistilledRow> => {
      const intention = keptAnswer(
        "intentions",
        await answerer.answer("intentions", intentionRequest(pair, relation, images.pair, settings, prompts)),
      );
      const agreement = keptAnswer(
        "filter",
        await answerer.answer("filter", filterRequest(pair, relation, intention, images.pair, settings, prompts)),
      );
      return {
        verdict: parseVerdict(agreement),
        row: {
          id_a: record.a.id,
          id_b: record.b.id,
          Product_a: record.a.name,
          Product_b: record.b.name,
          Relation: relation,
          product_a_desc: pair.featuresA,
          product_b_desc: pair.featuresB,
          Intention: intention,
          tail: record.tail,
          Agreement: agreement,
        },
      };
    }),
  );
  const rows: DistilledRow[] = [];
  for (const chain of chains) {
    if (chain.status === "fulfilled") rows.push(chain.value);
    else note(chain);
  }
  if (errors.length > 0) return { status: "failed", record, error: [...new Set(errors)].join("; ") };
  if (waiting.size > 0) return { status: "pending", record, waiting: MIND_STEPS.filter((s) => waiting.has(s)) };
  return { status: "done", record, rows };
}

/**
 * Runs MIND's three steps (features, intentions, filter) over the records (an array, or a stream read as lanes free up) and hands each record's outcome to `onOutcome` in record
 * order (its rows in relation order), whatever the concurrency, so a caller can stream the KB. A
 * record does not start while it is more than `window` records ahead of the oldest unfinished one,
 * which bounds the outcomes held back for ordering. A fatal backend error (rejected key, unknown
 * model), an interrupt or a bug stops the run and is thrown; other failures are per record.
 */
export async function distillRecords(
  records: Iterable<CoBuyRecord> | AsyncIterable<CoBuyRecord>,
  settings: DistillSettings,
  answerer: Answerer,
  onOutcome: (outcome: RecordOutcome, index: number) => void,
  window = Math.max(64, 8 * settings.concurrency),
): Promise<void> {
  const memo = new ImageMemo(settings.images);
  const held = new Map<number, RecordOutcome>();
  let next = 0;
  let stopped = false;
  let wakeUp: Array<() => void> = [];
  const wakeAll = () => {
    const waiting = wakeUp;
    wakeUp = [];
    for (const resolve of waiting) resolve();
  };
  await runPoolStream(records, settings.concurrency, async (record, index) => {
    while (!stopped && index - next >= window) await new Promise<void>((resolve) => wakeUp.push(resolve));
    if (stopped) return;
    try {
      held.set(index, await distillRecord(record, settings, answerer, memo));
      while (held.has(next)) {
        const outcome = held.get(next)!;
        held.delete(next);
        onOutcome(outcome, next);
        next += 1;
      }
    } catch (error) {
      // Lanes waiting for this record would wait forever: release them so the pool can settle.
      stopped = true;
      throw error;
    } finally {
      wakeAll();
    }
  });
}
