/**
 * The whole `harness eval` as a function: load and select questions, build a backend per task,
 * ask through the cache and retries, score, summarise, and write the run's report. Also used by
 * `harness ablate`, `harness eval --run` and the throughput bench.
 */
import { setMaxListeners } from "node:events";
import { join, resolve } from "node:path";
import { createBackend, createEmbeddingBackend, parseBackendSpec } from "../backends/registry.ts";
import { isScored, loadQuestions, TASKS, type Question, type TaskName } from "../dataset/intentionqa.ts";
import { INTENTIONQA_FILES } from "../dataset/sources.ts";
import { checksumTaskFile, defaultCacheRoot, resolveDataDir, type FileChecksum } from "../dataset/store.ts";
import { approximateDifficulty, loadDifficultyFile, NO_DIFFICULTY, type Difficulty } from "./difficulty.ts";
import { runTask, type SampleRecord } from "./runner.ts";
import { describeFailures, summarizeTask } from "./summarize.ts";
import { describeDecoding, resolveDecoding, type DecodingRecord } from "./decoding.ts";
import { PROTOCOL_VERSION, type Mode } from "../prompts/intentionqa.ts";
import { renderRunText, writeRunReport } from "../reports/run-report.ts";
import { REPORT_SCHEMA_ID, type EvalReport, type TaskResult, type TrainingRecord } from "../reports/schema.ts";
import { Asker } from "../runtime/ask.ts";
import { RequestCache } from "../runtime/cache.ts";
import { Progress } from "../runtime/progress.ts";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../runtime/retry.ts";
import { HarnessError } from "../util/errors.ts";
import { checkWritableDir } from "../util/paths.ts";
import { readTextFile } from "../util/text.ts";
import {
  checkHttpUrl,
  checkInteger,
  checkKeyVariable,
  checkNumber,
  MAX_BOOTSTRAP,
  MAX_SEED,
  MAX_TIMEOUT_SECONDS,
} from "../util/validate.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { EVAL_DEFAULTS } from "./defaults.ts";

export { EVAL_DEFAULTS };

export interface EvalArgs {
  task: string;
  model?: string[];
  baseUrl?: string;
  adapter?: string;
  provider?: string;
  apiKeyEnv?: string;
  mode: Mode;
  /** official (IntentionQA's settings) or model-default (the model's generation_config.json). */
  decoding?: string;
  /** model-default: a model folder, its generation_config.json, a run folder or a Hub id (default: the served model). */
  generationConfig?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  samples?: number;
  topLogprobs: number;
  data?: string;
  cacheDir?: string;
  cache: boolean;
  concurrency: number;
  timeout: number;
  retries: number;
  limit?: number;
  ids?: string;
  difficultyFile?: string;
  difficultyEmbeddings?: string;
  embeddingsBaseUrl?: string;
  seed: number;
  bootstrap: number;
  out: string;
  runId?: string;
  label?: string[];
  json: boolean;
  progress?: boolean;
  /** A `harness finetune` run directory: serve its adapter, evaluate it, stop the server. */
  run?: string;
  /** Accept a --difficulty-file that lacks some scored questions (their levels are then marked partial). */
  allowPartialDifficulty?: boolean;
  /** Set by `eval --run` and `ablate` for servers they start: see BackendIdentity.servedFrom. */
  servedFrom?: string;
  /** Set by `eval --run` and `ablate`: the training data of the adapter evaluated, for the report. */
  training?: TrainingRecord;
}

export function parseTasks(value: string): TaskName[] {
  const names = value
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const tasks = new Set<TaskName>();
  for (const name of names) {
    if (name === "all") {
      tasks.add("understanding");
      tasks.add("utilization");
    } else if ((TASKS as readonly string[]).includes(name)) tasks.add(name as TaskName);
    else throw new HarnessError(`--task "${name}" is not a task: expected understanding, utilization, by-relation or all`, { exitCode: 2 });
  }
  if (tasks.size === 0) throw new HarnessError("--task is empty", { exitCode: 2 });
  return [...tasks];
}

/** Every eval flag checked before any data is read or any question asked. */
export function validateEvalArgs(args: EvalArgs, env: NodeJS.ProcessEnv = process.env): void {
  checkInteger("concurrency", args.concurrency, { min: 1 });
  checkInteger("limit", args.limit, { min: 1 });
  checkInteger("retries", args.retries, { min: 0 });
  checkInteger("bootstrap", args.bootstrap, { min: 1, max: MAX_BOOTSTRAP });
  checkInteger("seed", args.seed, { min: 0, max: MAX_SEED });
  checkInteger("max-tokens", args.maxTokens, { min: 1 });
  checkInteger("samples", args.samples, { min: 1 });
  checkInteger("top-logprobs", args.topLogprobs, { min: 0, max: 20 });
  checkNumber("timeout", args.timeout, { min: 0, minExclusive: true, max: MAX_TIMEOUT_SECONDS });
  checkNumber("temperature", args.temperature, { min: 0, max: 2 });
  checkNumber("top-p", args.topP, { min: 0, max: 1, minExclusive: true });
  checkHttpUrl("base-url", args.baseUrl);
  checkHttpUrl("embeddings-base-url", args.embeddingsBaseUrl);
  checkKeyVariable("api-key-env", args.apiKeyEnv, env);
  if (args.runId !== undefined && (args.runId === "" || /[\\/]/.test(args.runId) || args.runId === "." || args.runId === "..")) {
    throw new HarnessError(`--run-id "${args.runId}": expected a folder name (no / or \\)`, { exitCode: 2 });
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
    throw new HarnessError(
      `--difficulty-file ${file}: no similarity or level for ${missing.length} of ${selected.length} scored question(s) (e.g. ${sample}); Easy/Medium/Hard would cover only the rest. Pass --allow-partial-difficulty to accept that (the levels are then marked partial)`,
      { exitCode: 2 },
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
  if (spec === undefined) return null;
  const text = spec.startsWith("@") ? await readTextFile(spec.slice(1), `--ids ${spec}`, 2) : spec.replace(/,/g, "\n");
  const ids = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new HarnessError(`--ids ${spec}: no ids`);
  return ids;
}

/** Scored questions, narrowed by --ids then --limit. An id that is not in the file is an error. */
export function selectQuestions(all: readonly Question[], ids: string[] | null, limit: number | undefined, file: string): Question[] {
  let selected = all.filter(isScored);
  if (ids) {
    const known = new Set(all.map((q) => q.id));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new HarnessError(
        `--ids: ${unknown.length} id(s) not in ${file}: ${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", ..." : ""}`,
        { exitCode: 2 },
      );
    }
    const wanted = new Set(ids);
    selected = selected.filter((q) => wanted.has(q.id));
  }
  return limit === undefined ? selected : selected.slice(0, limit);
}

/** The decoding one model is evaluated with; baselines decode nothing and record the official values. */
function decodingFor(args: EvalArgs, spec: { kind: string; model: string }): DecodingRecord {
  const preset = args.decoding ?? EVAL_DEFAULTS.decoding;
  const overrides = {
    ...(args.maxTokens !== undefined ? { maxTokens: args.maxTokens } : {}),
    ...(args.temperature !== undefined ? { temperature: args.temperature } : {}),
    ...(args.topP !== undefined ? { topP: args.topP } : {}),
    ...(args.samples !== undefined ? { samples: args.samples } : {}),
  };
  const baseline = spec.kind === "baseline";
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

function parseLabels(labels: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const label of labels ?? []) {
    const eq = label.indexOf("=");
    if (eq <= 0) throw new HarnessError(`--label "${label}": expected key=value`, { exitCode: 2 });
    out[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return out;
}

export interface EvalOutcome {
  reports: Array<{ dir: string; report: EvalReport }>;
}

/** The whole `harness eval`: also called by `ablate` and by `eval --run`. */
export async function runEval(
  args: EvalArgs,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream } = { stdout: process.stdout, stderr: process.stderr },
): Promise<EvalOutcome> {
  const tasks = parseTasks(args.task);
  const specs = (args.model && args.model.length > 0 ? args.model : ["baseline:random", "baseline:majority"]).map(parseBackendSpec);
  validateEvalArgs(args);
  if (args.runId !== undefined && specs.length > 1)
    throw new HarnessError("--run-id names one run; give one --model with it", { exitCode: 2 });
  // Checked before any data is loaded: a bad preset or a missing generation config is a usage error.
  const decodings = specs.map((spec) => decodingFor(args, spec));
  const labels = parseLabels(args.label);
  const ids = await readIds(args.ids);
  const cacheRoot = args.cacheDir ? resolve(args.cacheDir) : defaultCacheRoot();
  const log = (line: string) => io.stderr.write(`${line}\n`);
  // Every folder the run writes, checked now: not after every question has been answered.
  await checkWritableDir("--out", args.out);
  if (args.runId !== undefined) await checkWritableDir("--out/--run-id", join(args.out, args.runId));
  if (args.cache && specs.some((s) => s.kind !== "baseline"))
    await checkWritableDir(args.cacheDir ? "--cache-dir" : "cache directory", join(cacheRoot, "requests"));

  const data = await resolveDataDir({ ...(args.data ? { dataFlag: args.data } : {}), cacheRoot, tasks, download: true, log });
  const loaded = new Map<TaskName, { all: Question[]; selected: Question[]; checksum: FileChecksum }>();
  for (const task of tasks) {
    const file = join(data.dir, INTENTIONQA_FILES[task].fileName);
    const all = await loadQuestions(file, task);
    const checksum = await checksumTaskFile(data.dir, task);
    if (!checksum.matchesRelease) {
      log(
        `WARNING: ${file} differs from the pinned IntentionQA release (sha256 ${checksum.sha256.slice(0, 12)}...); its numbers are not comparable with the published ones`,
      );
    }
    loaded.set(task, { all, selected: selectQuestions(all, ids, args.limit, file), checksum });
  }

  const controller = new AbortController();
  // Every request in flight listens to this signal.
  setMaxListeners(0, controller.signal);
  const onSignal = () => controller.abort(new HarnessError("interrupted", { exitCode: 130 }));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    let difficulty: Difficulty = NO_DIFFICULTY;
    if (args.difficultyFile && args.difficultyEmbeddings)
      throw new HarnessError("give --difficulty-file or --difficulty-embeddings, not both", { exitCode: 2 });
    if (args.difficultyFile)
      difficulty = checkDifficultyCoverage(
        await loadDifficultyFile(args.difficultyFile),
        args.difficultyFile,
        loaded,
        args.allowPartialDifficulty ?? false,
      );
    else if (args.difficultyEmbeddings) {
      const embedder = createEmbeddingBackend(args.difficultyEmbeddings, {
        ...((args.embeddingsBaseUrl ?? args.baseUrl) ? { baseUrl: (args.embeddingsBaseUrl ?? args.baseUrl)! } : {}),
        ...(args.apiKeyEnv ? { apiKeyEnv: args.apiKeyEnv } : {}),
      });
      log(`difficulty: embedding product names with ${embedder.id()} (approximate levels)`);
      difficulty = await approximateDifficulty(
        [...loaded.values()].flatMap((l) => l.selected),
        embedder,
        { signal: controller.signal },
      );
    }

    const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, maxAttempts: args.retries + 1, timeoutMs: Math.round(args.timeout * 1000) };
    const outcome: EvalOutcome = { reports: [] };
    for (const [specIndex, spec] of specs.entries()) {
      const decoding = decodings[specIndex]!;
      if (spec.kind !== "baseline") log(`decoding ${describeDecoding(decoding)}`);
      const started = performance.now();
      const counters = { sent: 0, cacheHits: 0, retries: 0, failures: 0 };
      const results: TaskResult[] = [];
      const allSamples: SampleRecord[] = [];
      let backendInfo: EvalReport["backend"] | undefined;
      for (const task of tasks) {
        const { all, selected, checksum } = loaded.get(task)!;
        const backend = createBackend(spec, {
          ...(args.baseUrl ? { baseUrl: args.baseUrl } : {}),
          ...(args.adapter ? { adapter: args.adapter } : {}),
          ...(args.servedFrom ? { servedFrom: args.servedFrom } : {}),
          ...(args.provider ? { provider: args.provider } : {}),
          ...(args.apiKeyEnv ? { apiKeyEnv: args.apiKeyEnv } : {}),
          seed: args.seed,
          scoredGolds: () => all.filter(isScored).map((q) => q.gold),
        });
        if (!backendInfo) {
          await backend.preflight?.(AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]));
          backendInfo = { id: backend.id(), ...backend.identity() };
        }
        const cache = args.cache && backend.cacheable ? RequestCache.open(join(cacheRoot, "requests"), backend.identity(), log) : null;
        const asker = new Asker({ backend, cache, protocolVersion: PROTOCOL_VERSION, retry, signal: controller.signal });
        const progress =
          args.progress === false
            ? undefined
            : new Progress({
                label: `${backend.id()} ${task}`,
                total: selected.length,
                stream: io.stderr,
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
            seed: args.seed,
            resamples: args.bootstrap,
            selection: { limit: args.limit ?? null, ids: ids?.length ?? null },
            ...(spec.kind === "baseline" && spec.model === "random" ? { expectedAccuracyOf: selected } : {}),
          }),
        );
        allSamples.push(...records);
      }
      const runId = args.runId ?? `${new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")}-${slug(backendInfo!.id)}`;
      const report: EvalReport = {
        schema: REPORT_SCHEMA_ID,
        runId,
        createdAt: new Date().toISOString(),
        status: results.some((r) => r.questions.apiErrors > 0) ? "incomplete" : "complete",
        harness: { version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: PROTOCOL_VERSION },
        backend: backendInfo!,
        labels,
        ...(args.training ? { training: args.training } : {}),
        config: {
          tasks,
          mode: args.mode,
          decoding,
          topLogprobs: args.topLogprobs,
          seed: args.seed,
          limit: args.limit ?? null,
          ids,
          concurrency: args.concurrency,
          timeoutMs: retry.timeoutMs,
          maxAttempts: retry.maxAttempts,
          bootstrapResamples: args.bootstrap,
          cache: args.cache,
        },
        data: { dir: data.dir, origin: data.origin },
        requests: counters,
        wallTimeMs: Math.round(performance.now() - started),
        results,
      };
      const dir = resolve(args.out, runId);
      await writeRunReport(dir, report, allSamples);
      // --json: one report per line, so several --model runs stay machine-readable.
      io.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${renderRunText(report)}report: ${join(dir, "report.json")}\n\n`);
      outcome.reports.push({ dir, report });
      if (report.status === "incomplete") {
        const errors = results.reduce((a, r) => a + r.questions.apiErrors, 0);
        throw new HarnessError(
          `${errors} of ${allSamples.length} question(s) ended in errors and were not scored: ${describeFailures(allSamples)}; rerun the same command to ask only those again (answers are cached)`,
          { exitCode: 3 },
        );
      }
    }
    return outcome;
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason instanceof HarnessError) {
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", { exitCode: 130 });
    }
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
