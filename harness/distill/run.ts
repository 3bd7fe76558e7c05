import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { chatCompletionBody, OpenAIBackend } from "../backends/openai.ts";
import { PooledBackend } from "../backends/pool.ts";
import type { BackendIdentity, ChatRequest } from "../backends/types.ts";
import { defaultCacheRoot } from "../dataset/store.ts";
import { KbWriter } from "../kb/write.ts";
import { MIND_DEFAULT_SAMPLING, MIND_PROTOCOL_VERSION, parseRelations } from "../prompts/mind.ts";
import { renderText } from "../reports/table.ts";
import { Asker } from "../runtime/ask.ts";
import { requestKey, RequestCache } from "../runtime/cache.ts";
import { Progress } from "../runtime/progress.ts";
import { DEFAULT_RETRY_POLICY } from "../runtime/retry.ts";
import { HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkWritableDir, checkWritableFile } from "../util/paths.ts";
import { checkHttpUrl, checkKeyVariable, checkNumber, MAX_TIMEOUT_SECONDS } from "../util/validate.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { CacheOnlyAnswerer, LiveAnswerer } from "./answerers.ts";
import { batchInputLine, ingestBatch } from "./batch.ts";
import { distillRecords, IMAGE_LAYOUTS, isFatal, type Answerer, type DistillSettings, type ImageLayout, type RecordOutcome, type Stage } from "./pipeline.ts";
import { parseShard, readRecords, selectShard } from "./records.ts";
import { preserveRateChart, relationTable, renderStatsMarkdown, StatsAccumulator, type DistillStats } from "./stats.ts";

export interface DistillArgs {
  records: string;
  images?: string;
  model: string;
  baseUrl?: string[];
  apiKeyEnv?: string;
  out: string;
  relations?: string;
  textOnly: boolean;
  imageLayout: ImageLayout;
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

export const DISTILL_DEFAULTS = {
  imageLayout: "stacked" as ImageLayout,
  maxImageBytes: 20 * 1024 * 1024,
  temperature: MIND_DEFAULT_SAMPLING.temperature,
  maxTokens: MIND_DEFAULT_SAMPLING.maxTokens,
  concurrency: 16,
  timeoutSeconds: 300,
  retries: DEFAULT_RETRY_POLICY.maxAttempts - 1,
};

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new HarnessError(message, { exitCode: 2 });
}

/** Distill's cache identity names the model only: every server of a pool and any batch engine share answers. */
export function distillIdentity(model: string): BackendIdentity {
  return { kind: "openai", model };
}

function validate(args: DistillArgs): void {
  check(typeof args.model === "string" && args.model.trim() !== "", "--model is required: the vision-language model the server serves (also names the request cache)");
  check(Number.isInteger(args.concurrency) && args.concurrency >= 1, `--concurrency must be an integer >= 1, got ${args.concurrency}`);
  check(Number.isInteger(args.retries) && args.retries >= 0, `--retries must be an integer >= 0, got ${args.retries}`);
  check(args.timeout > 0, `--timeout must be > 0 seconds, got ${args.timeout}`);
  check(Number.isInteger(args.maxTokens) && args.maxTokens >= 1, `--max-tokens must be an integer >= 1, got ${args.maxTokens}`);
  check(args.temperature >= 0, `--temperature must be >= 0, got ${args.temperature}`);
  check(Number.isInteger(args.maxImageBytes) && args.maxImageBytes >= 1, `--max-image-bytes must be an integer >= 1, got ${args.maxImageBytes}`);
  check((IMAGE_LAYOUTS as readonly string[]).includes(args.imageLayout), `--image-layout must be one of ${IMAGE_LAYOUTS.join(", ")}, got ${args.imageLayout}`);
  check(!(args.emitBatch && args.baseUrl && args.baseUrl.length > 0), "--emit-batch writes requests for an offline engine; leave out --base-url (or drop --emit-batch to ask the servers)");
  checkNumber("temperature", args.temperature, { min: 0, max: 2 });
  checkNumber("timeout", args.timeout, { min: 0, minExclusive: true, max: MAX_TIMEOUT_SECONDS });
  for (const url of args.baseUrl ?? []) checkHttpUrl("base-url", url);
  if ((args.baseUrl ?? []).length > 0) checkKeyVariable("api-key-env", args.apiKeyEnv);
}

/** Every path distill writes, checked before the first record is read. */
async function checkOutputs(args: DistillArgs): Promise<void> {
  if (args.emitBatch) await checkWritableFile("--emit-batch", args.emitBatch);
  else await checkWritableDir("--out", args.out);
  await checkWritableDir(args.cacheDir ? "--cache-dir" : "cache directory", join(args.cacheDir ? resolve(args.cacheDir) : defaultCacheRoot(), "requests"));
}

/** Writes batch lines to a temp file as they come, renamed into place only when the run finished. */
class BatchFile {
  private readonly tmp: string;
  private readonly fd: number;
  count = 0;
  constructor(private readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
    this.fd = openSync(this.tmp, "w");
  }
  write(line: string): void {
    writeSync(this.fd, `${line}\n`);
    this.count += 1;
  }
  commit(): void {
    closeSync(this.fd);
    if (this.count === 0) rmSync(this.tmp, { force: true });
    else renameSync(this.tmp, this.path);
  }
  abandon(): void {
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }
}

const stageCounts = (counts: Record<Stage, number>) => `features ${counts.features}, intentions ${counts.intentions}, filter ${counts.filter}`;

export interface DistillOutcome {
  /** "kb": the KB was written; "emitted": a batch file was written (or nothing was left to emit). */
  result: "kb" | "emitted";
  stats: DistillStats;
}

/** The whole `harness distill`. */
export async function runDistill(args: DistillArgs, io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<DistillOutcome> {
  validate(args);
  await checkOutputs(args);
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const relations = parseRelations(args.relations);
  const shard = parseShard(args.shard);
  const recordsFile = resolve(args.records);
  const all = await readRecords(recordsFile);
  const records = selectShard(all, shard);
  const out = resolve(args.out);
  const settings: DistillSettings = {
    relations,
    textOnly: args.textOnly,
    imageLayout: args.imageLayout,
    temperature: args.temperature,
    maxTokens: args.maxTokens,
    images: { imagesDir: resolve(args.images ?? dirname(recordsFile)), maxBytes: args.maxImageBytes },
    concurrency: args.concurrency,
  };
  log(`distill: ${records.length} record(s)${shard ? ` in shard ${args.shard} of ${all.length}` : ""}, ${relations.length} relation(s), ${args.textOnly ? "text only" : `images ${args.imageLayout}`}`);

  const identity = distillIdentity(args.model);
  const cacheRoot = args.cacheDir ? resolve(args.cacheDir) : defaultCacheRoot();
  const cache = RequestCache.open(join(cacheRoot, "requests"), identity);
  const keyOf = (request: ChatRequest) => requestKey(identity, request, MIND_PROTOCOL_VERSION);

  if (args.ingestBatch) {
    const summary = await ingestBatch(resolve(args.ingestBatch), cache);
    log(`ingest-batch: ${summary.answered} answer(s) cached (${stageCounts(summary.perStage)}), ${summary.errors.length} error line(s)`);
    for (const e of summary.errors.slice(0, 5)) log(`  ${e.customId}: ${e.message}`);
    const others = summary.models.filter((m) => m !== args.model);
    if (others.length > 0) log(`warning: the batch answers name model(s) ${others.join(", ")}, not --model ${args.model}; they are cached under --model`);
  }

  const controller = new AbortController();
  const onSignal = () => controller.abort(new HarnessError("interrupted", { exitCode: 130 }));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const progress = args.progress === false ? undefined : new Progress({ label: "distill", total: records.length, stream: io.stderr, ...(args.progress ? { interactive: true } : {}) });
  let batch: BatchFile | undefined;
  let kb: KbWriter | undefined;
  try {
    let answerer: Answerer;
    let asker: Asker | undefined;
    let offline: CacheOnlyAnswerer | undefined;
    const baseUrls = args.baseUrl ?? [];
    if (args.emitBatch) {
      await mkdir(dirname(resolve(args.emitBatch)), { recursive: true });
      const file = new BatchFile(resolve(args.emitBatch));
      batch = file;
      offline = new CacheOnlyAnswerer(cache, keyOf, (stage, key, request) => file.write(batchInputLine(stage, key, chatCompletionBody(args.model, request))));
      answerer = offline;
    } else if (baseUrls.length > 0) {
      const apiKey = process.env[args.apiKeyEnv ?? "OPENAI_API_KEY"];
      const pool = new PooledBackend(
        baseUrls.map((baseUrl) => new OpenAIBackend({ model: args.model, baseUrl, ...(apiKey ? { apiKey } : {}) })),
        identity,
      );
      await pool.preflight(AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]));
      asker = new Asker({
        backend: pool,
        cache,
        protocolVersion: MIND_PROTOCOL_VERSION,
        retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: args.retries + 1, timeoutMs: Math.round(args.timeout * 1000) },
        signal: controller.signal,
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
          if (isFatal(error) && !controller.signal.aborted) controller.abort(error);
          throw error;
        }),
    };
    // Rows stream to temp files in record order; the KB's final names appear only on success.
    if (!batch) kb = await KbWriter.open(out);
    const accumulator = new StatsAccumulator(relations);
    const failed: Array<Extract<RecordOutcome, { status: "failed" }>> = [];
    let failedCount = 0;
    await distillRecords(records, settings, answerer, (outcome) => {
      accumulator.add(outcome);
      if (outcome.status === "failed") {
        failedCount += 1;
        if (failed.length < 5) failed.push(outcome);
      }
      if (outcome.status === "done") kb?.append(outcome.rows.map((r) => ({ ...r.row, verdict: r.verdict, text_only: args.textOnly })));
      if (asker) progress?.note(`sent ${asker.counters.sent}, cached ${asker.counters.cacheHits}, retries ${asker.counters.retries}`);
      progress?.tick();
    }).finally(() => progress?.finish());
    const stats = accumulator.result();
    if (stats.records.skipped > 0) log(`${stats.records.skipped} record(s) skipped for their images (reasons in skipped.jsonl and stats once the KB is written)`);

    if (batch) {
      batch.commit();
      const emitted = batch.count;
      batch = undefined;
      if (emitted === 0) {
        log(`emit-batch: nothing to emit, every request is answered; run without --emit-batch to write the KB`);
      } else {
        log(`emit-batch: wrote ${emitted} request(s) (${stageCounts(offline!.missingPerStage)}) to ${resolve(args.emitBatch!)}`);
        log(`next: run the file with a batch engine (e.g. vllm run-batch -i ${args.emitBatch} -o answers.jsonl --model ${args.model}), then rerun with --ingest-batch answers.jsonl (add --emit-batch again for the next stage)`);
      }
      return { result: "emitted", stats };
    }

    if (failedCount > 0) {
      for (const f of failed) log(`  ${recordsFile}:${f.record.line} (${f.record.pairId}): ${f.error}`);
      throw new HarnessError(`${failedCount} record(s) ended in API errors after ${args.retries} retries; no KB was written. Rerun the same command: answers received so far are cached and only the rest are asked`, { exitCode: 3 });
    }
    if (offline && offline.missingCount > 0) {
      throw new HarnessError(
        `${offline.missingCount} request(s) are not answered yet (${stageCounts(offline.missingPerStage)}) and no --base-url was given; no KB was written. Give --base-url to ask a server, or --emit-batch FILE to export them for a batch engine`,
        { exitCode: 3 },
      );
    }

    // An empty KB must not look like a finished one.
    if (stats.records.distilled === 0) {
      const reasons = Object.entries(stats.skippedReasons).map(([reason, n]) => `${n} x ${reason}`).join(", ");
      throw new HarnessError(`every one of the ${stats.records.total} record(s) was skipped${reasons ? ` (${reasons})` : ""}; no KB was written. Check --images and the records' image paths, or use --text-only`);
    }
    if (stats.intentions.kept === 0) {
      throw new HarnessError(`no intention was kept: ${stats.intentions.generated} generated, ${stats.intentions.rejected} rejected by the filter, ${stats.intentions.unparsed} unreadable; no KB was written`);
    }

    const context = { model: args.model, textOnly: args.textOnly, imageLayout: args.imageLayout, shard: args.shard ?? null, records: args.records };
    const statsJson = {
      schema: "intentionqa-harness/distill-stats@1",
      createdAt: new Date().toISOString(),
      harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: MIND_PROTOCOL_VERSION },
      config: {
        ...context,
        relations,
        temperature: args.temperature,
        maxTokens: args.maxTokens,
        maxImageBytes: args.maxImageBytes,
        concurrency: args.concurrency,
        servers: baseUrls.length,
        ingestedBatch: args.ingestBatch ?? null,
      },
      requests: asker ? { ...asker.counters } : { sent: 0, cacheHits: offline?.cacheHits ?? 0, retries: 0, failures: 0 },
      ...stats,
    };
    await writeFileAtomic(join(out, "skipped.jsonl"), stats.skipped.map((s) => `${JSON.stringify(s)}\n`).join(""));
    await writeFileAtomic(join(out, "stats.json"), `${JSON.stringify(statsJson, null, 2)}\n`);
    await writeFileAtomic(join(out, "stats.md"), renderStatsMarkdown(stats, context));
    await writeFileAtomic(join(out, "preserve_rate.svg"), preserveRateChart(stats));
    const written = kb!.commit();
    kb = undefined;
    io.stdout.write(`${renderText(relationTable(stats))}\n\n`);
    io.stdout.write(`${stats.intentions.generated} intention(s) from ${stats.records.distilled} record(s), ${stats.intentions.kept} kept; ${stats.records.skipped} record(s) skipped\n`);
    io.stdout.write(`kb: ${written.csv}\n`);
    return { result: "kb", stats };
  } catch (error) {
    batch?.abandon();
    kb?.abandon();
    if (controller.signal.aborted && controller.signal.reason instanceof HarnessError) {
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", { exitCode: 130 });
    }
    if (isFatal(error)) throw new HarnessError(`the server refused the run: ${(error as Error).message}`, { exitCode: 3 });
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
