/**
 * The whole `harness eval` as a function: load and select questions, build a backend per task,
 * ask through the cache and retries, score, summarise, and write the run's report. Also used by
 * `harness ablate`, `harness eval --run` and the throughput bench.
 */
import { setMaxListeners } from "node:events";
import { join, resolve } from "node:path";
import { answersAtRandom, decodesText, parseBackendSpec, type BackendSpec } from "../backends/registry.ts";
import { isScored, loadQuestions, type Question } from "../benchmark/intentionqa.ts";
import { allTasks, INTENTIONQA_FILES, TASKS, type TaskName } from "../benchmark/tasks.ts";
import { checksumTaskFile, resolveDataDir, type FileChecksum } from "../benchmark/store.ts";
import { readIdList } from "./ids.ts";
import { permuteAll } from "./permute.ts";
import { approximateDifficulty, loadDifficultyFile, NO_DIFFICULTY, type Difficulty } from "./difficulty.ts";
import { runTask, type SampleRecord } from "./ask-questions.ts";
import { describeFailures, summarizeTask } from "./summarize.ts";
import { describeDecoding, resolveDecoding, type DecodingRecord } from "./decoding.ts";
import { PROTOCOL_VERSION } from "../prompts/intentionqa.ts";
import { RUN_REPORT_FILES, renderRunText, writeRunReport } from "../reports/run-report.ts";
import { REPORT_SCHEMA_ID, type EvalReport, type TaskResult } from "../reports/schema.ts";
import { checkRequestCacheWritable, openEmbedder, openModel } from "../requests/open-model.ts";
import { Progress } from "../render/progress.ts";
import { type RetryPolicy, retryPolicy } from "../requests/retry.ts";
import { concurrencyLimiter, type ConcurrencyLimiter } from "../requests/limiter.ts";
import { concurrencySetting } from "../util/request-flags.ts";
import { EXIT, HarnessError, usageError } from "../util/errors.ts";
import { abortOnStopSignal, wasInterrupted } from "../util/interrupt.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { checkWritableDir, refuseOutputOverInput } from "../util/paths.ts";
import { claimFreshRunDir, withRunLock } from "../util/run-lock.ts";
import { checkHttpUrl, checkKeyVariable, checkFlag } from "../util/validate.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { EVAL_DEFAULTS, type EvalConfig } from "./defaults.ts";
import { cacheRoot } from "../util/cache-root.ts";

export function parseTasks(value: string): TaskName[] {
  const names = value
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const tasks = new Set<TaskName>();
  for (const name of names) {
    if (name === "all") for (const task of allTasks()) tasks.add(task);
    else if ((TASKS as readonly string[]).includes(name)) tasks.add(name as TaskName);
    else throw usageError(`--task "${name}" is not a task: expected ${TASKS.join(", ")} or all`);
  }
  if (tasks.size === 0) throw usageError("--task is empty");
  return [...tasks];
}

/** Every eval setting checked before any data is read or any question asked; errors name the flag. */
export function validateEvalConfig(args: EvalConfig, env: NodeJS.ProcessEnv = process.env): void {
  checkFlag("concurrency", args.concurrency);
  checkFlag("limit", args.limit);
  checkFlag("retries", args.retries);
  checkFlag("bootstrap", args.bootstrap);
  checkFlag("seed", args.seed);
  checkFlag("permute-options", args.permuteOptions);
  checkFlag("max-tokens", args.maxTokens);
  checkFlag("samples", args.samples);
  checkFlag("top-logprobs", args.topLogprobs);
  checkFlag("timeout", args.timeoutMs / 1000);
  checkFlag("temperature", args.temperature);
  checkFlag("top-p", args.topP);
  checkHttpUrl("base-url", args.baseUrl);
  checkHttpUrl("embeddings-base-url", args.embeddingsBaseUrl);
  checkKeyVariable("api-key-env", args.apiKeyEnv, env);
  // A folder name: no / or \, no control characters (a newline or an escape in a folder name), not blank.
  if (args.runId !== undefined && (!isFolderName(args.runId) || args.runId.trim() === "")) {
    throw usageError(`--run-id ${JSON.stringify(args.runId)}: expected a folder name (no / or \\, no control characters)`);
  }
}

/**
 * A difficulty file must give a level to every selected question: Easy/Medium/Hard built from a
 * subset look like the benchmark's and are not. With --allow-partial-difficulty the levels are
 * kept, marked approximate, and their description says how many questions they cover.
 */
export function checkDifficultyCoverage(
  difficulty: Difficulty,
  file: string,
  loaded: ReadonlyMap<TaskName, { selected: Question[] }>,
  allowPartial: boolean,
): Difficulty {
  const selected = [...new Map([...loaded.values()].flatMap((l) => l.selected).map((q) => [q.id, q])).values()];
  const missing = selected.filter((q) => !difficulty.levels.has(q.id));
  if (missing.length === 0) return difficulty;
  const sample = missing
    .slice(0, 3)
    .map((q) => q.id)
    .join(", ");
  if (!allowPartial) {
    throw usageError(
      `--difficulty-file ${file}: no similarity or level for ${missing.length} of ${selected.length} scored question(s) (e.g. ${sample}); Easy/Medium/Hard would cover only the rest. Pass --allow-partial-difficulty to accept that (the levels are then marked partial)`,
    );
  }
  const covered = selected.length - missing.length;
  return {
    levels: difficulty.levels,
    source: {
      ...difficulty.source,
      approximate: true,
      description: `PARTIAL: ${difficulty.source.description} gives levels for ${covered} of ${selected.length} scored questions; Easy/Medium/Hard cover only those`,
    },
  };
}

async function readIds(spec: string | undefined): Promise<string[] | null> {
  return spec === undefined ? null : readIdList(spec);
}

/** Scored questions, narrowed by --ids then --limit. An id that is not in the file is an error. */
export function selectQuestions(all: readonly Question[], ids: string[] | null, limit: number | undefined, file: string): Question[] {
  let selected = all.filter(isScored);
  if (ids) {
    const known = new Set(all.map((q) => q.id));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw usageError(
        `--ids: ${unknown.length} id(s) not in ${file}: ${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", ..." : ""}${
          // "--ids ids.txt" reads as one id named ids.txt: say how a file is given.
          unknown.some((id) => /[\\/]|\.\w+$/.test(id)) ? " (to read ids from a file, write --ids @PATH)" : ""
        }`,
      );
    }
    const wanted = new Set(ids);
    selected = selected.filter((q) => wanted.has(q.id));
  }
  return limit === undefined ? selected : selected.slice(0, limit);
}

/** The decoding one model is evaluated with; baselines decode nothing and record the official values. */
function decodingFor(args: EvalConfig, spec: BackendSpec): DecodingRecord {
  const preset = args.decoding ?? EVAL_DEFAULTS.decoding;
  const overrides = {
    ...(args.maxTokens !== undefined ? { maxTokens: args.maxTokens } : {}),
    ...(args.temperature !== undefined ? { temperature: args.temperature } : {}),
    ...(args.topP !== undefined ? { topP: args.topP } : {}),
    ...(args.samples !== undefined ? { samples: args.samples } : {}),
  };
  const baseline = !decodesText(spec);
  return resolveDecoding({
    preset: baseline ? "official" : preset,
    mode: args.mode,
    overrides,
    ...(baseline ? {} : { model: args.generationConfig ?? spec.model }),
  });
}

function slug(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
}

export interface EvalOutcome {
  reports: Array<{ dir: string; report: EvalReport }>;
}

/** How a finished run is shown on stdout: text by default, `harness eval --json` prints JSON lines. */
export type RenderReport = (report: EvalReport, dir: string) => string;

export const renderReportText: RenderReport = (report, dir) => `${renderRunText(report)}report: ${join(dir, "report.json")}\n\n`;

/** One report per line, so several --model runs stay machine-readable. */
export const renderReportJson: RenderReport = (report) => `${JSON.stringify(report)}\n`;

export interface EvalIo extends Io {
  render?: RenderReport;
}

type LoadedTask = {
  all: Question[];
  selected: Question[];
  checksum: FileChecksum;
  /** --permute-options: each question's permutation by id (its options in `all` and `selected` are already reordered). */
  permutations?: ReadonlyMap<string, readonly string[]>;
};
type Loaded = Map<TaskName, LoadedTask>;

/** What the settings resolve to, before any data is read: every usage error is raised here. */
interface EvalPlan {
  tasks: TaskName[];
  specs: BackendSpec[];
  decodings: DecodingRecord[];
  ids: string[] | null;
  cacheRoot: string;
}

async function planEval(config: EvalConfig): Promise<EvalPlan> {
  const tasks = parseTasks(config.task);
  const specs = (config.model && config.model.length > 0 ? config.model : ["baseline:random", "baseline:majority"]).map(parseBackendSpec);
  validateEvalConfig(config);
  if (config.runId !== undefined && specs.length > 1) throw usageError("--run-id names one run; give one --model with it");
  if (config.difficultyFile && config.difficultyEmbeddings) throw usageError("give --difficulty-file or --difficulty-embeddings, not both");
  // Checked before any data is loaded: a bad preset or a missing generation config is a usage error.
  const decodings = specs.map((spec) => decodingFor(config, spec));
  const ids = await readIds(config.ids);
  return { tasks, specs, decodings, ids, cacheRoot: cacheRoot(config.cacheDir) };
}

/** Every folder the run writes, checked now: not after every question has been answered. */
async function checkOutputs(config: EvalConfig, plan: EvalPlan): Promise<void> {
  await checkWritableDir("--out", config.out);
  if (config.runId !== undefined) {
    const runDir = join(config.out, config.runId);
    await checkWritableDir("--out/--run-id", runDir);
    await refuseOutputOverInput({ label: "--out/--run-id", path: runDir, writes: RUN_REPORT_FILES }, [
      config.ids?.startsWith("@") ? { label: "--ids", path: config.ids.slice(1) } : undefined,
      config.difficultyFile ? { label: "--difficulty-file", path: config.difficultyFile } : undefined,
    ]);
  }
  // Model answers and difficulty embeddings are cached.
  if (config.cache && (plan.specs.some(decodesText) || config.difficultyEmbeddings)) await checkRequestCacheWritable(config.cacheDir);
}

async function loadTasks(config: EvalConfig, plan: EvalPlan, log: (line: string) => void) {
  const data = await resolveDataDir({
    ...(config.data ? { dataFlag: config.data } : {}),
    cacheRoot: plan.cacheRoot,
    tasks: plan.tasks,
    download: true,
    log,
  });
  const loaded: Loaded = new Map();
  for (const task of plan.tasks) {
    const file = join(data.dir, INTENTIONQA_FILES[task].fileName);
    const official = await loadQuestions(file, task);
    // Permuted on load, so every later step (the prompts, scoring, baseline:majority's letter) sees the order shown.
    const permuted = config.permuteOptions === undefined ? null : permuteAll(official, config.permuteOptions);
    const all = permuted?.questions ?? official;
    const checksum = await checksumTaskFile(data.dir, task);
    if (!checksum.matchesRelease) {
      log(
        `WARNING: ${file} differs from the pinned IntentionQA release (sha256 ${checksum.sha256.slice(0, 12)}...); its numbers are not comparable with the published ones`,
      );
    }
    loaded.set(task, {
      all,
      selected: selectQuestions(all, plan.ids, config.limit, file),
      checksum,
      ...(permuted ? { permutations: permuted.permutations } : {}),
    });
  }
  return { data, loaded };
}

async function resolveDifficulty(
  config: EvalConfig,
  loaded: Loaded,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<Difficulty> {
  if (config.difficultyFile)
    return checkDifficultyCoverage(
      await loadDifficultyFile(config.difficultyFile),
      config.difficultyFile,
      loaded,
      config.allowPartialDifficulty ?? false,
    );
  if (!config.difficultyEmbeddings) return NO_DIFFICULTY;
  const embeddingsUrl = config.embeddingsBaseUrl ?? config.baseUrl;
  const embedder = await openEmbedder({
    model: config.difficultyEmbeddings,
    ...(embeddingsUrl ? { baseUrl: embeddingsUrl } : {}),
    ...(config.apiKeyEnv ? { apiKeyEnv: config.apiKeyEnv } : {}),
    ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
    cache: config.cache,
    retries: config.retries,
    timeoutMs: config.timeoutMs,
    signal,
    log,
  });
  log(`difficulty: embedding product names with ${embedder.id()} (approximate levels)`);
  return approximateDifficulty(
    [...loaded.values()].flatMap((l) => l.selected),
    embedder,
  );
}

/** What one model's run shares across its tasks. */
interface ModelContext {
  config: EvalConfig;
  plan: EvalPlan;
  loaded: Loaded;
  difficulty: Difficulty;
  retry: RetryPolicy;
  signal: AbortSignal;
  io: Io;
  log: (line: string) => void;
}

/** One task's model, opened on the one road (registry, preflight on the model's first task only, cache, retries). */
function openTaskModel(ctx: ModelContext, spec: BackendSpec, all: readonly Question[], preflight: boolean, limiter?: ConcurrencyLimiter) {
  const { config: args, plan } = ctx;
  return openModel({
    model: spec,
    ...(limiter ? { limiter } : {}),
    ...(args.baseUrl ? { baseUrls: [args.baseUrl] } : {}),
    ...(args.adapter ? { adapter: args.adapter } : {}),
    ...(args.servedFrom ? { servedFrom: args.servedFrom } : {}),
    ...(args.provider ? { provider: args.provider } : {}),
    ...(args.apiKeyEnv ? { apiKeyEnv: args.apiKeyEnv } : {}),
    seed: args.seed,
    scoredGolds: () => all.filter(isScored).map((q) => q.gold),
    cacheDir: plan.cacheRoot,
    cache: args.cache,
    protocolVersion: PROTOCOL_VERSION,
    retries: args.retries,
    timeoutMs: args.timeoutMs,
    preflight,
    signal: ctx.signal,
    log: ctx.log,
  });
}

/** Asks one model every selected question of every task, and summarises each task. */
async function evaluateModel(ctx: ModelContext, spec: BackendSpec, decoding: DecodingRecord) {
  const { config: args, plan, loaded, difficulty, io, log } = ctx;
  const { ids } = plan;
  if (decodesText(spec)) log(`decoding ${describeDecoding(decoding)}`);
  const counters = { sent: 0, cacheHits: 0, retries: 0, failures: 0 };
  const results: TaskResult[] = [];
  const samples: SampleRecord[] = [];
  let backendInfo: EvalReport["backend"] | undefined;
  // One gate for the model across its tasks: the level found on the first task carries on.
  const limiter = concurrencyLimiter(concurrencySetting(args, EVAL_DEFAULTS), args.timeoutMs);
  for (const task of plan.tasks) {
    const { all, selected, checksum, permutations } = loaded.get(task)!;
    const { backend, asker } = await openTaskModel(ctx, spec, all, backendInfo === undefined, limiter);
    backendInfo ??= { id: backend.id(), ...backend.identity() };
    const progress =
      args.progress === false
        ? undefined
        : new Progress({
            label: `${backend.id()} ${task}`,
            total: selected.length,
            stream: io.stderr,
            status: () => asker.concurrencyStatus(),
            ...(args.progress ? { interactive: true } : {}),
          });
    const records = await runTask({
      task,
      questions: selected,
      mode: args.mode,
      decoding,
      topLogprobs: args.topLogprobs,
      asker,
      concurrency: args.concurrency,
      levels: difficulty.levels,
      ...(permutations ? { permutations } : {}),
      ...(progress ? { progress } : {}),
    }).finally(() => progress?.finish());
    for (const key of Object.keys(counters) as Array<keyof typeof counters>) counters[key] += asker.counters[key];
    results.push(
      summarizeTask({
        task,
        records,
        inFile: all.length,
        scorable: all.filter(isScored).length,
        checksum,
        difficulty: difficulty.source,
        selection: { limit: args.limit ?? null, ids: ids?.length ?? null },
        ...(answersAtRandom(spec) ? { expectedAccuracyOf: selected } : {}),
      }),
    );
    samples.push(...records);
  }
  // Only a model that sent requests through the gate (not a baseline, not a rerun from the cache) has levels to tell.
  const levels = limiter && counters.sent > 0 && backendInfo?.kind !== "baseline" ? limiter.levels() : undefined;
  if (levels) log(`concurrency: ${levels.lowest}-${levels.highest} in flight (at most ${limiter!.ceiling}), ${levels.final} at the end`);
  return { backend: backendInfo!, counters: levels ? { ...counters, concurrency: levels } : counters, results, samples };
}

/** The run's report: what was asked, how, and what came back. */
function buildReport(
  ctx: ModelContext,
  data: { dir: string; origin: EvalReport["data"]["origin"] },
  decoding: DecodingRecord,
  evaluated: Awaited<ReturnType<typeof evaluateModel>>,
  wallTimeMs: number,
): EvalReport {
  const { config: args, plan, retry } = ctx;
  const { backend, counters, results } = evaluated;
  const permuted = args.permuteOptions === undefined ? "" : `-permuted-${args.permuteOptions}`;
  const runId = args.runId ?? `${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${slug(backend.id)}${permuted}`;
  return {
    schema: REPORT_SCHEMA_ID,
    runId,
    createdAt: new Date().toISOString(),
    status: results.some((r) => r.questions.apiErrors > 0) ? "incomplete" : "complete",
    harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: PROTOCOL_VERSION },
    backend,
    labels: { ...(args.labels ?? {}) },
    ...(args.training ? { training: args.training } : {}),
    config: {
      tasks: plan.tasks,
      mode: args.mode,
      decoding,
      topLogprobs: args.topLogprobs,
      seed: args.seed,
      ...(args.permuteOptions !== undefined ? { permuteOptions: args.permuteOptions } : {}),
      limit: args.limit ?? null,
      ids: plan.ids,
      concurrency: args.concurrency,
      concurrencyMode: concurrencySetting(args, EVAL_DEFAULTS).concurrencyMode,
      timeoutMs: retry.timeoutMs,
      maxAttempts: retry.maxAttempts,
      bootstrapResamples: args.bootstrap,
      cache: args.cache,
    },
    data: { dir: data.dir, origin: data.origin },
    requests: counters,
    wallTimeMs,
    results,
  };
}

/** An incomplete run is written (its answers are cached) and then fails: its numbers are partial. */
function failIfIncomplete(report: EvalReport, samples: readonly SampleRecord[]): void {
  if (report.status !== "incomplete") return;
  const errors = report.results.reduce((a, r) => a + r.questions.apiErrors, 0);
  throw new HarnessError(
    `${errors} of ${samples.length} question(s) ended in errors and were not scored: ${describeFailures(samples)}; rerun the same command to ask only those again (answers are cached)`,
    { exitCode: EXIT.partial },
  );
}

/** The whole `harness eval`: also called by `ablate` and by `eval --run`. */
export async function runEval(config: EvalConfig, io: EvalIo = processIo()): Promise<EvalOutcome> {
  const plan = await planEval(config);
  await checkOutputs(config, plan);
  // A named run folder has one writer: a second eval with the same --run-id stops here.
  if (config.runId === undefined) return evaluate(config, plan, io);
  return withRunLock("--out/--run-id", resolve(config.out, config.runId), "eval", () => evaluate(config, plan, io));
}

async function evaluate(config: EvalConfig, plan: EvalPlan, io: EvalIo): Promise<EvalOutcome> {
  const log = stderrLog(io);
  const { data, loaded } = await loadTasks(config, plan, log);

  const interrupt = abortOnStopSignal();
  // Every request in flight listens to this signal.
  setMaxListeners(0, interrupt.signal);
  try {
    const difficulty = await resolveDifficulty(config, loaded, interrupt.signal, log);
    const retry: RetryPolicy = retryPolicy(config);
    const ctx: ModelContext = { config, plan, loaded, difficulty, retry, signal: interrupt.signal, io, log };
    const render = io.render ?? renderReportText;
    const outcome: EvalOutcome = { reports: [] };
    for (const [specIndex, spec] of plan.specs.entries()) {
      const decoding = plan.decodings[specIndex]!;
      const started = performance.now();
      const evaluated = await evaluateModel(ctx, spec, decoding);
      const built = buildReport(ctx, data, decoding, evaluated, Math.round(performance.now() - started));
      // A generated run id is made unique on disk, so two runs in the same second keep both results.
      const report = config.runId === undefined ? { ...built, runId: await claimFreshRunDir(config.out, built.runId) } : built;
      const dir = resolve(config.out, report.runId);
      await writeRunReport(dir, report, evaluated.samples);
      io.stdout.write(render(report, dir));
      outcome.reports.push({ dir, report });
      failIfIncomplete(report, evaluated.samples);
    }
    return outcome;
  } catch (error) {
    if (wasInterrupted(interrupt.signal)) {
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", {
        exitCode: EXIT.interrupted,
      });
    }
    throw error;
  } finally {
    interrupt.release();
  }
}

/** One folder name: not empty, not "." or "..", no separator, and no line break or control (it splits every line naming the run). */
function isFolderName(name: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  return name !== "" && name !== "." && name !== ".." && !/[\\/\u0000-\u001f\u007f]/.test(name);
}
