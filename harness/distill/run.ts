import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { chatCompletionBody, OpenAIBackend } from "../backends/openai.ts";
import { PooledBackend } from "../backends/server-pool.ts";
import type { BackendIdentity, ChatRequest } from "../backends/types.ts";
import { defaultCacheRoot } from "../benchmark/store.ts";
import { KB_META, KbWriter } from "../kb/write.ts";
import {
  MIND_DEFAULT_SAMPLING,
  MIND_PROTOCOL_VERSION,
  parseRelations,
  type MindPromptSetName,
  type RelationName,
  type Stage2Prompt,
} from "../prompts/mind.ts";
import { renderText } from "../reports/text-table.ts";
import { Asker } from "../requests/ask.ts";
import { requestKey, RequestCache } from "../requests/cache.ts";
import { Progress } from "../requests/progress.ts";
import { DEFAULT_RETRY_POLICY } from "../requests/retry.ts";
import { HarnessError } from "../util/errors.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";
import { processIo, type Io } from "../util/io.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { StagedFile } from "../util/staged-output.ts";
import { checkWritableDir, checkWritableFile } from "../util/paths.ts";
import { checkHttpUrl, checkKeyVariable, checkNumber, MAX_TIMEOUT_SECONDS } from "../util/validate.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { CacheOnlyAnswerer, LiveAnswerer } from "./answerers.ts";
import { batchInputLine, ingestBatch } from "./batch.ts";
import { PAD_COLOUR } from "./images.ts";
import {
  distillRecords,
  IMAGE_LAYOUTS,
  isFatal,
  type Answerer,
  type DistillSettings,
  type ImageLayout,
  type RecordOutcome,
  type Stage,
} from "./pipeline.ts";
import { parseShard, shardOf, streamRecords, UnitCheck, type CoBuyRecord, type RecordLayout } from "./records.ts";
import {
  paperTotalNote,
  preserveRateChart,
  relationTable,
  renderStatsMarkdown,
  StatsAccumulator,
  type DistillStats,
  type DistillUnit,
} from "./stats.ts";

export interface DistillArgs {
  records: string;
  images?: string;
  model: string;
  baseUrl?: string[];
  apiKeyEnv?: string;
  out: string;
  relations?: string;
  textOnly: boolean;
  /** With --text-only: "text" (the spec's text-only wording) or "image-phrased" (the original's prompts, no image). */
  textPrompts?: string;
  imageLayout: ImageLayout;
  /** Pad images to squares as LLaVA's "pad" preprocessing does (--no-pad-images: the server pads). */
  padImages?: boolean;
  /** Stage-2 wording; undefined is the original. */
  stage2Prompt?: Stage2Prompt;
  maxImageBytes: number;
  temperature: number;
  maxTokens: number;
  concurrency: number;
  timeout: number;
  retries: number;
  shard?: string;
  emitBatch?: string;
  ingestBatch?: string;
  cacheDir?: string;
  progress?: boolean;
}

export const TEXT_PROMPTS = ["text", "image-phrased"] as const;

export const DISTILL_DEFAULTS = {
  imageLayout: "stacked" as ImageLayout,
  padImages: true,
  textPrompts: "text" as (typeof TEXT_PROMPTS)[number],
  maxImageBytes: 20 * 1024 * 1024,
  temperature: MIND_DEFAULT_SAMPLING.temperature,
  maxTokens: MIND_DEFAULT_SAMPLING.maxTokens,
  concurrency: 16,
  timeoutSeconds: 300,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
};

export type { Io };

function check(condition: boolean, message: string): void {
  if (!condition) throw new HarnessError(message, { exitCode: 2 });
}

/** Distill's cache identity names the model only: every server of a pool and any batch engine share answers. */
export function distillIdentity(model: string): BackendIdentity {
  return { kind: "openai", model };
}

function validate(args: DistillArgs): void {
  check(
    typeof args.model === "string" && args.model.trim() !== "",
    "--model is required: the vision-language model the server serves (also names the request cache)",
  );
  check(Number.isInteger(args.concurrency) && args.concurrency >= 1, `--concurrency must be an integer >= 1, got ${args.concurrency}`);
  check(Number.isInteger(args.retries) && args.retries >= 0, `--retries must be an integer >= 0, got ${args.retries}`);
  check(args.timeout > 0, `--timeout must be > 0 seconds, got ${args.timeout}`);
  check(Number.isInteger(args.maxTokens) && args.maxTokens >= 1, `--max-tokens must be an integer >= 1, got ${args.maxTokens}`);
  check(args.temperature >= 0, `--temperature must be >= 0, got ${args.temperature}`);
  check(
    Number.isInteger(args.maxImageBytes) && args.maxImageBytes >= 1,
    `--max-image-bytes must be an integer >= 1, got ${args.maxImageBytes}`,
  );
  check(
    (IMAGE_LAYOUTS as readonly string[]).includes(args.imageLayout),
    `--image-layout must be one of ${IMAGE_LAYOUTS.join(", ")}, got ${args.imageLayout}`,
  );
  check(
    !(args.emitBatch && args.baseUrl && args.baseUrl.length > 0),
    "--emit-batch writes requests for an offline engine; leave out --base-url (or drop --emit-batch to ask the servers)",
  );
  check(
    !(args.stage2Prompt === "robustness" && args.textOnly),
    "--stage2-prompt robustness drops the instructions to use the images the model is shown: it needs images (leave out --text-only)",
  );
  if (args.textPrompts !== undefined) {
    check(args.textOnly, `--text-prompts chooses the wording of --text-only runs; add --text-only or leave it out`);
    check(
      (TEXT_PROMPTS as readonly string[]).includes(args.textPrompts),
      `--text-prompts must be one of ${TEXT_PROMPTS.join(", ")}, got ${args.textPrompts}`,
    );
  }
  checkNumber("temperature", args.temperature, { min: 0, max: 2 });
  checkNumber("timeout", args.timeout, { min: 0, minExclusive: true, max: MAX_TIMEOUT_SECONDS });
  for (const url of args.baseUrl ?? []) checkHttpUrl("base-url", url);
  if ((args.baseUrl ?? []).length > 0) checkKeyVariable("api-key-env", args.apiKeyEnv);
}

/** Every path distill writes, checked before the first record is read. */
async function checkOutputs(args: DistillArgs): Promise<void> {
  if (args.emitBatch) await checkWritableFile("--emit-batch", args.emitBatch);
  else await checkWritableDir("--out", args.out);
  await checkWritableDir(
    args.cacheDir ? "--cache-dir" : "cache directory",
    join(args.cacheDir ? resolve(args.cacheDir) : defaultCacheRoot(), "requests"),
  );
}

/** --text-only and --text-prompts -> the prompt set distill asks with. */
export function promptSetOf(args: Pick<DistillArgs, "textOnly" | "textPrompts">): MindPromptSetName {
  if (!args.textOnly) return "multimodal";
  return (args.textPrompts ?? DISTILL_DEFAULTS.textPrompts) === "image-phrased" ? "text-only-image-phrased" : "text-only";
}

/**
 * The unit of distillation, from the first record and --relations. Records with a relation
 * (FolkScope rows) get one intention each, under it; --relations then keeps only the rows of those
 * relations. Bare pairs are fanned out over --relations, which must then be given: fan-out is never
 * a default.
 */
export function planUnit(
  first: CoBuyRecord,
  chosen: RelationName[] | null,
  file: string,
): { unit: DistillUnit; fanOut: RelationName[]; relationFilter: RelationName[] | null } {
  if (first.relation !== null) return { unit: "row", fanOut: [], relationFilter: chosen };
  if (chosen === null) {
    throw new HarnessError(
      `${file}: the records carry no relation. The original makes one intention per FolkScope row under the row's relation (give the FolkScope CSV, or a "relation" field); to ask every pair under several relations, say so with --relations all or --relations can,isA,...`,
      { exitCode: 2 },
    );
  }
  return { unit: "fan-out", fanOut: chosen, relationFilter: null };
}

type Plan = ReturnType<typeof planUnit>;
type Shard = ReturnType<typeof parseShard>;

const inPlan = (record: CoBuyRecord, plan: Plan) => plan.relationFilter === null || plan.relationFilter.includes(record.relation!);
const inShard = (record: CoBuyRecord, shard: Shard) => shard === null || shardOf(record.pairId, shard.count) === shard.index;

/** What a first streaming pass over the records learns, holding none of them: every record is valid (or it throws), the plan, and counts. */
interface RecordsSurvey {
  layout: RecordLayout;
  plan: Plan;
  /** Records in the file; of them, those --relations keeps; of those, the ones in this shard. */
  total: number;
  kept: number;
  selected: number;
}

async function surveyRecords(file: string, chosen: RelationName[] | null, shard: Shard): Promise<RecordsSurvey> {
  let layout: RecordLayout = "records-jsonl";
  let plan: Plan | undefined;
  const unit = new UnitCheck(file);
  let total = 0;
  let kept = 0;
  let selected = 0;
  for await (const record of streamRecords(file, (l) => (layout = l))) {
    unit.check(record);
    plan ??= planUnit(record, chosen, file);
    total += 1;
    if (!inPlan(record, plan)) continue;
    kept += 1;
    if (inShard(record, shard)) selected += 1;
  }
  if (!plan) throw new HarnessError(`--records ${file}: no records`);
  if (kept === 0) throw new HarnessError(`--relations ${chosen!.join(",")}: no row of ${file} has one of these relations`, { exitCode: 2 });
  return { layout, plan, total, kept, selected };
}

/** The second pass: this run's records, streamed in file order. */
async function* selectedRecords(file: string, plan: Plan, shard: Shard): AsyncGenerator<CoBuyRecord> {
  for await (const record of streamRecords(file)) if (inPlan(record, plan) && inShard(record, shard)) yield record;
}

const stageCounts = (counts: Record<Stage, number>) =>
  `features ${counts.features}, intentions ${counts.intentions}, filter ${counts.filter}`;

export interface DistillOutcome {
  /** "kb": the KB was written; "emitted": a batch file was written (or nothing was left to emit). */
  result: "kb" | "emitted";
  stats: DistillStats;
}

/** The whole `harness distill`. */
export async function runDistill(args: DistillArgs, io: Io = processIo()): Promise<DistillOutcome> {
  validate(args);
  await checkOutputs(args);
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const shard = parseShard(args.shard);
  const chosenRelations = parseRelations(args.relations);
  const recordsFile = resolve(args.records);
  // Two streaming passes: the first validates every record and counts (nothing is asked of a
  // file with a bad line), the second feeds the pipeline; neither holds the file in memory.
  const survey = await surveyRecords(recordsFile, chosenRelations, shard);
  const { plan } = survey;
  const input = { layout: survey.layout };
  const records = selectedRecords(recordsFile, plan, shard);
  const relations = plan.fanOut;
  const unit = plan.unit;
  const promptSet = promptSetOf(args);
  const padImages = args.padImages ?? DISTILL_DEFAULTS.padImages;
  const out = resolve(args.out);
  const settings: DistillSettings = {
    relations,
    promptSet,
    padImages,
    // A text-only run over FolkScope rows keeps to the rows a multimodal run can distill, when told where the images are.
    requireImageFolders: args.images !== undefined,
    imageLayout: args.imageLayout,
    temperature: args.temperature,
    maxTokens: args.maxTokens,
    images: { imagesDir: resolve(args.images ?? dirname(recordsFile)), maxBytes: args.maxImageBytes },
    concurrency: args.concurrency,
    ...(args.stage2Prompt ? { stage2Prompt: args.stage2Prompt } : {}),
  };
  const unitText =
    unit === "row"
      ? `one intention per row under its relation${plan.relationFilter ? ` (rows of ${plan.relationFilter.join(",")} only: ${survey.kept} of ${survey.total})` : ""}`
      : `fan-out over ${relations.length} relation(s)`;
  const imagesText =
    promptSet === "multimodal"
      ? `images ${args.imageLayout}${padImages ? ", padded to squares" : ", not padded"}`
      : `no images, prompts ${promptSet}`;
  log(
    `distill: ${survey.selected} record(s)${shard ? ` in shard ${args.shard} of ${survey.kept}` : ""} (${input.layout}), ${unitText}, ${imagesText}`,
  );

  const identity = distillIdentity(args.model);
  const cacheRoot = args.cacheDir ? resolve(args.cacheDir) : defaultCacheRoot();
  const cache = RequestCache.open(join(cacheRoot, "requests"), identity, log);
  const keyOf = (request: ChatRequest) => requestKey(identity, request, MIND_PROTOCOL_VERSION);

  if (args.ingestBatch) {
    const summary = await ingestBatch(resolve(args.ingestBatch), cache);
    log(`ingest-batch: ${summary.answered} answer(s) cached (${stageCounts(summary.perStage)}), ${summary.errors.length} error line(s)`);
    for (const e of summary.errors.slice(0, 5)) log(`  ${e.customId}: ${e.message}`);
    const others = summary.models.filter((m) => m !== args.model);
    if (others.length > 0)
      log(`warning: the batch answers name model(s) ${others.join(", ")}, not --model ${args.model}; they are cached under --model`);
  }

  const interrupt = abortOnStopSignal();
  const progress =
    args.progress === false
      ? undefined
      : new Progress({ label: "distill", total: survey.selected, stream: io.stderr, ...(args.progress ? { interactive: true } : {}) });
  let batch: StagedFile | undefined;
  let kb: KbWriter | undefined;
  try {
    let answerer: Answerer;
    let asker: Asker | undefined;
    let offline: CacheOnlyAnswerer | undefined;
    const baseUrls = args.baseUrl ?? [];
    if (args.emitBatch) {
      await mkdir(dirname(resolve(args.emitBatch)), { recursive: true });
      const file = new StagedFile(resolve(args.emitBatch));
      batch = file;
      offline = new CacheOnlyAnswerer(cache, keyOf, (stage, key, request) =>
        file.write(`${batchInputLine(stage, key, chatCompletionBody(args.model, request))}\n`),
      );
      answerer = offline;
    } else if (baseUrls.length > 0) {
      const apiKey = process.env[args.apiKeyEnv ?? "OPENAI_API_KEY"];
      const pool = new PooledBackend(
        baseUrls.map((baseUrl) => new OpenAIBackend({ model: args.model, baseUrl, ...(apiKey ? { apiKey } : {}) })),
        identity,
      );
      await pool.preflight(AbortSignal.any([interrupt.signal, AbortSignal.timeout(30_000)]));
      asker = new Asker({
        backend: pool,
        cache,
        protocolVersion: MIND_PROTOCOL_VERSION,
        retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: args.retries + 1, timeoutMs: Math.round(args.timeout * 1000) },
        signal: interrupt.signal,
      });
      answerer = new LiveAnswerer(asker, args.concurrency);
    } else {
      offline = new CacheOnlyAnswerer(cache, keyOf);
      answerer = offline;
    }

    // A rejected key or an unknown model stops every request in flight at once, not lane by lane.
    const inner = answerer;
    answerer = {
      answer: (stage, request) =>
        inner.answer(stage, request).catch((error: unknown) => {
          if (isFatal(error) && !interrupt.signal.aborted) interrupt.abort(error);
          throw error;
        }),
    };
    // Rows stream to temp files in record order; the KB's final names appear only on success.
    if (!batch) kb = await KbWriter.open(out);
    const accumulator = new StatsAccumulator(relations, unit);
    const failed: Array<Extract<RecordOutcome, { status: "failed" }>> = [];
    let failedCount = 0;
    await distillRecords(records, settings, answerer, (outcome) => {
      accumulator.add(outcome);
      if (outcome.status === "failed") {
        failedCount += 1;
        if (failed.length < 5) failed.push(outcome);
      }
      if (outcome.status === "done")
        kb?.append(outcome.rows.map((r) => ({ ...r.row, verdict: r.verdict, text_only: args.textOnly, prompt_set: promptSet, unit })));
      if (asker) progress?.note(`sent ${asker.counters.sent}, cached ${asker.counters.cacheHits}, retries ${asker.counters.retries}`);
      progress?.tick();
    }).finally(() => progress?.finish());
    const stats = accumulator.result();
    if (stats.records.skipped > 0)
      log(`${stats.records.skipped} record(s) skipped for their images (reasons in skipped.jsonl and stats once the KB is written)`);

    if (batch) {
      // Nothing to emit leaves no file: an empty batch input would look like work to do.
      batch.commit({ keepIfEmpty: false });
      const emitted = batch.writes;
      batch = undefined;
      if (emitted === 0) {
        log(`emit-batch: nothing to emit, every request is answered; run without --emit-batch to write the KB`);
      } else {
        log(`emit-batch: wrote ${emitted} request(s) (${stageCounts(offline!.missingPerStage)}) to ${resolve(args.emitBatch!)}`);
        log(
          `next: run the file with a batch engine (e.g. vllm run-batch -i ${args.emitBatch} -o answers.jsonl --model ${args.model}), then rerun with --ingest-batch answers.jsonl (add --emit-batch again for the next stage)`,
        );
      }
      return { result: "emitted", stats };
    }

    if (failedCount > 0) {
      for (const f of failed) log(`  ${recordsFile}:${f.record.line} (${f.record.pairId}): ${f.error}`);
      throw new HarnessError(
        `${failedCount} record(s) ended in API errors after ${args.retries} retries; no KB was written. Rerun the same command: answers received so far are cached and only the rest are asked`,
        { exitCode: 3 },
      );
    }
    if (offline && offline.missingCount > 0) {
      throw new HarnessError(
        `${offline.missingCount} request(s) are not answered yet (${stageCounts(offline.missingPerStage)}) and no --base-url was given; no KB was written. Give --base-url to ask a server, or --emit-batch FILE to export them for a batch engine`,
        { exitCode: 3 },
      );
    }

    // An empty KB must not look like a finished one.
    if (stats.records.distilled === 0) {
      const reasons = Object.entries(stats.skippedReasons)
        .map(([reason, n]) => `${n} x ${reason}`)
        .join(", ");
      throw new HarnessError(
        `every one of the ${stats.records.total} record(s) was skipped${reasons ? ` (${reasons})` : ""}; no KB was written. Check --images and the records' image paths, or use --text-only`,
      );
    }
    if (stats.intentions.kept === 0) {
      throw new HarnessError(
        `no intention was kept: ${stats.intentions.generated} generated, ${stats.intentions.rejected} rejected by the filter, ${stats.intentions.unparsed} unreadable; no KB was written`,
      );
    }

    const context = {
      model: args.model,
      promptSet,
      imageLayout: args.imageLayout,
      padImages,
      shard: args.shard ?? null,
      records: args.records,
    };
    const meta = {
      schema: "intentionqa-harness/mind-kb-meta@1",
      createdAt: new Date().toISOString(),
      harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: MIND_PROTOCOL_VERSION },
      model: args.model,
      records: { file: args.records, layout: input.layout, shard: args.shard ?? null },
      unit,
      // fan-out: the relations every pair was asked under; row: null (each row's own), and the --relations filter if any.
      relations: unit === "fan-out" ? relations : null,
      rowRelationFilter: plan.relationFilter,
      promptSet,
      textOnly: args.textOnly,
      images:
        promptSet === "multimodal"
          ? {
              layout: args.imageLayout,
              paddedToSquare: padImages,
              padColour: padImages ? [PAD_COLOUR.r, PAD_COLOUR.g, PAD_COLOUR.b] : null,
            }
          : null,
      sampling: { temperature: args.temperature, maxTokens: args.maxTokens },
      rows: kb!.rows,
    };
    const statsJson = {
      schema: "intentionqa-harness/distill-stats@1",
      createdAt: new Date().toISOString(),
      harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: MIND_PROTOCOL_VERSION },
      config: {
        ...context,
        textOnly: args.textOnly,
        recordsLayout: input.layout,
        unit,
        relations: meta.relations,
        rowRelationFilter: meta.rowRelationFilter,
        temperature: args.temperature,
        maxTokens: args.maxTokens,
        maxImageBytes: args.maxImageBytes,
        concurrency: args.concurrency,
        servers: baseUrls.length,
        ingestedBatch: args.ingestBatch ?? null,
        stage2Prompt: args.stage2Prompt ?? "original",
      },
      requests: asker ? { ...asker.counters } : { sent: 0, cacheHits: offline?.cacheHits ?? 0, retries: 0, failures: 0 },
      ...stats,
    };
    await writeFileAtomic(join(out, "skipped.jsonl"), stats.skipped.map((s) => `${JSON.stringify(s)}\n`).join(""));
    await writeFileAtomic(join(out, "stats.json"), `${JSON.stringify(statsJson, null, 2)}\n`);
    await writeFileAtomic(join(out, "stats.md"), renderStatsMarkdown(stats, context));
    await writeFileAtomic(join(out, "preserve_rate.svg"), preserveRateChart(stats));
    await writeFileAtomic(join(out, KB_META), `${JSON.stringify(meta, null, 2)}\n`);
    const written = kb!.commit();
    kb = undefined;
    const note = paperTotalNote(stats);
    io.stdout.write(`${renderText(relationTable(stats))}\n${note ? `${note}\n` : ""}\n`);
    io.stdout.write(
      `${stats.intentions.generated} intention(s) from ${stats.records.distilled} record(s), ${stats.intentions.kept} kept; ${stats.records.skipped} record(s) skipped\n`,
    );
    io.stdout.write(`kb: ${written.csv}\n`);
    return { result: "kb", stats };
  } catch (error) {
    batch?.abandon();
    kb?.abandon();
    if (interrupt.signal.aborted && interrupt.signal.reason instanceof HarnessError) {
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", { exitCode: 130 });
    }
    if (isFatal(error)) throw new HarnessError(`the server refused the run: ${(error as Error).message}`, { exitCode: 3 });
    throw error;
  } finally {
    interrupt.release();
  }
}
