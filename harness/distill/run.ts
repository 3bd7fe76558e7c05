/**
 * The whole `harness distill` as a function: survey the records, open the request cache (and read
 * a batch's answers into it), choose where answers come from (a batch file, a pool of live servers
 * or the cache alone), distill every record, check the outcome, then write the KB with its meta
 * and stats. Also run by the scale bench.
 */
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { chatCompletionBody } from "../backends/openai.ts";
import { isFatalError, refusedRunError, type ChatRequest } from "../backends/types.ts";
import { KbWriter } from "../kb/write.ts";
import { MIND_PROTOCOL_VERSION, parseRelations, type MindPromptSetName, type RelationName } from "../prompts/mind.ts";
import { type Asker, processNotice } from "../requests/ask.ts";
import { requestKey, type RequestCache } from "../requests/cache.ts";
import { checkRequestCacheWritable, openRequestCache } from "../requests/open-model.ts";
import { Progress } from "../render/progress.ts";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { abortOnStopSignal, wasInterrupted, type Interrupt } from "../util/interrupt.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { StagedFile } from "../util/staged-output.ts";
import { checkWritableDir, checkWritableFile, refuseOutputOverInput } from "../util/paths.ts";
import { withRunLock } from "../util/run-lock.ts";
import { checkHttpUrl, checkKeyVariable, checkUsage, checkFlag } from "../util/validate.ts";
import { CacheOnlyAnswerer, LiveAnswerer, openMindModel } from "./answerers.ts";
import { batchInputLine, ingestBatch } from "./batch.ts";
import { DISTILL_DEFAULTS, distillIdentity, IMAGE_LAYOUTS, TEXT_PROMPTS, type DistillConfig } from "./defaults.ts";
import { concurrencySetting } from "../util/request-flags.ts";
import {
  checkNotEmpty,
  DISTILL_OUTPUT_FILES,
  printSummary,
  writeDistillOutputs,
  type DistillRecord,
  type RequestCounts,
  type ShardRows,
} from "./outputs.ts";
import { distillRecords, type Answerer, type DistillSettings, type RecordOutcome, type MindStep } from "./pipeline.ts";
import { parseShard, shardOf, streamRecords, UnitCheck, type CoBuyRecord, type RecordLayout } from "./records.ts";
import { StatsAccumulator, type DistillStats, type DistillUnit } from "./stats.ts";

/** Every distill setting checked before any record is read; errors name the flag. */
export function validateDistillConfig(config: DistillConfig): void {
  checkUsage(
    typeof config.model === "string" && config.model.trim() !== "",
    "--model is required: the vision-language model the server serves (also names the request cache)",
  );
  const timeout = config.timeoutMs / 1000;
  checkFlag("concurrency", config.concurrency);
  checkFlag("retries", config.retries);
  checkUsage(timeout > 0, `--timeout must be > 0 seconds, got ${timeout}`);
  checkFlag("max-tokens", config.maxTokens);
  checkFlag("max-image-bytes", config.maxImageBytes);
  checkUsage(
    (IMAGE_LAYOUTS as readonly string[]).includes(config.imageLayout),
    `--image-layout must be one of ${IMAGE_LAYOUTS.join(", ")}, got ${config.imageLayout}`,
  );
  checkUsage(
    !(config.emitBatch && config.baseUrl && config.baseUrl.length > 0),
    "--emit-batch writes requests for an offline engine; leave out --base-url (or drop --emit-batch to ask the servers)",
  );
  checkUsage(
    !(config.stage2Prompt === "robustness" && config.textOnly),
    "--stage2-prompt robustness drops the instructions to use the images the model is shown: it needs images (leave out --text-only)",
  );
  checkUsage(
    (TEXT_PROMPTS as readonly string[]).includes(config.textPrompts),
    `--text-prompts must be one of ${TEXT_PROMPTS.join(", ")}, got ${config.textPrompts}`,
  );
  checkFlag("temperature", config.temperature);
  checkFlag("timeout", timeout);
  for (const url of config.baseUrl ?? []) checkHttpUrl("base-url", url);
  if ((config.baseUrl ?? []).length > 0) checkKeyVariable("api-key-env", config.apiKeyEnv);
}

/** --text-only and --text-prompts -> the prompt set distill asks with. */
export function promptSetOf(config: Pick<DistillConfig, "textOnly" | "textPrompts">): MindPromptSetName {
  if (!config.textOnly) return "multimodal";
  return config.textPrompts === "image-phrased" ? "text-only-image-phrased" : "text-only";
}

type Shard = ReturnType<typeof parseShard>;

/** What the settings resolve to before any record is read: every usage error is raised here. */
interface DistillPlan {
  recordsFile: string;
  shard: Shard;
  /** --relations, parsed; null when not given. */
  chosenRelations: RelationName[] | null;
  promptSet: MindPromptSetName;
  out: string;
}

async function planDistill(config: DistillConfig): Promise<DistillPlan> {
  validateDistillConfig(config);
  // Every path distill writes, checked before the first record is read.
  if (config.emitBatch) await checkWritableFile("--emit-batch", config.emitBatch);
  else await checkWritableDir("--out", config.out);
  const inputs = [
    { label: "--records", path: config.records },
    config.ingestBatch ? { label: "--ingest-batch", path: config.ingestBatch } : undefined,
  ];
  if (config.emitBatch) await refuseOutputOverInput({ label: "--emit-batch", path: config.emitBatch }, inputs);
  else await refuseOutputOverInput({ label: "--out", path: config.out, writes: DISTILL_OUTPUT_FILES }, inputs);
  await checkRequestCacheWritable(config.cacheDir);
  return {
    recordsFile: resolve(config.records),
    shard: parseShard(config.shard),
    chosenRelations: parseRelations(config.relations),
    promptSet: promptSetOf(config),
    out: resolve(config.out),
  };
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
    throw usageError(
      `${file}: the records carry no relation. The original makes one intention per FolkScope row under the row's relation (give the FolkScope CSV, or a "relation" field); to ask every pair under several relations, say so with --relations all or --relations can,isA,...`,
    );
  }
  return { unit: "fan-out", fanOut: chosen, relationFilter: null };
}

type UnitPlan = ReturnType<typeof planUnit>;

const inPlan = (record: CoBuyRecord, plan: UnitPlan) => plan.relationFilter === null || plan.relationFilter.includes(record.relation!);
const inShard = (record: CoBuyRecord, shard: Shard) => shard === null || shardOf(record.pairId, shard.count) === shard.index;

/** What a first streaming pass over the records learns, holding none of them: every record is valid (or it throws), the plan, and counts. */
interface RecordsSurvey {
  layout: RecordLayout;
  plan: UnitPlan;
  /** Records in the file; of them, those --relations keeps; of those, the ones in this shard. */
  total: number;
  kept: number;
  selected: number;
}

async function surveyRecords({ recordsFile: file, chosenRelations: chosen, shard }: DistillPlan): Promise<RecordsSurvey> {
  let layout: RecordLayout = "records-jsonl";
  let plan: UnitPlan | undefined;
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
  if (kept === 0) throw usageError(`--relations ${chosen!.join(",")}: no row of ${file} has one of these relations`);
  return { layout, plan, total, kept, selected };
}

/** The second pass: this run's records, streamed in file order. */
async function* selectedRecords(file: string, plan: UnitPlan, shard: Shard): AsyncGenerator<CoBuyRecord> {
  for await (const record of streamRecords(file)) if (inPlan(record, plan) && inShard(record, shard)) yield record;
}

/** The run's first line on stderr: how many records, in what unit, with what images. */
function describeRun(config: DistillConfig, plan: DistillPlan, survey: RecordsSurvey): string {
  const { unit, fanOut, relationFilter } = survey.plan;
  const unitText =
    unit === "row"
      ? `one intention per row under its relation${relationFilter ? ` (rows of ${relationFilter.join(",")} only: ${survey.kept} of ${survey.total})` : ""}`
      : `fan-out over ${fanOut.length} relation(s)`;
  const imagesText =
    plan.promptSet === "multimodal"
      ? `images ${config.imageLayout}${config.padImages ? ", padded to squares" : ", not padded"}`
      : `no images, prompts ${plan.promptSet}`;
  const shardText = plan.shard ? ` in shard ${config.shard} of ${survey.kept}` : "";
  return `distill: ${survey.selected} record(s)${shardText} (${survey.layout}), ${unitText}, ${imagesText}`;
}

const stepCounts = (counts: Record<MindStep, number>) =>
  `features ${counts.features}, intentions ${counts.intentions}, filter ${counts.filter}`;

/** The request cache under the model's identity, with --ingest-batch's answers read into it first. */
async function openCache(config: DistillConfig, log: (line: string) => void): Promise<RequestCache> {
  const cache = openRequestCache(config.cacheDir, distillIdentity(config.model), log);
  if (!config.ingestBatch) return cache;
  const summary = await ingestBatch(resolve(config.ingestBatch), cache);
  log(`ingest-batch: ${summary.answered} answer(s) cached (${stepCounts(summary.perStep)}), ${summary.errors.length} error line(s)`);
  for (const e of summary.errors.slice(0, 5)) log(`  ${e.customId}: ${e.message}`);
  const others = summary.models.filter((m) => m !== config.model);
  if (others.length > 0)
    log(`warning: the batch answers name model(s) ${others.join(", ")}, not --model ${config.model}; they are cached under --model`);
  return cache;
}

/** Where answers come from: the cache, writing what is missing to a batch file; live servers; or the cache alone. */
type AnswerSource =
  | { kind: "batch"; answerer: CacheOnlyAnswerer; file: StagedFile }
  | { kind: "live"; answerer: LiveAnswerer; asker: Asker }
  | { kind: "cache-only"; answerer: CacheOnlyAnswerer };

async function chooseAnswerer(
  config: DistillConfig,
  cache: RequestCache,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<AnswerSource> {
  const identity = distillIdentity(config.model);
  const keyOf = (request: ChatRequest) => requestKey(identity, request, MIND_PROTOCOL_VERSION);
  if (config.emitBatch) {
    const target = resolve(config.emitBatch);
    await mkdir(dirname(target), { recursive: true });
    const file = new StagedFile(target);
    const answerer = new CacheOnlyAnswerer(cache, keyOf, (step, key, request) =>
      file.write(`${batchInputLine(step, key, chatCompletionBody(config.model, request))}\n`),
    );
    return { kind: "batch", answerer, file };
  }
  const baseUrls = config.baseUrl ?? [];
  if (baseUrls.length === 0) return { kind: "cache-only", answerer: new CacheOnlyAnswerer(cache, keyOf) };
  // The live road opens the same cache (one instance per file), where --ingest-batch's answers are.
  const { asker } = await openMindModel({
    model: config.model,
    baseUrl: baseUrls,
    ...(config.apiKeyEnv ? { apiKeyEnv: config.apiKeyEnv } : {}),
    ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
    retries: config.retries,
    timeoutMs: config.timeoutMs,
    concurrency: concurrencySetting(config, DISTILL_DEFAULTS),
    preflightTimeoutMs: config.preflightTimeoutMs,
    signal,
    log,
    notice: processNotice,
  });
  return { kind: "live", answerer: new LiveAnswerer(asker, config.concurrency), asker };
}

/** A rejected key or an unknown model stops every request in flight at once, not lane by lane. */
function stoppingOnFatal(inner: Answerer, interrupt: Interrupt): Answerer {
  return {
    answer: (step, request) =>
      inner.answer(step, request).catch((error: unknown) => {
        if (isFatalError(error) && !interrupt.signal.aborted) interrupt.abort(error);
        throw error;
      }),
  };
}

/** What every phase after the answerer is chosen reads. */
interface DistillRun {
  config: DistillConfig;
  plan: DistillPlan;
  survey: RecordsSurvey;
  source: AnswerSource;
  /** The source's answerer, stopping the run on a fatal error. */
  answerer: Answerer;
  io: Io;
  log: (line: string) => void;
}

type FailedOutcome = Extract<RecordOutcome, { status: "failed" }>;

interface Distilled {
  stats: DistillStats;
  /** The first few records that failed, for the log; failedCount counts them all. */
  failed: FailedOutcome[];
  failedCount: number;
  /** With --shard: each distilled record's file line and row count, in KB order, for `distill merge`. */
  shardRows: ShardRows | null;
}

function settingsOf({ config, plan, survey }: DistillRun): DistillSettings {
  return {
    relations: survey.plan.fanOut,
    promptSet: plan.promptSet,
    padImages: config.padImages,
    // A text-only run over FolkScope rows keeps to the rows a multimodal run can distill, when told where the images are.
    requireImageFolders: config.images !== undefined,
    imageLayout: config.imageLayout,
    temperature: config.temperature,
    maxTokens: config.maxTokens,
    images: { imagesDir: resolve(config.images ?? dirname(plan.recordsFile)), maxBytes: config.maxImageBytes },
    concurrency: config.concurrency,
    ...(config.stage2Prompt ? { stage2Prompt: config.stage2Prompt } : {}),
  };
}

/** Every selected record through the pipeline, in file order; its rows go to `kb` as they come (none when emitting a batch). */
async function distill(run: DistillRun, kb: KbWriter | undefined): Promise<Distilled> {
  const { config, plan, survey, source, io } = run;
  const accumulator = new StatsAccumulator(survey.plan.fanOut, survey.plan.unit);
  const failed: FailedOutcome[] = [];
  let failedCount = 0;
  const shardRows: Array<[number, number]> | null = plan.shard ? [] : null;
  const extras = { text_only: config.textOnly, prompt_set: plan.promptSet, unit: survey.plan.unit };
  const progress =
    config.progress === false
      ? undefined
      : new Progress({ label: "distill", total: survey.selected, stream: io.stderr, ...(config.progress ? { interactive: true } : {}) });
  const records = selectedRecords(plan.recordsFile, survey.plan, plan.shard);
  await distillRecords(records, settingsOf(run), run.answerer, (outcome) => {
    accumulator.add(outcome);
    if (outcome.status === "failed" && ++failedCount <= 5) failed.push(outcome);
    if (outcome.status === "done") {
      kb?.append(outcome.rows.map((r) => ({ ...r.row, verdict: r.verdict, ...extras })));
      shardRows?.push([outcome.record.line, outcome.rows.length]);
    }
    if (source.kind === "live") {
      const counters = source.asker.counters;
      const level = source.asker.concurrencyStatus();
      progress?.note(`sent ${counters.sent}, cached ${counters.cacheHits}, retries ${counters.retries}${level ? `, ${level}` : ""}`);
    }
    progress?.tick();
  }).finally(() => progress?.finish());
  const stats = accumulator.result();
  if (stats.records.skipped > 0)
    run.log(`${stats.records.skipped} record(s) skipped for their images (reasons in skipped.jsonl and stats once the KB is written)`);
  return { stats, failed, failedCount, shardRows };
}

/** --emit-batch: distill as far as the cache goes and write every request still missing to the batch file. */
async function emitBatch(run: DistillRun, source: Extract<AnswerSource, { kind: "batch" }>): Promise<DistillOutcome> {
  const { config, log } = run;
  try {
    const { stats } = await distill(run, undefined);
    // Nothing to emit leaves no file: an empty batch input would look like work to do.
    source.file.commit({ keepIfEmpty: false });
    if (source.file.writes === 0) {
      log(`emit-batch: nothing to emit, every request is answered; run without --emit-batch to write the KB`);
    } else {
      log(`emit-batch: wrote ${source.file.writes} request(s) (${stepCounts(source.answerer.missingPerStep)}) to ${source.file.target}`);
      log(
        `next: run the file with a batch engine (e.g. vllm run-batch -i ${config.emitBatch} -o answers.jsonl --model ${config.model}), then rerun with --ingest-batch answers.jsonl (add --emit-batch again for the next stage)`,
      );
    }
    return { result: "emitted", stats };
  } catch (error) {
    source.file.abandon();
    throw error;
  }
}

/** A KB is written only when every record was answered: failed or unanswered requests fail the run (their answers stay cached). */
function checkAllAnswered({ config, plan, source, log }: DistillRun, distilled: Distilled): void {
  if (distilled.failedCount > 0) {
    for (const f of distilled.failed) log(`  ${plan.recordsFile}:${f.record.line} (${f.record.pairId}): ${f.error}`);
    throw new HarnessError(
      `${distilled.failedCount} record(s) ended in API errors after ${config.retries} retries; no KB was written. Rerun the same command: answers received so far are cached and only the rest are asked`,
      { exitCode: EXIT.partial },
    );
  }
  if (source.kind === "cache-only" && source.answerer.missingCount > 0) {
    throw new HarnessError(
      `${source.answerer.missingCount} request(s) are not answered yet (${stepCounts(source.answerer.missingPerStep)}) and no --base-url was given; no KB was written. Give --base-url to ask a server, or --emit-batch FILE to export them for a batch engine`,
      { exitCode: EXIT.partial },
    );
  }
}

/** The run as the meta and stats files record it. */
function recordOf({ config, plan, survey }: DistillRun): DistillRecord {
  const { unit, fanOut, relationFilter } = survey.plan;
  return {
    model: config.model,
    records: config.records,
    recordsLayout: survey.layout,
    shard: config.shard ?? null,
    unit,
    relations: unit === "fan-out" ? fanOut : null,
    rowRelationFilter: relationFilter,
    promptSet: plan.promptSet,
    textOnly: config.textOnly,
    imageLayout: config.imageLayout,
    padImages: config.padImages,
    temperature: config.temperature,
    maxTokens: config.maxTokens,
    maxImageBytes: config.maxImageBytes,
    concurrency: config.concurrency,
    concurrencyMode: concurrencySetting(config, DISTILL_DEFAULTS).concurrencyMode,
    servers: (config.baseUrl ?? []).length,
    ingestedBatch: config.ingestBatch ?? null,
    stage2Prompt: config.stage2Prompt ?? "original",
  };
}

function requestCounts(source: AnswerSource): RequestCounts {
  if (source.kind === "live") return { ...source.asker.counters };
  return { sent: 0, cacheHits: source.answerer.cacheHits, retries: 0, failures: 0 };
}

/** Rows stream to temp files in record order; the KB's final names appear only when the run succeeded. */
async function distillToKb(run: DistillRun): Promise<DistillOutcome> {
  const kb = await KbWriter.open(run.plan.out);
  try {
    const distilled = await distill(run, kb);
    checkAllAnswered(run, distilled);
    // A shard may hold nothing to keep (few records, all skipped): `distill merge` judges the whole.
    if (!run.plan.shard) checkNotEmpty(distilled.stats);
    else if (distilled.stats.intentions.kept === 0)
      run.log(`shard ${run.config.shard}: no intention kept here; \`distill merge\` checks the whole KB`);
    const written = await writeDistillOutputs(
      run.plan.out,
      recordOf(run),
      distilled.stats,
      requestCounts(run.source),
      kb,
      distilled.shardRows,
    );
    printSummary(run.io, distilled.stats, written.csv);
    return { result: "kb", stats: distilled.stats };
  } catch (error) {
    kb.abandon();
    throw error;
  }
}

/** An interrupt or a server that refused the run, as the error the CLI reports. */
function runError(error: unknown, signal: AbortSignal): unknown {
  if (wasInterrupted(signal))
    return new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", {
      exitCode: EXIT.interrupted,
    });
  if (isFatalError(error)) return refusedRunError(error);
  return error;
}

export interface DistillOutcome {
  /** "kb": the KB was written; "emitted": a batch file was written (or nothing was left to emit). */
  result: "kb" | "emitted";
  stats: DistillStats;
}

/** The whole `harness distill`. */
export async function runDistill(config: DistillConfig, io: Io = processIo()): Promise<DistillOutcome> {
  const log = stderrLog(io);
  const plan = await planDistill(config);
  // The KB folder has one writer: a second distill into the same --out stops here.
  if (config.emitBatch) return distillRun(config, plan, log, io);
  return withRunLock("--out", plan.out, "distill", () => distillRun(config, plan, log, io));
}

async function distillRun(config: DistillConfig, plan: DistillPlan, log: (line: string) => void, io: Io): Promise<DistillOutcome> {
  // Two streaming passes: the first validates every record and counts (nothing is asked of a
  // file with a bad line), the second feeds the pipeline; neither holds the file in memory.
  const survey = await surveyRecords(plan);
  log(describeRun(config, plan, survey));
  const cache = await openCache(config, log);
  const interrupt = abortOnStopSignal();
  try {
    const source = await chooseAnswerer(config, cache, interrupt.signal, log);
    const run: DistillRun = { config, plan, survey, source, answerer: stoppingOnFatal(source.answerer, interrupt), io, log };
    return source.kind === "batch" ? await emitBatch(run, source) : await distillToKb(run);
  } catch (error) {
    throw runError(error, interrupt.signal);
  } finally {
    interrupt.release();
  }
}
