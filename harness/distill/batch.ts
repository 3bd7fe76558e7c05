import { readTextFile } from "../util/text.ts";
import type { ChatResponse } from "../backends/types.ts";
import type { RequestCache } from "../requests/cache.ts";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { MIND_STEPS, type MindStep } from "./pipeline.ts";

/**
 * OpenAI Batch API files, so an offline engine (vllm run-batch, a provider's batch API) can do the
 * work: one input line per request not yet answered, and the engine's output lines read back into
 * the request cache. The custom_id carries the MIND step and the request's cache key.
 */
export const BATCH_URL = "/v1/chat/completions";

export function customIdFor(step: MindStep, key: string): string {
  return `${step}-${key}`;
}

export function parseCustomId(customId: string): { step: MindStep; key: string } | null {
  const match = /^([a-z]+)-([0-9a-f]{64})$/.exec(customId);
  if (!match || !(MIND_STEPS as readonly string[]).includes(match[1]!)) return null;
  return { step: match[1] as MindStep, key: match[2]! };
}

/** One line of a batch input file (JSON, no trailing newline). */
export function batchInputLine(step: MindStep, key: string, body: object): string {
  return JSON.stringify({ custom_id: customIdFor(step, key), method: "POST", url: BATCH_URL, body });
}

/** What one output line says: an answer to cache, or an error to report. */
export type BatchResult =
  | { kind: "answer"; step: MindStep; key: string; customId: string; response: ChatResponse; model?: string }
  | { kind: "error"; step: MindStep; key: string; customId: string; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses one line of a batch output file; `where` is "file:line" for errors. */
export function parseBatchOutputLine(text: string, where: string): BatchResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new HarnessError(
      `${where}: not valid JSON (${errorMessage(error)}); expected a batch output line {"custom_id", "response": {"status_code", "body"}}`,
    );
  }
  if (!isObject(parsed) || typeof parsed["custom_id"] !== "string")
    throw new HarnessError(
      `${where}: no "custom_id" string; expected a batch output line {"custom_id", "response": {"status_code", "body"}}`,
    );
  const customId = parsed["custom_id"];
  const id = parseCustomId(customId);
  if (!id)
    throw new HarnessError(
      `${where}: custom_id "${customId.slice(0, 80)}" was not written by harness distill --emit-batch (expected <stage>-<64 hex digits>)`,
    );
  const base = { step: id.step, key: id.key, customId };
  const response = parsed["response"];
  const lineError = parsed["error"];
  if (isObject(response) && response["status_code"] === 200 && isObject(response["body"])) {
    const body = response["body"];
    const choices = body["choices"];
    const choice = Array.isArray(choices) && isObject(choices[0]) ? choices[0] : undefined;
    const message = choice && isObject(choice["message"]) ? choice["message"] : undefined;
    if (!message || typeof message["content"] !== "string") {
      throw new HarnessError(`${where}: response.body has no choices[0].message.content string; expected a chat completion`);
    }
    const finish = choice!["finish_reason"];
    return {
      kind: "answer",
      ...base,
      response: { text: message["content"], ...(typeof finish === "string" ? { finishReason: finish } : {}) },
      ...(typeof body["model"] === "string" ? { model: body["model"] } : {}),
    };
  }
  if (isObject(lineError)) return { kind: "error", ...base, message: String(lineError["message"] ?? JSON.stringify(lineError)) };
  if (isObject(response) && typeof response["status_code"] === "number") {
    const body = response["body"];
    const detail = isObject(body) && isObject(body["error"]) ? String(body["error"]["message"] ?? "") : "";
    return { kind: "error", ...base, message: `HTTP ${response["status_code"]}${detail ? `: ${detail}` : ""}` };
  }
  throw new HarnessError(`${where}: neither a "response" with status_code and body nor an "error"`);
}

export interface IngestSummary {
  answered: number;
  perStep: Record<MindStep, number>;
  errors: Array<{ customId: string; message: string }>;
  /** Models named by the answers, to catch a batch run with another model than --model. */
  models: string[];
}

/** Reads a batch output file into the cache. Bad lines are errors naming file:line; nothing is cached from a file that has one. */
export async function ingestBatch(file: string, cache: RequestCache): Promise<IngestSummary> {
  // Bytes that are not UTF-8 are an error naming the line, not answers cached with U+FFFD in them.
  const text = await readTextFile(file, `--ingest-batch ${file}`);
  const results: BatchResult[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== "") results.push(parseBatchOutputLine(line, `${file}:${i + 1}`));
  });
  const summary: IngestSummary = { answered: 0, perStep: { features: 0, intentions: 0, filter: 0 }, errors: [], models: [] };
  const models = new Set<string>();
  for (const result of results) {
    if (result.kind === "error") {
      summary.errors.push({ customId: result.customId, message: result.message });
      continue;
    }
    if (result.model) models.add(result.model);
    // A custom_id may repeat legitimately: the outputs of a batch and of its retry, concatenated.
    // The first answer is kept; an error line beside an answer is still listed.
    if (!cache.get(result.key)) cache.put(result.key, { response: result.response, latencyMs: 0 });
    summary.answered += 1;
    summary.perStep[result.step] += 1;
  }
  summary.models = [...models];
  return summary;
}
