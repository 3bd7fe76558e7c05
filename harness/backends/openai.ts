import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import { HarnessError } from "../util/errors.ts";
import { publicUrl } from "../util/redact.ts";
import { checkHttpUrl } from "../util/validate.ts";
import { chatResponseFromBody, embeddingsFromBody } from "./answer.ts";
import { type Endpoint, endpointOf, keepAliveFetch, postJson, type RawReply, transportError } from "./http.ts";
import { memberJson, messagesAreWireShaped, messagesJson } from "./request-json.ts";
import {
  BackendError,
  kindForStatus,
  parseRetryAfter,
  type BackendIdentity,
  type CallContext,
  type ChatRequest,
  type ChatResponse,
  type EmbeddingBackend,
  type ModelBackend,
  type RequestMessage,
  serverMessage,
} from "./types.ts";

export interface OpenAIBackendOptions {
  model: string;
  /** Any OpenAI-compatible server: vLLM, LLaMA-Factory's API, llama.cpp, Ollama, OpenAI. */
  baseUrl?: string;
  /** Read from the environment by the caller; never stored in identity() or logs. */
  apiKey?: string;
  /** A LoRA adapter name the server exposes; recorded, and sent as the model when set. */
  adapter?: string;
  /** See BackendIdentity.servedFrom. */
  servedFrom?: string;
}

export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";

/**
 * keepAliveFetch, with every error body rewritten to OpenAI's {"error": {"message"}} shape: the SDK
 * reads only that shape, and vLLM ({"message"}), LLaMA-Factory ({"detail"}), proxies (HTML pages)
 * answer otherwise, which left "500 status code (no body)" where the server had said why.
 */
export const errorBodyFetch: typeof fetch = async (input, init) => {
  const response = await keepAliveFetch(input, init);
  if (response.ok || response.status === 304) return response;
  const text = await response.text();
  const headers = new Headers(response.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  return new Response(JSON.stringify({ error: { message: serverMessage(text) } }), { status: response.status, headers });
};

/** Turns whatever the openai SDK threw into a BackendError the retry layer understands. */
export function classifyOpenAIError(error: unknown): BackendError {
  if (error instanceof BackendError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new BackendError("timeout", "request timed out", { cause: error });
  if (error instanceof OpenAI.APIUserAbortError) return new BackendError("timeout", "request aborted (timeout)", { cause: error });
  // A BackendError thrown inside the fetch (a body over the size cap) comes back wrapped.
  if (error instanceof OpenAI.APIConnectionError && error.cause instanceof BackendError) return error.cause;
  if (error instanceof OpenAI.APIConnectionError) {
    const cause = (error as { cause?: { code?: string; cause?: { code?: string } } }).cause;
    const code = cause?.code ?? cause?.cause?.code;
    return new BackendError("network", `connection failed${code ? ` (${code})` : ""}`, { cause: error });
  }
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const retryAfterMs = parseRetryAfter(error.headers ?? undefined);
    // The SDK prefixes the status to the body's message; say it once.
    const message = error.message.startsWith(`${error.status} `) ? error.message.slice(String(error.status).length + 1) : error.message;
    return new BackendError(kindForStatus(error.status), `HTTP ${error.status}: ${message}`, {
      status: error.status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      cause: error,
    });
  }
  if (error instanceof Error && error.name === "AbortError")
    return new BackendError("timeout", "request aborted (timeout)", { cause: error });
  if (error instanceof SyntaxError)
    return new BackendError("bad-response", `the server's reply is not valid JSON (${error.message})`, { cause: error });
  return new BackendError("other", error instanceof Error ? error.message : String(error), { cause: error });
}

/**
 * JSON.stringify(chatCompletionBody(...)), with the messages' JSON shared with the request key
 * when the messages are already in the wire shape (every text prompt); other messages are built
 * and stringified whole.
 */
export function chatCompletionJson(model: string, request: ChatRequest, logprobs = false): string {
  if (!messagesAreWireShaped(request.messages)) return JSON.stringify(chatCompletionBody(model, request, logprobs));
  const sampling = `${memberJson("max_tokens", request.maxTokens)}${memberJson("temperature", request.temperature)}${memberJson("top_p", request.topP)}`;
  const logprobsMembers = logprobs ? `${memberJson("logprobs", true)}${memberJson("top_logprobs", request.topLogprobs)}` : "";
  return `{"model":${JSON.stringify(model)},"messages":${messagesJson(request.messages)}${sampling}${logprobsMembers}}`;
}

/** The SDK's message shape: image parts are only valid in user messages, so other roles send their text. */
export function toOpenAIMessages(messages: readonly RequestMessage[]): ChatCompletionMessageParam[] {
  return messages.map((m): ChatCompletionMessageParam => {
    if (typeof m.content === "string") return { role: m.role, content: m.content };
    if (m.role === "user") return { role: "user", content: m.content };
    return { role: m.role, content: m.content.map((p) => (p.type === "text" ? p.text : "")).join("") };
  });
}

/**
 * The exact /v1/chat/completions body for a request: what the backend sends, and what a batch
 * file line carries (distill --emit-batch), so both are answered alike.
 */
export function chatCompletionBody(model: string, request: ChatRequest, logprobs = false): ChatCompletionCreateParamsNonStreaming {
  return {
    model,
    messages: toOpenAIMessages(request.messages),
    max_tokens: request.maxTokens,
    temperature: request.temperature,
    ...(request.topP === undefined ? {} : { top_p: request.topP }),
    ...(logprobs ? { logprobs: true, top_logprobs: request.topLogprobs } : {}),
  };
}

export class OpenAIBackend implements ModelBackend {
  readonly cacheable = true;
  private readonly client: OpenAI;
  private readonly options: OpenAIBackendOptions;
  /** Flipped off after a server rejects the logprobs fields (LLaMA-Factory, some proxies). */
  private logprobsSupported = true;

  private readonly chat: Endpoint;
  /** Built once: the SDK's auth and organization headers, without its per-request merging. */
  private readonly chatHeaders: Record<string, string>;

  constructor(options: OpenAIBackendOptions) {
    // The chat endpoint is split into origin and path here, once: a base URL that is no URL is a
    // usage error now (critic and analyze take --base-url unchecked), not a failure per request.
    checkHttpUrl("base-url", options.baseUrl);
    this.options = options;
    this.client = new OpenAI({
      apiKey: options.apiKey || "EMPTY",
      baseURL: options.baseUrl ?? OPENAI_DEFAULT_BASE_URL,
      // Retries, timeouts and backoff are the harness's own, uniform across backends.
      maxRetries: 0,
      fetch: errorBodyFetch,
      timeout: 24 * 3600_000,
    });
    this.chat = endpointOf(joinPath(this.client.baseURL, "/chat/completions"));
    this.chatHeaders = {
      accept: "application/json",
      "content-type": "application/json",
      authorization: `Bearer ${this.client.apiKey}`,
      ...(this.client.organization ? { "openai-organization": this.client.organization } : {}),
      ...(this.client.project ? { "openai-project": this.client.project } : {}),
    };
  }

  id(): string {
    return `openai:${this.options.model}`;
  }

  identity(): BackendIdentity {
    return {
      kind: "openai",
      model: this.options.model,
      ...(this.options.servedFrom
        ? { servedFrom: this.options.servedFrom }
        : { baseUrl: publicUrl(this.options.baseUrl ?? OPENAI_DEFAULT_BASE_URL) }),
      ...(this.options.adapter ? { adapter: this.options.adapter } : {}),
    };
  }

  async preflight(signal: AbortSignal): Promise<void> {
    const where = publicUrl(this.options.baseUrl ?? OPENAI_DEFAULT_BASE_URL);
    if (!this.options.apiKey && (this.options.baseUrl ?? OPENAI_DEFAULT_BASE_URL) === OPENAI_DEFAULT_BASE_URL) {
      throw new HarnessError(
        `${this.id()} at ${where} needs an API key: set OPENAI_API_KEY (or name another variable with --api-key-env), or give --base-url for a local server`,
      );
    }
    try {
      // The raw body: the SDK's page object would turn an HTML page into an empty model list.
      const models = await this.client.get<unknown>("/models", { signal });
      const data = (models as { data?: unknown } | null)?.data;
      if (!Array.isArray(data)) {
        throw new HarnessError(
          `the server at ${where} does not answer like an OpenAI-compatible API (GET /models: ${typeof models === "string" ? serverMessage(models) : "no model list"}); check --base-url (it usually ends in /v1)`,
        );
      }
      // Entries of another shape (null, an id that is not text) name no model.
      const ids = data.flatMap((m: unknown) =>
        m !== null && typeof m === "object" && typeof (m as { id?: unknown }).id === "string" ? [(m as { id: string }).id] : [],
      );
      const wanted = this.options.adapter ?? this.options.model;
      if (ids.length > 0 && !ids.includes(wanted)) {
        throw new HarnessError(`the server at ${where} does not serve model "${wanted}"; it serves: ${ids.slice(0, 10).join(", ")}`);
      }
    } catch (error) {
      if (error instanceof HarnessError) throw error;
      const failure = classifyOpenAIError(error);
      if (failure.kind === "auth") {
        throw new HarnessError(
          `the server at ${where} rejected the API key (${failure.message}); set OPENAI_API_KEY (or the variable --api-key-env names) to a valid key`,
        );
      }
      if (failure.kind === "network" || failure.kind === "timeout") {
        throw new HarnessError(
          `cannot reach an OpenAI-compatible server at ${where}: ${failure.message}; check --base-url and that the server is running`,
        );
      }
      if (failure.kind === "bad-response") {
        throw new HarnessError(
          `the server at ${where} does not answer like an OpenAI-compatible API (GET /models: ${failure.message}); check --base-url (it usually ends in /v1)`,
        );
      }
      // Servers without /v1/models (404) or with a flaky one still get asked; calls will tell.
    }
  }

  async callApi(request: ChatRequest, context: CallContext): Promise<ChatResponse> {
    const wantLogprobs = request.topLogprobs !== undefined && request.topLogprobs > 0 && this.logprobsSupported;
    try {
      return await this.create(request, wantLogprobs, context);
    } catch (error) {
      const failure = classifyOpenAIError(error);
      if (wantLogprobs && failure.kind === "bad-request" && /logprob/i.test(failure.message)) {
        this.logprobsSupported = false;
        try {
          return await this.create(request, false, context);
        } catch (retryError) {
          throw classifyOpenAIError(retryError);
        }
      }
      throw failure;
    }
  }

  /**
   * One POST straight on the keep-alive pool: the SDK's per-request work (header merging, URL and
   * option building, its logger) cost more than the HTTP itself at thousands of requests a second
   * (docs/performance.md). The answer is read as the SDK read it, then checked field by field.
   */
  private async create(request: ChatRequest, logprobs: boolean, context: CallContext): Promise<ChatResponse> {
    const body = chatCompletionJson(this.options.adapter ?? this.options.model, request, logprobs);
    let reply: RawReply;
    try {
      reply = await postJson(this.chat, this.chatHeaders, body, context);
    } catch (error) {
      throw transportError(error);
    }
    if (reply.status < 200 || reply.status >= 300) throw httpError(reply);
    return chatResponseFromBody(replyBody(reply));
  }
}

/** A non-2xx answer: its status, the server's own message (any error shape) and its Retry-After. */
function httpError(reply: RawReply): BackendError {
  const retryAfterMs = parseRetryAfter(reply.headers);
  return new BackendError(kindForStatus(reply.status), `HTTP ${reply.status}: ${serverMessage(reply.text)}`, {
    status: reply.status,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** A 2xx answer's JSON, read as the SDK reads it: parsed when it says it is JSON, a bad response otherwise. */
function replyBody(reply: RawReply): unknown {
  const mediaType = reply.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
  if (mediaType.includes("application/json") || mediaType.endsWith("+json")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(reply.text);
    } catch (error) {
      throw new BackendError("bad-response", `the server's reply is not valid JSON (${(error as Error).message})`, { cause: error });
    }
    if (typeof parsed !== "string") return parsed;
  }
  throw new BackendError("bad-response", `the server's reply is not JSON: ${serverMessage(reply.text)}`);
}

/** An endpoint under a base URL, joined as the SDK joins it. */
function joinPath(baseUrl: string, path: string): string {
  return `${baseUrl.endsWith("/") ? baseUrl.slice(0, -1) : baseUrl}${path}`;
}

/** OpenAI-compatible /v1/embeddings, for difficulty approximation. */
export class OpenAIEmbeddingBackend implements EmbeddingBackend {
  private readonly client: OpenAI;
  constructor(private readonly options: { model: string; baseUrl?: string; apiKey?: string }) {
    this.client = new OpenAI({
      apiKey: options.apiKey || "EMPTY",
      baseURL: options.baseUrl ?? OPENAI_DEFAULT_BASE_URL,
      maxRetries: 0,
      fetch: errorBodyFetch,
    });
  }

  id(): string {
    return `openai:${this.options.model}`;
  }

  identity(): BackendIdentity {
    return { kind: "openai-embeddings", model: this.options.model, baseUrl: publicUrl(this.options.baseUrl ?? OPENAI_DEFAULT_BASE_URL) };
  }

  async embed(texts: readonly string[], context: CallContext): Promise<number[][]> {
    try {
      // Explicit floats: without encoding_format the SDK asks for base64 and decodes whatever comes
      // back as float32 bytes, which garbles the vectors of servers that answer floats anyway.
      const response = await this.client.embeddings.create(
        { model: this.options.model, input: [...texts], encoding_format: "float" },
        { signal: context.signal },
      );
      return embeddingsFromBody(response as unknown, texts.length);
    } catch (error) {
      throw classifyOpenAIError(error);
    }
  }
}
