import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { OpenAIBackend } from "../backends/openai.ts";
import { TextClassificationBackend } from "../backends/text-classification.ts";
import { BackendError, DEFAULT_KEY_VARIABLE, PREFLIGHT_TIMEOUT_MS, refusedRunError, type ModelBackend } from "../backends/types.ts";
import { defaultCacheRoot } from "../benchmark/store.ts";
import { isFatal } from "../distill/pipeline.ts";
import { assertKbReadable, readKb, type KbFormat } from "../kb/read.ts";
import type { KbRow } from "../kb/schema.ts";
import { Asker } from "../requests/ask.ts";
import { RequestCache } from "../requests/cache.ts";
import { runPool } from "../requests/concurrency.ts";
import { retryPolicy } from "../requests/retry.ts";
import { criticContentKey } from "../sft/critic.ts";
import { BUILD_SFT_DEFAULTS } from "../sft/defaults.ts";
import { FingerprintTable, fingerprint } from "../sft/fingerprint.ts";
import { EXIT, errorMessage, HarnessError } from "../util/errors.ts";
import { checkWritableDir, checkWritableFile, refuseOutputOverInput } from "../util/paths.ts";
import { StagedFile } from "../util/staged-output.ts";
import { CRITIC_DEFAULTS, CRITIC_KINDS, type CriticKind } from "./defaults.ts";
import {
  classifierInput,
  classifierRequest,
  classifierScore,
  CRITIC_PROTOCOL_VERSION,
  judgeRequest,
  judgeScore,
  type JudgeScore,
  type ScoreReading,
} from "./judge.ts";
import { checkUsage, checkFlag } from "../util/validate.ts";
import { sheetCsv } from "../util/escape.ts";

/**
 * `harness critic`: a typicality score per KB intention from a model behind an endpoint, written
 * as the side file `harness build-sft --recipe critic --critic-file` reads (keyed by content:
 * id_a, id_b, Relation, Intention, critic_score). Every call goes through the Asker (request
 * cache, retries, timeouts), so a rerun after a failure or Ctrl-C asks only what is missing.
 */

export { CRITIC_DEFAULTS, CRITIC_KINDS, type CriticKind };

/** The side file's header: the content key build-sft matches on, then the score. */
export const CRITIC_SIDE_COLUMNS = ["id_a", "id_b", "Relation", "Intention", "critic_score"] as const;

export interface CriticOptions {
  kb: string;
  kbFormat?: KbFormat;
  out: string;
  kind: CriticKind;
  model: string;
  /** judge: the OpenAI-compatible base URL; classifier: the URL to POST {"inputs"} to. */
  baseUrl?: string;
  apiKeyEnv?: string;
  judgeScore: JudgeScore;
  label?: string;
  inputTemplate: string;
  concurrency: number;
  /** Per request, before it is aborted and retried. */
  timeoutMs: number;
  retries: number;
  cacheDir?: string;
  skipBadRows?: boolean;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

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

function backendFor(options: CriticOptions): ModelBackend {
  const env = process.env;
  if (options.kind === "classifier") {
    checkUsage(
      options.baseUrl !== undefined,
      '--kind classifier needs --base-url: the URL to POST {"inputs": text} to (TEI: http://host:8080/predict)',
    );
    const token = env[options.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.hf];
    return new TextClassificationBackend({ url: options.baseUrl!, model: options.model, ...(token ? { token } : {}) });
  }
  const apiKey = env[options.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.openai];
  return new OpenAIBackend({
    model: options.model,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    ...(apiKey ? { apiKey } : {}),
  });
}

export async function runCritic(options: CriticOptions): Promise<CriticSummary> {
  checkUsage(options.model.trim() !== "", "--model is required");
  checkFlag("concurrency", options.concurrency);
  checkFlag("retries", options.retries);
  checkFlag("timeout", options.timeoutMs / 1000);
  const log = options.log ?? (() => undefined);
  // Before the server is asked anything: a KB path that is not there is a usage error.
  await assertKbReadable(options.kb);
  // Every path it writes, checked now: not after every row has been scored.
  await checkWritableFile("--out", options.out);
  await refuseOutputOverInput({ label: "--out", path: options.out }, [{ label: "--kb", path: options.kb }]);
  const backend = backendFor(options);
  const cacheRoot = options.cacheDir ? resolve(options.cacheDir) : defaultCacheRoot();
  await checkWritableDir(options.cacheDir ? "--cache-dir" : "cache directory", join(cacheRoot, "requests"));
  const cache = RequestCache.open(join(cacheRoot, "requests"), backend.identity());
  const controller = new AbortController();
  const stop = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  if (backend.preflight) await backend.preflight(AbortSignal.any([stop, AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS)]));
  const asker = new Asker({
    backend,
    cache,
    protocolVersion: CRITIC_PROTOCOL_VERSION,
    retry: retryPolicy(options),
    signal: stop,
  });

  const read = async (row: KbRow): Promise<ScoreReading> => {
    if (options.kind === "classifier") {
      const response = await asker.ask(classifierRequest(classifierInput(options.inputTemplate, row)));
      return classifierScore(response.response, options.label);
    }
    const response = await asker.ask(judgeRequest(row, options.judgeScore));
    return judgeScore(response.response, options.judgeScore);
  };

  const out = resolve(options.out);
  await mkdir(dirname(out), { recursive: true });
  const file = new StagedFile(out);
  let committed = false;
  const summary: CriticSummary = {
    rows: 0,
    unique: 0,
    scored: 0,
    unscored: 0,
    unscoredReasons: {},
    meanScore: null,
    atOrAboveThreshold: 0,
    threshold: BUILD_SFT_DEFAULTS.criticThreshold,
    requests: asker.counters,
    file: out,
  };
  let scoreSum = 0;
  let failed = 0;
  const failures: string[] = [];
  try {
    file.write(sheetCsv([[...CRITIC_SIDE_COLUMNS]]));
    const seen = new FingerprintTable();
    // Rows are scored a chunk at a time and written in KB order: memory stays flat however big the KB.
    const chunkSize = Math.max(64, 8 * options.concurrency);
    let chunk: KbRow[] = [];
    const flush = async () => {
      const readings: Array<ScoreReading | null> = new Array(chunk.length).fill(null);
      await runPool(chunk, options.concurrency, async (row, i) => {
        try {
          readings[i] = await read(row);
        } catch (error) {
          if (isFatal(error) || !(error instanceof BackendError)) {
            controller.abort();
            throw error;
          }
          failed += 1;
          if (failures.length < 5) failures.push(`${row.id_a}/${row.id_b}/${row.Relation}: ${errorMessage(error)}`);
        }
      });
      const lines = chunk.map((row, i) => {
        const reading = readings[i];
        if (reading && "score" in reading) {
          summary.scored += 1;
          scoreSum += reading.score;
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
      // A score sheet people open: KB text that looks like a formula is quoted ('=...); loadCriticSideFile undoes it.
      file.write(sheetCsv(lines));
      chunk = [];
    };
    for await (const record of readKb(options.kb, {
      ...(options.kbFormat ? { format: options.kbFormat } : {}),
      readCriticScores: false,
      skipBadRows: options.skipBadRows === true,
    })) {
      summary.rows += 1;
      const row = record.row;
      if (row.Intention.trim() === "") continue;
      if (!seen.add(fingerprint(criticContentKey(row.id_a, row.id_b, row.Relation, row.Intention)))) continue;
      summary.unique += 1;
      chunk.push(row);
      if (chunk.length >= chunkSize) await flush();
    }
    if (chunk.length > 0) await flush();
    if (failed > 0) {
      for (const f of failures) log(`  ${f}`);
      throw new HarnessError(
        `${failed} intention(s) could not be scored after ${options.retries} retries; nothing was written. Rerun the same command: answers received so far are cached and only the rest are asked`,
        { exitCode: EXIT.partial },
      );
    }
    file.commit();
    committed = true;
    summary.meanScore = summary.scored === 0 ? null : scoreSum / summary.scored;
    return summary;
  } catch (error) {
    if (stop.aborted && options.signal?.aborted)
      throw new HarnessError("interrupted; answers received so far are cached: rerun the same command to resume", {
        exitCode: EXIT.interrupted,
      });
    if (isFatal(error)) throw refusedRunError(error);
    throw error;
  } finally {
    if (!committed) file.abandon();
  }
}
