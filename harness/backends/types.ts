import { EXIT, HarnessError } from "../util/errors.ts";
import { redact } from "../util/redact.ts";

export type ChatRole = "system" | "user" | "assistant";

/** A plain-text chat message: what the prompt builders produce. */
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** One part of a multimodal message, in the OpenAI wire shape: text, or an image by URL (a data: URL included). */
export type ContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } };

/** A chat message whose content may carry images (distill); a plain-text ChatMessage is one of these. */
export interface RequestMessage {
  role: ChatRole;
  content: string | ContentPart[];
}

/** One chat-completion call, backend-neutral. Everything here that decides the answer goes into the cache key. */
export interface ChatRequest {
  messages: RequestMessage[];
  maxTokens: number;
  temperature: number;
  topP?: number;
  /** Ask for this many alternatives per generated token, where the backend can return them. */
  topLogprobs?: number;
  /** Which sample of a multi-sample question this is (cot-sc); distinct samples are cached apart. */
  sampleIndex: number;
  /**
   * The question's option letters and its id, for backends that answer without reading the
   * text (the baselines). Model backends ignore them.
   */
  choices?: readonly string[];
  itemId?: string;
}

export interface TokenAlternative {
  token: string;
  logprob: number;
}

export interface TokenLogprob extends TokenAlternative {
  top: TokenAlternative[];
}

export interface ChatResponse {
  text: string;
  /** Per generated token, when the server returned logprobs. */
  tokens?: TokenLogprob[];
  finishReason?: string;
}

/** What names a backend in reports and cache keys. Never holds a secret. */
export interface BackendIdentity {
  kind: string;
  model: string;
  baseUrl?: string;
  adapter?: string;
  provider?: string;
  /**
   * For a server the harness started itself on a free port: what it serves (engine, weights and
   * the adapter's content hash). Replaces baseUrl in the identity, so a rerun on another port
   * still finds its cached answers, and a retrained adapter does not.
   */
  servedFrom?: string;
}

/** One attempt's cancellation, as a backend sees it. */
export interface CallContext {
  readonly signal: AbortSignal;
  /**
   * A cheaper way to hear the abort than `signal` (which may be made on first use): calls the
   * listener once when the attempt is aborted, at once if it already was; returns its removal.
   */
  onAbort?(listener: (reason: unknown) => void): () => void;
}

/** The variable a kind's key is read from unless --api-key-env names another. */
export const DEFAULT_KEY_VARIABLE = { openai: "OPENAI_API_KEY", hf: "HF_TOKEN" } as const;

/** How long a backend's preflight (is the server there, does it serve the model) may take before the run gives up. */
export const PREFLIGHT_TIMEOUT_MS = 30_000;

/**
 * A model behind one method, promptfoo-style: `id()` names it, `callApi()` answers one request.
 * Backends throw BackendError for anything the retry layer must judge.
 */
export interface ModelBackend {
  id(): string;
  identity(): BackendIdentity;
  callApi(request: ChatRequest, context: CallContext): Promise<ChatResponse>;
  /** Fails fast, before a run starts, on an unreachable server or a rejected key. */
  preflight?(signal: AbortSignal): Promise<void>;
  /** False for backends whose answers cost nothing to recompute (baselines). */
  readonly cacheable: boolean;
}

/** Turns texts into vectors: used to approximate difficulty levels from product-name similarity. */
export interface EmbeddingBackend {
  id(): string;
  /** Names the embedding model in the cache (a kind of its own, apart from chat answers). */
  identity(): BackendIdentity;
  embed(texts: readonly string[], context: CallContext): Promise<number[][]>;
}

/** bad-response: a reply that is not the protocol (not JSON, no choices): asking again will not help. */
export type BackendErrorKind =
  | "rate-limit"
  | "server"
  | "network"
  | "timeout"
  | "auth"
  | "not-found"
  | "bad-request"
  | "bad-response"
  | "other";

/** A failed call, classified so the retry layer can decide without knowing the backend. */
export class BackendError extends Error {
  readonly kind: BackendErrorKind;
  readonly status?: number;
  readonly retryAfterMs?: number;
  /** Attempts made before this error was final: set by the retry layer. */
  attempts?: number;
  constructor(kind: BackendErrorKind, message: string, options: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    // Server text may quote the key back (an echoed Authorization header): never keep it.
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BackendError";
    this.kind = kind;
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  get retryable(): boolean {
    return this.kind === "rate-limit" || this.kind === "server" || this.kind === "network" || this.kind === "timeout";
  }

  /** A rejected key (401/403) or a model the server does not serve: the server refused the run, every further request is pointless. */
  get fatal(): boolean {
    return this.kind === "auth" || this.kind === "not-found";
  }
}

/** A BackendError that refused the run (see BackendError.fatal). */
export function isFatalError(error: unknown): error is BackendError {
  return error instanceof BackendError && error.fatal;
}

/**
 * The one outcome of a server that refused the run, for every command that asks a model (eval,
 * distill, critic, analyze): the run could not be done, so EXIT.failed, in one message shape.
 * `who` names the backend where the caller knows it.
 */
export function refusedRunError(error: BackendError, who?: string): HarnessError {
  const hint =
    error.kind === "auth"
      ? "; the API key was rejected: set OPENAI_API_KEY (or the variable --api-key-env names) to a valid key"
      : "; check --model and --base-url";
  return new HarnessError(`${who ? `${who}: ` : ""}the server refused the run: ${error.message}${hint}`, {
    exitCode: EXIT.failed,
    cause: error,
  });
}

/** Classifies an HTTP status the way every backend should. */
export function kindForStatus(status: number): BackendErrorKind {
  if (status === 429) return "rate-limit";
  if (status === 408) return "timeout";
  if (status === 401 || status === 403) return "auth";
  if (status === 404) return "not-found";
  if (status >= 500) return "server";
  if (status >= 400) return "bad-request";
  return "other";
}

/** Retry-After as seconds or an HTTP date, and the non-standard retry-after-ms; undefined when absent or unreadable. */
export function parseRetryAfter(headers: { get(name: string): string | null } | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  // Decimal numbers only: Number() also reads "0x10" as 16 and " " as 0, which no server means.
  const decimal = (text: string) => (/^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN);
  const ms = headers.get("retry-after-ms");
  if (ms !== null && Number.isFinite(decimal(ms))) return decimal(ms);
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return undefined;
  const seconds = decimal(value);
  if (Number.isFinite(seconds)) return seconds * 1000;
  // A negative or otherwise odd number is no date either (Date.parse reads "-1" as a year).
  if (/^\s*[-+]?[\d.eE]+\s*$/.test(value) || /^\s*0[xob]/i.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The longest server message kept in an error: enough to read, short enough for one line. */
const MAX_SERVER_MESSAGE = 300;

/**
 * The human part of an error body, whatever the server: OpenAI's {"error": {"message"}}, vLLM's
 * {"message"}, FastAPI's (LLaMA-Factory's) {"detail"}, TGI's {"error": "..."}, an HTML error page
 * (its title or text), or plain text. One line, shortened, secrets removed.
 */
export function serverMessage(body: string): string {
  let text = body.trim();
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed !== null && typeof parsed === "object") {
      const o = parsed as Record<string, unknown>;
      const inner = o["error"] !== null && typeof o["error"] === "object" ? (o["error"] as Record<string, unknown>)["message"] : o["error"];
      const found = [inner, o["message"], o["detail"]].find((v) => v !== undefined && v !== null);
      text = found === undefined ? text : typeof found === "string" ? found : JSON.stringify(found);
    } else if (typeof parsed === "string") text = parsed;
  } catch {
    if (/^<(!doctype|html|head|body)/i.test(text)) {
      const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text)?.[1];
      text = (title ?? text.replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ").replace(/<[^>]+>/g, " ")).trim();
      text = `HTML page: ${text}`;
    }
  }
  text = text.replace(/\s+/g, " ").trim();
  if (text === "") text = "(empty body)";
  if (text.length > MAX_SERVER_MESSAGE) text = `${text.slice(0, MAX_SERVER_MESSAGE)}...`;
  return redact(text);
}
