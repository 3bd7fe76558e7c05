/**
 * The one check of a server's answer before the harness uses it: a chat completion (OpenAI, vLLM,
 * TGI, HF providers) or an embeddings list, whatever JSON came back. Anything that is not the
 * protocol is a BackendError "bad-response" naming the field and what it held, never a TypeError
 * later on. Hand-written rather than a zod schema: it runs once per request on the hot path
 * (bench/eval-throughput), and only reads the few fields the harness uses.
 */
import { BackendError, type ChatResponse, type TokenAlternative, type TokenLogprob } from "./types.ts";

/** The longest finish_reason kept: real ones are a word ("stop", "length", "content_filter"). */
const MAX_FINISH_REASON = 64;

/** What a JSON value is, for messages: "a number", "an array", "null". */
export function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "a boolean";
  return typeof value;
}

function badResponse(what: string, expected: string, value: unknown): BackendError {
  return new BackendError("bad-response", `the server's reply is not the protocol: ${what} is ${jsonKind(value)}, expected ${expected}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Where token i (alternative k, or the token itself when k < 0) sits, for a message. */
function tokenPath(i: number, k: number): string {
  return `choices[0].logprobs.content[${i}]${k < 0 ? "" : `.top_logprobs[${k}]`}`;
}

/** Positions instead of a path: naming each field up front costs more than checking it. */
function alternative(value: unknown, i: number, k: number): TokenAlternative {
  if (!isRecord(value)) throw badResponse(tokenPath(i, k), "an object", value);
  const token = value["token"];
  const logprob = value["logprob"];
  if (typeof token !== "string") throw badResponse(`${tokenPath(i, k)}.token`, "a string", token);
  if (typeof logprob !== "number" || Number.isNaN(logprob)) throw badResponse(`${tokenPath(i, k)}.logprob`, "a number", logprob);
  return { token, logprob };
}

function tokenLogprobs(logprobs: unknown): TokenLogprob[] | undefined {
  if (logprobs === undefined || logprobs === null) return undefined;
  if (!isRecord(logprobs)) throw badResponse("choices[0].logprobs", "an object or null", logprobs);
  const content = logprobs["content"];
  if (content === undefined || content === null) return undefined;
  if (!Array.isArray(content)) throw badResponse("choices[0].logprobs.content", "an array or null", content);
  const tokens: TokenLogprob[] = [];
  for (let i = 0; i < content.length; i++) {
    const { token, logprob } = alternative(content[i], i, -1);
    const top = (content[i] as Record<string, unknown>)["top_logprobs"];
    const alternatives: TokenAlternative[] = [];
    if (top !== undefined && top !== null) {
      if (!Array.isArray(top)) throw badResponse(`${tokenPath(i, -1)}.top_logprobs`, "an array", top);
      for (let k = 0; k < top.length; k++) alternatives.push(alternative(top[k], i, k));
    }
    tokens.push({ token, logprob, top: alternatives });
  }
  return tokens;
}

/**
 * A chat-completion body (already parsed JSON, of any shape) -> the backend-neutral response of its
 * first choice.
 */
export function chatResponseFromBody(body: unknown): ChatResponse {
  if (typeof body === "string") throw new BackendError("bad-response", `the server's reply is not a JSON object: ${body.slice(0, 80)}`);
  if (!isRecord(body)) throw badResponse("the reply", "a JSON object", body);
  const choices = body["choices"];
  if (choices === undefined || choices === null || (Array.isArray(choices) && choices.length === 0))
    throw new BackendError("bad-response", "the server's reply has no choices");
  if (!Array.isArray(choices)) throw badResponse("choices", "an array", choices);
  const choice = choices[0];
  if (!isRecord(choice)) throw badResponse("choices[0]", "an object", choice);
  const message = choice["message"];
  if (!isRecord(message)) throw badResponse("choices[0].message", "an object", message);
  const text = message["content"];
  if (typeof text !== "string") throw badResponse("choices[0].message.content", "a string", text);
  const finish = choice["finish_reason"];
  if (finish !== undefined && finish !== null && (typeof finish !== "string" || finish.length > MAX_FINISH_REASON))
    throw badResponse("choices[0].finish_reason", `a string of at most ${MAX_FINISH_REASON} characters or null`, finish);
  const tokens = tokenLogprobs(choice["logprobs"]);
  return {
    text,
    ...(tokens && tokens.length > 0 ? { tokens } : {}),
    ...(finish ? { finishReason: finish } : {}),
  };
}

/** One vector of finite numbers, of the same length as the others. */
function vector(value: unknown, where: string, length: number | undefined): number[] {
  if (!Array.isArray(value) || value.length === 0) throw badResponse(where, "a non-empty array of numbers", value);
  for (let k = 0; k < value.length; k++) {
    const v: unknown = value[k];
    if (typeof v !== "number" || !Number.isFinite(v)) throw badResponse(`${where}[${k}]`, "a finite number", v);
  }
  if (length !== undefined && value.length !== length)
    throw new BackendError(
      "bad-response",
      `the server's reply is not the protocol: ${where} has ${value.length} numbers, the first vector ${length}`,
    );
  return value as number[];
}

/** An embeddings body ({"data": [{"index", "embedding"}]}) -> one vector per text, in the texts' order. */
export function embeddingsFromBody(body: unknown, count: number): number[][] {
  if (!isRecord(body)) throw badResponse("the reply", "a JSON object", body);
  const data = body["data"];
  if (!Array.isArray(data)) throw badResponse("data", "an array", data);
  if (data.length !== count) throw new BackendError("bad-response", `asked for ${count} embeddings, got ${data.length}`);
  const vectors: number[][] = new Array(count);
  let length: number | undefined;
  for (let i = 0; i < data.length; i++) {
    const item: unknown = data[i];
    if (!isRecord(item)) throw badResponse(`data[${i}]`, "an object", item);
    const index = item["index"] ?? i;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count || vectors[index] !== undefined)
      throw badResponse(`data[${i}].index`, `a distinct integer from 0 to ${count - 1}`, index);
    vectors[index] = vector(item["embedding"], `data[${i}].embedding`, length);
    length ??= vectors[index].length;
  }
  return vectors;
}

/** Feature-extraction output (one pooled vector per text) -> the vectors, checked alike. */
export function pooledVectors(output: unknown, count: number): number[][] {
  if (!Array.isArray(output)) throw badResponse("the reply", "an array of vectors", output);
  if (output.length !== count) throw new BackendError("bad-response", `asked for ${count} embeddings, got ${output.length}`);
  let length: number | undefined;
  return output.map((row: unknown, i) => {
    if (Array.isArray(row) && row.some((v) => Array.isArray(v)))
      throw new BackendError("bad-response", `feature extraction for text ${i} is not a pooled vector; use a sentence-embedding model`);
    const v = vector(row, `vector ${i}`, length);
    length ??= v.length;
    return v;
  });
}
