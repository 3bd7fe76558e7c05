/**
 * `harness analyze robustness` (paper section 5.4.4): regenerate the intentions of a seeded
 * sample of KB rows with the stage-2 prompt that drops the instructions to use the images
 * (images still shown), embed each new intention beside its original, and report the mean
 * cosine similarity with a bootstrap interval and a histogram, beside the paper's 0.85.
 * Generation takes distill's road: same request cache identity, retries and timeouts, so a
 * rerun asks only what is missing (and `distill --stage2-prompt robustness` answers are reused).
 */
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BackendError, isFatalError, refusedRunError } from "../backends/types.ts";
import {
  type DistillSettings,
  IMAGE_LAYOUTS,
  ImageMemo,
  ImageProblem,
  intentionRequest,
  keptAnswer,
  openMindModel,
  type Product,
  readRecords,
  recordImages,
} from "../distill/regenerate.ts";
import { readKb } from "../kb/read.ts";
import { filterAccepted, type KbRow } from "../kb/schema.ts";
import {
  canonicalRelation,
  MIND_PROMPT_SETS,
  MIND_PROTOCOL_VERSION,
  type MindPromptSet,
  RELATION_NAMES,
  type RelationName,
  withStage2,
} from "../prompts/mind.ts";
import type { Asker } from "../requests/ask.ts";
import { runPool } from "../requests/concurrency.ts";
import { checkRequestCacheWritable, type OpenedEmbedder, openEmbedder } from "../requests/open-model.ts";
import { cosine } from "../stats/cosine.ts";
import { histogram } from "../stats/histogram.ts";
import { bootstrapMeanInterval } from "../stats/mean-bootstrap.ts";
import { SeededSample } from "../stats/sample.ts";
import { EXIT, errorMessage, HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";
import { type Io, processIo, stderrLog } from "../util/io.ts";
import { checkWritableDir, refuseOutputOverInput } from "../util/paths.ts";
import { checkFlag, checkUsage } from "../util/validate.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { PAPER_MEAN_COSINE, ROBUSTNESS_DEFAULTS, ROBUSTNESS_METHOD, type RobustnessConfig } from "./defaults.ts";
import { concurrencySetting } from "../util/request-flags.ts";
import {
  histogramSvg,
  histogramVegaLite,
  ROBUSTNESS_OUTPUT_FILES,
  type RobustnessPair,
  type RobustnessResult,
  renderRobustnessMarkdown,
  renderRobustnessText,
} from "./robustness-report.ts";

/** The whole `analyze robustness`: checks, regenerates, embeds, writes --out and prints the summary. */
export async function runRobustness(config: RobustnessConfig, io: Io = processIo()): Promise<RobustnessResult> {
  const interrupt = abortOnStopSignal({ reason: "abort" });
  try {
    validateRobustnessConfig(config);
    await checkOutputs(config);
    const log = stderrLog(io);
    const sampled = await pickRecords(config, log);
    const images = await openProductImages(config);
    const models = await openModels(config, interrupt.signal, log);
    const { texts, skipped } = await regenerateIntentions({ config, images, models, log }, sampled);
    const pairs = await embedAndCompare(models.embedder, regeneratedPairs(sampled, texts, skipped));
    const result = summarise(config, { sampled: sampled.length, skipped, pairs, requests: { ...models.asker.counters } });
    await writeOutputs(config, result, pairs);
    printSummary(config, result, io);
    return result;
  } finally {
    interrupt.release();
  }
}

/** Every setting checked before any file is read or any server asked; errors name the flag. */
export function validateRobustnessConfig(config: RobustnessConfig): void {
  checkUsage(config.baseUrl.length > 0, "--base-url is required: the OpenAI-compatible server that serves the vision-language model");
  checkUsage(
    config.textOnly || config.records !== undefined,
    "the robustness prompt still shows the images: give --records (distill's input, for the product images) or --text-only",
  );
  checkFlag("sample", config.sample);
  checkFlag("concurrency", config.concurrency);
  checkUsage(
    (IMAGE_LAYOUTS as readonly string[]).includes(config.imageLayout),
    `--image-layout must be one of ${IMAGE_LAYOUTS.join(", ")}`,
  );
  checkUsage(
    /^(openai|hf):./.test(config.embeddings),
    `--embeddings "${config.embeddings}": expected openai:<model> (/v1/embeddings) or hf:<model> (feature extraction)`,
  );
}

/** Every path it writes, checked now: not after the model and the embedder have been asked. */
async function checkOutputs(config: RobustnessConfig): Promise<void> {
  await checkWritableDir("--out", config.out);
  await refuseOutputOverInput({ label: "--out", path: config.out, writes: ROBUSTNESS_OUTPUT_FILES }, [
    { label: "--kb", path: config.kb },
    config.records ? { label: "--records", path: config.records } : undefined,
  ]);
}

/** One sampled KB row, and its MIND relation when it has one. */
interface Sampled {
  item: string;
  row: KbRow;
  relation: RelationName | undefined;
}

/** The sample: seeded and independent of the KB's row order. */
async function pickRecords(config: RobustnessConfig, log: (line: string) => void): Promise<Sampled[]> {
  const sample = new SeededSample<Sampled>(config.sample, config.seed);
  for await (const record of readKb(config.kb, { ...(config.kbFormat ? { format: config.kbFormat } : {}), readCriticScores: false })) {
    const row = record.row;
    if (row.Intention.trim() === "" || (config.rows === "kept" && !filterAccepted(row.Agreement))) continue;
    const relation = canonicalRelation(row.Relation);
    const known = (RELATION_NAMES as readonly string[]).includes(relation) ? (relation as RelationName) : undefined;
    sample.offer(`${row.id_a}\u0000${row.id_b}\u0000${row.Relation}\u0000${row.Intention}`, {
      item: `${relation}:${record.line}`,
      row,
      relation: known,
    });
  }
  const sampled = sample.items();
  if (sampled.length === 0) throw new HarnessError(`${config.kb}: no ${config.rows === "kept" ? "kept " : ""}intentions to sample`);
  log(`robustness: ${sampled.length} row(s) sampled from ${sample.population} (seed ${config.seed})`);
  return sampled;
}

/** The product images, shown exactly as distill showed them (its own image code), so requests match distill's. */
interface ProductImages {
  /** distill's settings for the requests: sampling, layout, padding, image limits. */
  settings: DistillSettings;
  /** The row's images, or why it has none. */
  of(row: KbRow, relation: RelationName): Promise<string[] | string>;
}

async function openProductImages(config: RobustnessConfig): Promise<ProductImages> {
  const settings: DistillSettings = {
    relations: [],
    promptSet: "multimodal",
    padImages: config.padImages,
    imageLayout: config.imageLayout,
    temperature: config.temperature,
    maxTokens: config.maxTokens,
    images: { imagesDir: "", maxBytes: ROBUSTNESS_METHOD.maxImageBytes },
    concurrency: config.concurrency,
  };
  if (config.textOnly) return { settings, of: async () => [] };
  const recordsFile = resolve(config.records!);
  settings.images.imagesDir = resolve(config.images ?? dirname(recordsFile));
  const products = new Map<string, Product>();
  for (const record of (await readRecords(recordsFile)).records) {
    for (const product of [record.a, record.b])
      if (product.image.trim() !== "" && !products.has(product.id)) products.set(product.id, product);
  }
  const memo = new ImageMemo(settings.images);
  const of = async (row: KbRow, relation: RelationName): Promise<string[] | string> => {
    const a = products.get(row.id_a);
    const b = products.get(row.id_b);
    if (!a || !b) return `no image for product ${[a ? null : row.id_a, b ? null : row.id_b].filter(Boolean).join(", ")} in --records`;
    try {
      return (await recordImages({ pairId: `${a.id}|${b.id}`, line: 0, a, b, tail: row.tail, relation }, settings, memo)).pair;
    } catch (error) {
      if (error instanceof ImageProblem) return error.message;
      throw error;
    }
  };
  return { settings, of };
}

/** The vision-language model on distill's road and the embedder, sharing one signal that stops every request. */
interface Models {
  asker: Asker;
  embedder: OpenedEmbedder;
  /** Ctrl-C: the run was interrupted (not stopped by a fatal answer). */
  interrupt: AbortSignal;
  /** Stops every request in flight: a refused key or an unknown model makes the rest pointless. */
  stopAll(): void;
}

/**
 * Regenerates through the request cache, as distill does: same identity, so answers are shared.
 * Embeddings are cached per text under the same root, so a rerun embeds only new texts.
 */
async function openModels(config: RobustnessConfig, interrupt: AbortSignal, log: (line: string) => void): Promise<Models> {
  await checkRequestCacheWritable(config.cacheDir);
  const controller = new AbortController();
  const signal = AbortSignal.any([interrupt, controller.signal]);
  const road = {
    ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
    retries: config.retries,
    timeoutMs: config.timeoutMs,
    signal,
    log,
  };
  const { asker } = await openMindModel({
    ...road,
    model: config.model,
    baseUrl: config.baseUrl,
    ...(config.apiKeyEnv ? { apiKeyEnv: config.apiKeyEnv } : {}),
    concurrency: concurrencySetting(config, ROBUSTNESS_DEFAULTS),
    preflightTimeoutMs: ROBUSTNESS_METHOD.preflightTimeoutMs,
  });
  const embedder = await openEmbedder({
    ...road,
    model: config.embeddings,
    ...(config.embeddingsBaseUrl ? { baseUrl: config.embeddingsBaseUrl } : {}),
    ...(config.embeddingsApiKeyEnv ? { apiKeyEnv: config.embeddingsApiKeyEnv } : {}),
  });
  return { asker, embedder, interrupt, stopAll: () => controller.abort() };
}

interface RegenerateContext {
  config: RobustnessConfig;
  images: ProductImages;
  models: Models;
  log: (line: string) => void;
}

type Skipped = RobustnessResult["skipped"][number];

/** Per sampled row, the regenerated intention (null: skipped); the skipped rows in a stable order. */
interface Regenerated {
  texts: Array<string | null>;
  skipped: Skipped[];
}

async function regenerateIntentions(ctx: RegenerateContext, sampled: readonly Sampled[]): Promise<Regenerated> {
  const prompts = withStage2(MIND_PROMPT_SETS.multimodal, "robustness");
  const texts: Array<string | null> = new Array(sampled.length).fill(null);
  const skipped: Skipped[] = [];
  const failures: string[] = [];
  try {
    await runPool(sampled, ctx.config.concurrency, async (entry, i) => {
      const outcome = await regenerateOne(ctx, prompts, entry);
      if ("text" in outcome) texts[i] = outcome.text;
      else if ("skip" in outcome) skipped.push({ item: entry.item, reason: outcome.skip });
      else failures.push(`${entry.item}: ${outcome.failure}`);
    });
  } catch (error) {
    if (ctx.models.interrupt.aborted)
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", {
        exitCode: EXIT.interrupted,
      });
    if (isFatalError(error)) throw refusedRunError(error);
    throw error;
  }
  if (failures.length > 0) {
    for (const f of failures.slice(0, 5)) ctx.log(`  ${f}`);
    throw new HarnessError(
      `${failures.length} intention(s) could not be regenerated after ${ctx.config.retries} retries; nothing was written. Rerun the same command: answers received so far are cached`,
      { exitCode: EXIT.partial },
    );
  }
  // Workers finish in any order: list the skipped rows in a stable one.
  skipped.sort((x, y) => (x.item < y.item ? -1 : x.item > y.item ? 1 : 0));
  return { texts, skipped };
}

/** One row: its new intention, why it was skipped, or why its request failed after its retries. */
async function regenerateOne(
  ctx: RegenerateContext,
  prompts: MindPromptSet,
  entry: Sampled,
): Promise<{ text: string } | { skip: string } | { failure: string }> {
  if (entry.relation === undefined) return { skip: `relation "${entry.row.Relation}" is not a MIND relation` };
  const images = await ctx.images.of(entry.row, entry.relation);
  if (typeof images === "string") return { skip: images };
  const pair = {
    nameA: entry.row.Product_a,
    featuresA: entry.row.product_a_desc,
    nameB: entry.row.Product_b,
    featuresB: entry.row.product_b_desc,
  };
  const request = intentionRequest(pair, entry.relation, images, ctx.images.settings, prompts);
  try {
    return { text: keptAnswer("intentions", (await ctx.models.asker.ask(request)).response.text) };
  } catch (error) {
    // A refused key or an unknown model (or a bug) stops every request in flight.
    if (isFatalError(error) || !(error instanceof BackendError)) {
      ctx.models.stopAll();
      throw error;
    }
    return { failure: errorMessage(error) };
  }
}

interface RegeneratedPair {
  entry: Sampled;
  text: string;
}

/** The rows that were regenerated, in sample order; none at all fails the run. */
function regeneratedPairs(
  sampled: readonly Sampled[],
  texts: ReadonlyArray<string | null>,
  skipped: readonly Skipped[],
): RegeneratedPair[] {
  const done = sampled.flatMap((entry, i) => (texts[i] === null ? [] : [{ entry, text: texts[i]! }]));
  if (done.length === 0)
    throw new HarnessError(`none of the ${sampled.length} sampled row(s) could be regenerated: ${skipped[0]?.reason ?? "?"}`);
  return done;
}

/** Embeds each original beside its regenerated intention, a batch at a time; cosine per pair. */
async function embedAndCompare(embedder: OpenedEmbedder, done: readonly RegeneratedPair[]): Promise<RobustnessPair[]> {
  const pairs: RobustnessPair[] = [];
  const batch = Math.max(1, Math.floor(ROBUSTNESS_METHOD.embeddingBatch / 2));
  for (let start = 0; start < done.length; start += batch) {
    const slice = done.slice(start, start + batch);
    let vectors: number[][];
    try {
      vectors = await embedder.embed(slice.flatMap(({ entry, text }) => [entry.row.Intention, text]));
    } catch (error) {
      throw new HarnessError(
        `embeddings from ${embedder.id()} failed: ${errorMessage(error)} (the regenerated intentions are cached: rerun to resume)`,
        { exitCode: EXIT.partial, cause: error },
      );
    }
    slice.forEach(({ entry, text }, j) => {
      pairs.push({
        item: entry.item,
        relation: entry.relation!,
        idA: entry.row.id_a,
        idB: entry.row.id_b,
        original: entry.row.Intention,
        regenerated: text,
        cosine: cosine(vectors[2 * j]!, vectors[2 * j + 1]!),
      });
    });
  }
  return pairs;
}

/** The numbers summary.json holds: mean, its bootstrap interval, median, range, histogram. */
function summarise(
  config: RobustnessConfig,
  run: { sampled: number; skipped: Skipped[]; pairs: readonly RobustnessPair[]; requests: RobustnessResult["requests"] },
): RobustnessResult {
  const cosines = run.pairs.map((p) => p.cosine);
  const sorted = [...cosines].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return {
    schema: "intentionqa-harness/robustness@1",
    pairs: run.pairs.length,
    sampled: run.sampled,
    requested: config.sample,
    skipped: run.skipped,
    meanCosine: cosines.reduce((a, b) => a + b, 0) / cosines.length,
    ci95: bootstrapMeanInterval(cosines, config.seed, ROBUSTNESS_METHOD.resamples),
    median: sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    paperMeanCosine: PAPER_MEAN_COSINE,
    histogram: histogram(cosines, 0, 1, ROBUSTNESS_METHOD.bins),
    config: {
      kb: config.kb,
      model: config.model,
      embeddings: config.embeddings,
      sample: config.sample,
      seed: config.seed,
      rows: config.rows,
      textOnly: config.textOnly,
      imageLayout: config.imageLayout,
      padImages: config.padImages,
      temperature: config.temperature,
      maxTokens: config.maxTokens,
      stage2Prompt: "robustness",
      harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: MIND_PROTOCOL_VERSION },
    },
    requests: run.requests,
  };
}

async function writeOutputs(config: RobustnessConfig, result: RobustnessResult, pairs: readonly RobustnessPair[]): Promise<void> {
  const out = resolve(config.out);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, "pairs.jsonl"), pairs.map((p) => `${JSON.stringify(p)}\n`).join(""));
  await writeFileAtomic(join(out, "histogram.svg"), histogramSvg(result));
  await writeFileAtomic(join(out, "histogram.vl.json"), histogramVegaLite(result));
  await writeFileAtomic(join(out, "summary.md"), renderRobustnessMarkdown(result));
  await writeFileAtomic(join(out, "summary.json"), `${JSON.stringify(result, null, 2)}\n`);
}

function printSummary(config: RobustnessConfig, result: RobustnessResult, io: Io): void {
  io.stdout.write(
    config.json
      ? `${JSON.stringify(result, null, 2)}\n`
      : `${renderRobustnessText(result)}written to ${config.out}/ (summary.json, summary.md, histogram.svg, histogram.vl.json, pairs.jsonl)\n`,
  );
}
