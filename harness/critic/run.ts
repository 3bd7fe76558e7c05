import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BackendError, isFatalError, refusedRunError } from "../backends/types.ts";
import { assertKbReadable, readKb } from "../kb/read.ts";
import type { KbRow } from "../kb/schema.ts";
import type { Asker } from "../requests/ask.ts";
import { runPool } from "../requests/concurrency.ts";
import { checkRequestCacheWritable, openModel } from "../requests/open-model.ts";
import { criticContentKey } from "../sft/critic.ts";
import { BUILD_SFT_DEFAULTS } from "../sft/defaults.ts";
import { FingerprintTable, fingerprint } from "../sft/fingerprint.ts";
import { EXIT, errorMessage, HarnessError } from "../util/errors.ts";
import { sheetCsv } from "../util/escape.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { checkWritableFile, refuseOutputOverInput } from "../util/paths.ts";
import { StagedFile } from "../util/staged-output.ts";
import { checkFlag, checkUsage } from "../util/validate.ts";
import { CRITIC_DEFAULTS, type CriticConfig } from "./defaults.ts";
import { concurrencySetting } from "../util/request-flags.ts";
import {
  classifierInput,
  classifierRequest,
  classifierScore,
  CRITIC_PROTOCOL_VERSION,
  judgeRequest,
  judgeScore,
  type ScoreReading,
} from "./judge.ts";

/**
 * `harness critic`: a typicality score per KB intention from a model behind an endpoint, written
 * as the side file `harness build-sft --recipe critic --critic-file` reads (keyed by content:
 * id_a, id_b, Relation, Intention, critic_score). Every call goes through the Asker (request
 * cache, retries, timeouts), so a rerun after a failure or Ctrl-C asks only what is missing.
 */

/** The side file's header: the content key build-sft matches on, then the score. */
export const CRITIC_SIDE_COLUMNS = ["id_a", "id_b", "Relation", "Intention", "critic_score"] as const;

export interface CriticSummary {
  rows: number;
  unique: number;
  scored: number;
  unscored: number;
  /** Up to five reasons an answer gave no score, with how often. */
  unscoredReasons: Record<string, number>;
  meanScore: number | null;
  atOrAboveThreshold: number;
  threshold: number;
  requests: { sent: number; cacheHits: number; retries: number; failures: number };
  file: string;
}

/** The model, opened: asked through `asker` under `stop`, which Ctrl-C or a fatal error (`abort`) ends. */
interface CriticModel {
  asker: Asker;
  stop: AbortSignal;
  abort: () => void;
}

/** What the scoring phase carries from chunk to chunk: the summary so far and the failed intentions. */
interface ScoringState {
  summary: CriticSummary;
  scoreSum: number;
  failed: number;
  /** Up to five of the failures, one line each. */
  failures: string[];
}

export async function runCritic(config: CriticConfig, io: Io = processIo()): Promise<CriticSummary> {
  const interrupt = abortOnStopSignal({ reason: "abort" });
  try {
    validateCriticConfig(config);
    await checkCriticPaths(config);
    const model = await openCriticModel(config, interrupt.signal, io);
    const summary = await scoreKb(config, model, interrupt.signal, stderrLog(io));
    printCriticSummary(summary, config, io);
    return summary;
  } finally {
    interrupt.release();
  }
}

/** Every flag checked before anything is read or asked; errors name the flag. */
function validateCriticConfig(config: CriticConfig): void {
  checkUsage(config.model.trim() !== "", "--model is required");
  checkFlag("concurrency", config.concurrency);
  checkFlag("retries", config.retries);
  checkFlag("timeout", config.timeoutMs / 1000);
}

/** The KB readable and every path it writes checked now: not after every row has been scored. */
async function checkCriticPaths(config: CriticConfig): Promise<void> {
  // Before the server is asked anything: a KB path that is not there is a usage error.
  await assertKbReadable(config.kb);
  await checkWritableFile("--out", config.out);
  await refuseOutputOverInput({ label: "--out", path: config.out }, [{ label: "--kb", path: config.kb }]);
}

/**
 * The model through the one road (registry, request cache, preflight, Asker) under a signal that
 * Ctrl-C (`interrupted`) or a fatal answer (`abort`) ends. The cache identity is the backend's own,
 * as before the road: openai (model, base URL) or text-classification (model, URL).
 */
async function openCriticModel(config: CriticConfig, interrupted: AbortSignal, io: Io): Promise<CriticModel> {
  if (config.kind === "classifier")
    checkUsage(
      config.baseUrl !== undefined,
      '--kind classifier needs --base-url: the URL to POST {"inputs": text} to (TEI: http://host:8080/predict)',
    );
  await checkRequestCacheWritable(config.cacheDir);
  const controller = new AbortController();
  const stop = AbortSignal.any([interrupted, controller.signal]);
  const { asker } = await openModel({
    model: `${config.kind === "classifier" ? "classifier" : "openai"}:${config.model}`,
    ...(config.baseUrl ? { baseUrls: [config.baseUrl] } : {}),
    ...(config.apiKeyEnv ? { apiKeyEnv: config.apiKeyEnv } : {}),
    ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
    protocolVersion: CRITIC_PROTOCOL_VERSION,
    retries: config.retries,
    timeoutMs: config.timeoutMs,
    concurrency: concurrencySetting(config, CRITIC_DEFAULTS),
    signal: stop,
    // The critic has never shown the cache's one-time indexing line: kept silent so its stderr stays as it was.
    log: () => undefined,
    notice: (line) => io.stderr.write(`harness: ${line}\n`),
  });
  return { asker, stop, abort: () => controller.abort() };
}

/**
 * Scores the KB's distinct intentions a chunk at a time into the staged side file, which is
 * committed only when every intention got an answer.
 */
async function scoreKb(config: CriticConfig, model: CriticModel, interrupted: AbortSignal, log: (line: string) => void) {
  const out = resolve(config.out);
  await mkdir(dirname(out), { recursive: true });
  const file = new StagedFile(out);
  let committed = false;
  const state: ScoringState = { summary: emptySummary(model.asker, out), scoreSum: 0, failed: 0, failures: [] };
  try {
    file.write(sheetCsv([[...CRITIC_SIDE_COLUMNS]]));
    for await (const chunk of intentionChunks(config, state.summary)) {
      const readings = await scoreChunk(chunk, config, model, state);
      // A score sheet people open: KB text that looks like a formula is quoted ('=...); loadCriticSideFile undoes it.
      file.write(sheetCsv(tallyChunk(chunk, readings, state)));
    }
    refuseFailures(state, config, log);
    file.commit();
    committed = true;
    const { summary } = state;
    summary.meanScore = summary.scored === 0 ? null : state.scoreSum / summary.scored;
    return summary;
  } catch (error) {
    if (model.stop.aborted && interrupted.aborted)
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", {
        exitCode: EXIT.interrupted,
      });
    if (isFatalError(error)) throw refusedRunError(error);
    throw error;
  } finally {
    if (!committed) file.abandon();
  }
}

function emptySummary(asker: Asker, file: string): CriticSummary {
  return {
    rows: 0,
    unique: 0,
    scored: 0,
    unscored: 0,
    unscoredReasons: {},
    meanScore: null,
    atOrAboveThreshold: 0,
    threshold: BUILD_SFT_DEFAULTS.criticThreshold,
    requests: asker.counters,
    file,
  };
}

/**
 * The KB's distinct non-empty intentions in KB order, a chunk at a time (memory stays flat however
 * big the KB), counting rows and distinct intentions into `summary`.
 */
async function* intentionChunks(config: CriticConfig, summary: CriticSummary): AsyncGenerator<KbRow[]> {
  const seen = new FingerprintTable();
  const chunkSize = Math.max(64, 8 * config.concurrency);
  let chunk: KbRow[] = [];
  for await (const record of readKb(config.kb, {
    ...(config.kbFormat ? { format: config.kbFormat } : {}),
    readCriticScores: false,
    skipBadRows: config.skipBadRows,
  })) {
    summary.rows += 1;
    const row = record.row;
    if (row.Intention.trim() === "") continue;
    if (!seen.add(fingerprint(criticContentKey(row.id_a, row.id_b, row.Relation, row.Intention)))) continue;
    summary.unique += 1;
    chunk.push(row);
    if (chunk.length >= chunkSize) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** One request per row; a row the server keeps failing is counted, a fatal error stops every request. */
async function scoreChunk(chunk: KbRow[], config: CriticConfig, model: CriticModel, state: ScoringState) {
  const readings: Array<ScoreReading | null> = new Array(chunk.length).fill(null);
  await runPool(chunk, config.concurrency, async (row, i) => {
    try {
      readings[i] = await readScore(row, config, model.asker);
    } catch (error) {
      if (isFatalError(error) || !(error instanceof BackendError)) {
        model.abort();
        throw error;
      }
      state.failed += 1;
      if (state.failures.length < 5) state.failures.push(`${row.id_a}/${row.id_b}/${row.Relation}: ${errorMessage(error)}`);
    }
  });
  return readings;
}

async function readScore(row: KbRow, config: CriticConfig, asker: Asker): Promise<ScoreReading> {
  if (config.kind === "classifier") {
    const response = await asker.ask(classifierRequest(classifierInput(config.inputTemplate, row)));
    return classifierScore(response.response, config.label);
  }
  const response = await asker.ask(judgeRequest(row, config.judgeScore));
  return judgeScore(response.response, config.judgeScore);
}

/** Counts a chunk's readings into the summary and returns its side-file lines (no score: empty). */
function tallyChunk(chunk: KbRow[], readings: Array<ScoreReading | null>, state: ScoringState): string[][] {
  const { summary } = state;
  return chunk.map((row, i) => {
    const reading = readings[i];
    if (reading && "score" in reading) {
      summary.scored += 1;
      state.scoreSum += reading.score;
      if (reading.score >= summary.threshold) summary.atOrAboveThreshold += 1;
    } else if (reading) {
      summary.unscored += 1;
      const reason = reading.unscored.replace(/\s*\(answer .*$|\s*the answer ".*$/, "");
      if (reason in summary.unscoredReasons || Object.keys(summary.unscoredReasons).length < 5)
        summary.unscoredReasons[reason] = (summary.unscoredReasons[reason] ?? 0) + 1;
    }
    const score = reading && "score" in reading ? String(Number(reading.score.toFixed(6))) : "";
    return [row.id_a, row.id_b, row.Relation, row.Intention, score];
  });
}

/** Intentions the server kept failing: nothing is written (exit 3), and a rerun asks only those. */
function refuseFailures(state: ScoringState, config: CriticConfig, log: (line: string) => void): void {
  if (state.failed === 0) return;
  for (const f of state.failures) log(`  ${f}`);
  throw new HarnessError(
    `${state.failed} intention(s) could not be scored after ${config.retries} retries; nothing was written. Rerun the same command: answers received so far are cached and only the rest are asked`,
    { exitCode: EXIT.partial },
  );
}

/** The summary on stdout (text or JSON) and the unscored intentions' reasons on stderr. */
function printCriticSummary(summary: CriticSummary, config: CriticConfig, io: Io): void {
  if (config.json) {
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const r = summary.requests;
  io.stdout.write(
    `${summary.scored} of ${summary.unique} intention(s) scored (${summary.rows} KB rows; repeats scored once)` +
      `${summary.meanScore === null ? "" : `, mean ${summary.meanScore.toFixed(3)}, ${summary.atOrAboveThreshold} at or above ${summary.threshold}`}\n` +
      `requests: ${r.sent} sent, ${r.cacheHits} from the cache, ${r.retries} retries\n`,
  );
  if (summary.unscored > 0) {
    io.stderr.write(
      `warning: ${summary.unscored} intention(s) got no score (left empty; build-sft --recipe critic counts them as "no critic score"):\n`,
    );
    for (const [reason, count] of Object.entries(summary.unscoredReasons)) io.stderr.write(`  ${count} x ${reason}\n`);
  }
  io.stdout.write(`side file: ${summary.file} (next: harness build-sft --kb ${config.kb} --recipe critic --critic-file ${config.out})\n`);
}
