import { mkdir } from "node:fs/promises";
import { join, resolve, dirname } from "node:path";
import { createEmbeddingBackend } from "../backends/registry.ts";
import { BackendError, refusedRunError } from "../backends/types.ts";
import { canonicalRelation } from "../annotate/export.ts";
import { defaultCacheRoot } from "../benchmark/store.ts";
import { ImageProblem } from "../distill/images.ts";
import { DISTILL_DEFAULTS, IMAGE_LAYOUTS, type ImageLayout } from "../distill/defaults.ts";
import { ImageMemo, intentionRequest, isFatal, keptAnswer, recordImages, type DistillSettings } from "../distill/pipeline.ts";
import { readRecords, type Product } from "../distill/records.ts";
import { distillIdentity, openMindAsker } from "../distill/run.ts";
import { cosine } from "../stats/cosine.ts";
import { readKb, type KbFormat } from "../kb/read.ts";
import { filterAccepted, type KbRow } from "../kb/schema.ts";
import { MIND_PROMPT_SETS, MIND_PROTOCOL_VERSION, RELATION_NAMES, withStage2, type RelationName } from "../prompts/mind.ts";
import { renderGroupedBarChart } from "../render/charts.ts";
import { renderMarkdownTable, renderText, type Table } from "../render/text-table.ts";
import { RequestCache } from "../requests/cache.ts";
import { runPool } from "../requests/concurrency.ts";
import { retryPolicy, withRetry } from "../requests/retry.ts";
import { histogram, type HistogramBin } from "../stats/histogram.ts";
import { bootstrapMeanInterval } from "../stats/mean-bootstrap.ts";
import { SeededSample } from "../stats/sample.ts";
import { EXIT, errorMessage, HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkWritableDir, refuseOutputOverInput } from "../util/paths.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { PAPER_MEAN_COSINE, ROBUSTNESS_DEFAULTS } from "./defaults.ts";
import { checkUsage, checkFlag } from "../util/validate.ts";
import { escapeMarkdown } from "../util/escape.ts";

/**
 * `harness analyze robustness` (paper section 5.4.4): regenerate the intentions of a seeded
 * sample of KB rows with the stage-2 prompt that drops the instructions to use the images
 * (images still shown), embed each new intention beside its original, and report the mean
 * cosine similarity with a bootstrap interval and a histogram, beside the paper's 0.85.
 * Generation takes distill's road: same request cache identity, retries and timeouts, so a
 * rerun asks only what is missing (and `distill --stage2-prompt robustness` answers are reused).
 */

export { PAPER_MEAN_COSINE, ROBUSTNESS_DEFAULTS };

export interface RobustnessOptions {
  kb: string;
  kbFormat?: KbFormat;
  /** distill's records file: where each product's image is. */
  records?: string;
  images?: string;
  textOnly: boolean;
  imageLayout: ImageLayout;
  /** As distill's --pad-images: use what the KB was made with. */
  padImages: boolean;
  model: string;
  baseUrl: string[];
  apiKeyEnv?: string;
  embeddings: string;
  embeddingsBaseUrl?: string;
  embeddingsApiKeyEnv?: string;
  sample: number;
  seed: number;
  rows: "kept" | "all";
  temperature: number;
  maxTokens: number;
  concurrency: number;
  /** Per request, before it is aborted and retried. */
  timeoutMs: number;
  retries: number;
  cacheDir?: string;
  out: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface RobustnessPair {
  item: string;
  relation: string;
  idA: string;
  idB: string;
  original: string;
  regenerated: string;
  cosine: number;
}

export interface RobustnessResult {
  schema: "intentionqa-harness/robustness@1";
  pairs: number;
  /** Rows drawn: --sample, or every eligible row when the KB has fewer. */
  sampled: number;
  /** --sample as asked. */
  requested: number;
  /** Rows of the sample that could not be regenerated (no image, unknown relation), with why. */
  skipped: Array<{ item: string; reason: string }>;
  meanCosine: number;
  ci95: { low: number; high: number };
  median: number;
  min: number;
  max: number;
  paperMeanCosine: number;
  histogram: HistogramBin[];
  config: Record<string, unknown>;
  requests: { sent: number; cacheHits: number; retries: number; failures: number };
}

interface Sampled {
  item: string;
  row: KbRow;
  relation: RelationName | undefined;
}

/** The files `analyze robustness` writes into --out. */
const ROBUSTNESS_OUTPUT_FILES = ["pairs.jsonl", "histogram.svg", "summary.md", "summary.json"] as const;

export async function runRobustness(options: RobustnessOptions): Promise<RobustnessResult> {
  checkUsage(options.baseUrl.length > 0, "--base-url is required: the OpenAI-compatible server that serves the vision-language model");
  checkUsage(
    options.textOnly || options.records !== undefined,
    "the robustness prompt still shows the images: give --records (distill's input, for the product images) or --text-only",
  );
  checkFlag("sample", options.sample);
  checkFlag("concurrency", options.concurrency);
  checkUsage(
    (IMAGE_LAYOUTS as readonly string[]).includes(options.imageLayout),
    `--image-layout must be one of ${IMAGE_LAYOUTS.join(", ")}`,
  );
  checkUsage(
    /^(openai|hf):./.test(options.embeddings),
    `--embeddings "${options.embeddings}": expected openai:<model> (/v1/embeddings) or hf:<model> (feature extraction)`,
  );
  // Every path it writes, checked now: not after the model and the embedder have been asked.
  await checkWritableDir("--out", options.out);
  await refuseOutputOverInput({ label: "--out", path: options.out, writes: ROBUSTNESS_OUTPUT_FILES }, [
    { label: "--kb", path: options.kb },
    options.records ? { label: "--records", path: options.records } : undefined,
  ]);
  const log = options.log ?? (() => undefined);
  // Built before any generation, so a bad embeddings setting fails first.
  const embedder = createEmbeddingBackend(options.embeddings, {
    ...(options.embeddingsBaseUrl ? { baseUrl: options.embeddingsBaseUrl } : {}),
    ...(options.embeddingsApiKeyEnv ? { apiKeyEnv: options.embeddingsApiKeyEnv } : {}),
  });

  // 1. The sample: seeded and independent of the KB's row order.
  const sample = new SeededSample<Sampled>(options.sample, options.seed);
  for await (const record of readKb(options.kb, { ...(options.kbFormat ? { format: options.kbFormat } : {}), readCriticScores: false })) {
    const row = record.row;
    if (row.Intention.trim() === "" || (options.rows === "kept" && !filterAccepted(row.Agreement))) continue;
    const relation = canonicalRelation(row.Relation);
    const known = (RELATION_NAMES as readonly string[]).includes(relation) ? (relation as RelationName) : undefined;
    sample.offer(`${row.id_a}\u0000${row.id_b}\u0000${row.Relation}\u0000${row.Intention}`, {
      item: `${relation}:${record.line}`,
      row,
      relation: known,
    });
  }
  const sampled = sample.items();
  if (sampled.length === 0) throw new HarnessError(`${options.kb}: no ${options.rows === "kept" ? "kept " : ""}intentions to sample`);
  log(`robustness: ${sampled.length} row(s) sampled from ${sample.population} (seed ${options.seed})`);

  // 2. Images, exactly as distill showed them (its own image code), so requests match distill's.
  const products = new Map<string, Product>();
  const settings: DistillSettings = {
    relations: [],
    promptSet: "multimodal",
    padImages: options.padImages,
    imageLayout: options.imageLayout,
    temperature: options.temperature,
    maxTokens: options.maxTokens,
    images: { imagesDir: "", maxBytes: ROBUSTNESS_DEFAULTS.maxImageBytes },
    concurrency: options.concurrency,
  };
  if (!options.textOnly) {
    const recordsFile = resolve(options.records!);
    settings.images.imagesDir = resolve(options.images ?? dirname(recordsFile));
    for (const record of (await readRecords(recordsFile)).records) {
      for (const product of [record.a, record.b])
        if (product.image.trim() !== "" && !products.has(product.id)) products.set(product.id, product);
    }
  }
  const memo = new ImageMemo(settings.images);
  const skipped: RobustnessResult["skipped"] = [];
  const imagesFor = async (row: KbRow, relation: RelationName): Promise<string[] | string> => {
    if (options.textOnly) return [];
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
  const prompts = withStage2(MIND_PROMPT_SETS.multimodal, "robustness");

  // 3. Regenerate through the request cache, as distill does.
  const identity = distillIdentity(options.model);
  const cacheRoot = options.cacheDir ? resolve(options.cacheDir) : defaultCacheRoot();
  await checkWritableDir(options.cacheDir ? "--cache-dir" : "cache directory", join(cacheRoot, "requests"));
  const cache = RequestCache.open(join(cacheRoot, "requests"), identity);
  const controller = new AbortController();
  const stop = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const asker = await openMindAsker({ ...options, preflightTimeoutMs: DISTILL_DEFAULTS.preflightTimeoutMs }, cache, stop);
  const regenerated: Array<string | null> = new Array(sampled.length).fill(null);
  const failures: string[] = [];
  try {
    await runPool(sampled, options.concurrency, async (entry, i) => {
      if (entry.relation === undefined) {
        skipped.push({ item: entry.item, reason: `relation "${entry.row.Relation}" is not a MIND relation` });
        return;
      }
      const images = await imagesFor(entry.row, entry.relation);
      if (typeof images === "string") {
        skipped.push({ item: entry.item, reason: images });
        return;
      }
      const pair = {
        nameA: entry.row.Product_a,
        featuresA: entry.row.product_a_desc,
        nameB: entry.row.Product_b,
        featuresB: entry.row.product_b_desc,
      };
      const request = intentionRequest(pair, entry.relation, images, settings, prompts);
      try {
        regenerated[i] = keptAnswer("intentions", (await asker.ask(request)).response.text);
      } catch (error) {
        if (isFatal(error) || !(error instanceof BackendError)) {
          controller.abort();
          throw error;
        }
        failures.push(`${entry.item}: ${errorMessage(error)}`);
      }
    });
  } catch (error) {
    if (options.signal?.aborted)
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", {
        exitCode: EXIT.interrupted,
      });
    if (isFatal(error)) throw refusedRunError(error);
    throw error;
  }
  if (failures.length > 0) {
    for (const f of failures.slice(0, 5)) log(`  ${f}`);
    throw new HarnessError(
      `${failures.length} intention(s) could not be regenerated after ${options.retries} retries; nothing was written. Rerun the same command: answers received so far are cached`,
      { exitCode: EXIT.partial },
    );
  }

  // Workers finish in any order: list the skipped rows in a stable one.
  skipped.sort((x, y) => (x.item < y.item ? -1 : x.item > y.item ? 1 : 0));

  // 4. Embed original and regenerated intentions; cosine per pair.
  const done = sampled.flatMap((entry, i) => (regenerated[i] === null ? [] : [{ entry, text: regenerated[i]! }]));
  if (done.length === 0)
    throw new HarnessError(`none of the ${sampled.length} sampled row(s) could be regenerated: ${skipped[0]?.reason ?? "?"}`);
  const pairs: RobustnessPair[] = [];
  const batch = Math.max(1, Math.floor(ROBUSTNESS_DEFAULTS.embeddingBatch / 2));
  for (let start = 0; start < done.length; start += batch) {
    const slice = done.slice(start, start + batch);
    const texts = slice.flatMap(({ entry, text }) => [entry.row.Intention, text]);
    let vectors: number[][];
    try {
      vectors = await withRetry((signal) => embedder.embed(texts, { signal }), retryPolicy({ retries: options.retries }), { signal: stop });
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

  // 5. Summary.
  const cosines = pairs.map((p) => p.cosine);
  const sorted = [...cosines].sort((a, b) => a - b);
  const mean = cosines.reduce((a, b) => a + b, 0) / cosines.length;
  const mid = sorted.length >> 1;
  const result: RobustnessResult = {
    schema: "intentionqa-harness/robustness@1",
    pairs: pairs.length,
    sampled: sampled.length,
    requested: options.sample,
    skipped,
    meanCosine: mean,
    ci95: bootstrapMeanInterval(cosines, options.seed, ROBUSTNESS_DEFAULTS.resamples),
    median: sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2,
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    paperMeanCosine: PAPER_MEAN_COSINE,
    histogram: histogram(cosines, 0, 1, ROBUSTNESS_DEFAULTS.bins),
    config: {
      kb: options.kb,
      model: options.model,
      embeddings: options.embeddings,
      sample: options.sample,
      seed: options.seed,
      rows: options.rows,
      textOnly: options.textOnly,
      imageLayout: options.imageLayout,
      padImages: options.padImages,
      temperature: options.temperature,
      maxTokens: options.maxTokens,
      stage2Prompt: "robustness",
      harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: MIND_PROTOCOL_VERSION },
    },
    requests: { ...asker.counters },
  };
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, "pairs.jsonl"), pairs.map((p) => `${JSON.stringify(p)}\n`).join(""));
  await writeFileAtomic(join(out, "histogram.svg"), histogramSvg(result));
  await writeFileAtomic(join(out, "summary.md"), renderRobustnessMarkdown(result));
  await writeFileAtomic(join(out, "summary.json"), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "—");

export function summaryTable(result: RobustnessResult): Table {
  return {
    headers: ["", "Pairs", "Mean cosine", "95% CI", "Median", "Min", "Max"],
    rows: [
      [
        "this run",
        `${result.pairs}${result.pairs < result.sampled ? ` of ${result.sampled}` : ""}`,
        f3(result.meanCosine),
        `${f3(result.ci95.low)}-${f3(result.ci95.high)}`,
        f3(result.median),
        f3(result.min),
        f3(result.max),
      ],
      ["paper (5.4.4, SentenceBERT)", "100", f3(result.paperMeanCosine), "—", "—", "—", "—"],
    ],
  };
}

/** A text histogram of the non-empty range, one row per bin. */
export function textHistogram(bins: readonly HistogramBin[], width = 40): string {
  const first = bins.findIndex((b) => b.count > 0);
  if (first < 0) return "(no pairs)";
  const last = bins.length - 1 - [...bins].reverse().findIndex((b) => b.count > 0);
  const most = Math.max(...bins.map((b) => b.count));
  return bins
    .slice(first, last + 1)
    .map((b) => `${b.low.toFixed(2)}-${b.high.toFixed(2)} ${"#".repeat(Math.round((b.count / most) * width)).padEnd(width)} ${b.count}`)
    .join("\n");
}

function notes(result: RobustnessResult): string[] {
  const out = [
    `Embeddings: ${String(result.config["embeddings"])} (the paper used SentenceBERT; the number depends on the embedding model).`,
    `Bootstrap: percentile interval of the mean, ${ROBUSTNESS_DEFAULTS.resamples} resamples, seed ${String(result.config["seed"])}.`,
  ];
  if (result.sampled < result.requested)
    out.push(`The KB has ${result.sampled} eligible row(s), fewer than --sample ${result.requested}: all of them were used.`);
  if (result.skipped.length > 0)
    out.push(
      `PARTIAL: ${result.skipped.length} of ${result.sampled} sampled row(s) skipped (${result.skipped[0]!.reason}${result.skipped.length > 1 ? ", ..." : ""}); see summary.json.`,
    );
  return out;
}

export function renderRobustnessText(result: RobustnessResult): string {
  return `Robustness to the stage-2 prompt (paper section 5.4.4)\n\n${renderText(summaryTable(result))}\n\nCosine similarity, regenerated vs original intention:\n${textHistogram(result.histogram)}\n\n${notes(
    result,
  )
    .map((n) => `  ${n}`)
    .join("\n")}\n`;
}

export function renderRobustnessMarkdown(result: RobustnessResult): string {
  return `# Robustness to the stage-2 prompt (paper section 5.4.4)\n\n${renderMarkdownTable(summaryTable(result))}\n\n![histogram](histogram.svg)\n\n\`\`\`\n${textHistogram(result.histogram)}\n\`\`\`\n\n${notes(
    result,
  )
    .map((n) => `- ${escapeMarkdown(n)}`)
    .join("\n")}\n`;
}

export function histogramSvg(result: RobustnessResult): string {
  const first = Math.max(
    0,
    result.histogram.findIndex((b) => b.count > 0),
  );
  const bins = result.histogram.slice(Math.min(first, result.histogram.length - 1));
  return renderGroupedBarChart({
    title: `Cosine similarity, regenerated vs original intention (n = ${result.pairs}; mean ${f3(result.meanCosine)}, paper ${f3(result.paperMeanCosine)})`,
    groups: bins.map((b) => `${b.low.toFixed(2)}`),
    series: [
      { name: "pairs", values: bins.map((b) => ({ value: b.count, tooltip: `${b.low.toFixed(2)}-${b.high.toFixed(2)}: ${b.count}` })) },
    ],
    yLabel: "pairs",
    yMin: 0,
    decimals: 0,
  });
}
