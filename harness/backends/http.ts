import { Agent, type Dispatcher, request } from "undici";
import { BackendError, type CallContext } from "./types.ts";

/**
 * One keep-alive connection pool for every model call. undici's `request` costs a fraction of
 * WHATWG fetch per call, which is what lets one client keep 64+ requests in flight on a small
 * machine (bench/eval-throughput). Exposed as a fetch so the SDKs keep doing the protocol work.
 */
const agent = new Agent({ connections: 256, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });

function headerRecord(headers: RequestInit["headers"]): Record<string, string> {
  if (!headers) return {};
  if (headers instanceof Headers) return Object.fromEntries(headers.entries());
  if (Array.isArray(headers)) return Object.fromEntries(headers);
  return headers as Record<string, string>;
}

/**
 * The part of a WHATWG Response that non-streaming SDK calls read (status, headers, json/text),
 * over a body already read in full. Building a real Response wraps the bytes in a web stream
 * only to read them back, which cost a quarter of the client's CPU per request.
 */
function bufferedResponse(url: string, status: number, headers: Headers, bytes: Buffer): Response {
  let text: string | undefined;
  const asText = () => (text ??= bytes.toString("utf8"));
  const response = {
    ok: status >= 200 && status < 300,
    status,
    statusText: "",
    url,
    headers,
    redirected: false,
    type: "basic",
    body: null,
    bodyUsed: false,
    text: async () => asText(),
    json: async () => JSON.parse(asText()) as unknown,
    arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    clone: () => bufferedResponse(url, status, headers, bytes),
  };
  return response as unknown as Response;
}

/**
 * The largest answer body read: a chat answer is kilobytes, an embeddings batch a few megabytes.
 * A server that sends more (or never stops) is a bad response, not a process out of memory.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

function tooLarge(url: string): BackendError {
  return new BackendError("bad-response", `the server's reply from ${url} is larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`);
}

type ResponseBody = Dispatcher.ResponseData["body"];

/**
 * The whole body, refusing (and closing) one over MAX_RESPONSE_BYTES. Data events rather than an
 * async iterator: the iterator's promise per chunk showed in the profile at thousands of answers/s.
 */
function readBounded(url: string, declaredLength: string | string[] | undefined, body: ResponseBody): Promise<Buffer> {
  if (Number(declaredLength ?? Number.NaN) > MAX_RESPONSE_BYTES) {
    body.destroy();
    return Promise.reject(tooLarge(url));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        body.destroy();
        reject(tooLarge(url));
        return;
      }
      chunks.push(chunk);
    });
    body.on("error", reject);
    body.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
  });
}

/** Reads a header of an undici answer the way Headers.get does (repeated values joined). */
export interface HeaderReader {
  get(name: string): string | null;
}

type IncomingHeaders = Record<string, string | string[] | undefined>;

class UndiciHeaders implements HeaderReader {
  constructor(private readonly headers: IncomingHeaders) {}
  get(name: string): string | null {
    const value = this.headers[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
  }
}

/** A server's answer read in full (at most MAX_RESPONSE_BYTES): what the chat path needs of it. */
export interface RawReply {
  status: number;
  headers: HeaderReader;
  text: string;
}

/** Where a POST goes: split once, so no request parses its URL again. */
export interface Endpoint {
  /** The URL as given, for messages (it is never sent with credentials: origin and path only). */
  url: string;
  origin: string;
  path: string;
}

export function endpointOf(url: string): Endpoint {
  const parsed = new URL(url);
  return { url, origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
}

function abortError(): Error {
  return Object.assign(new Error("request aborted"), { name: "AbortError" });
}

/**
 * Collects one answer straight from undici's dispatcher into a buffer: no Readable body stream, no
 * per-request URL parsing, which the chat hot path paid for every answer (docs/performance.md).
 * Enforces the size cap (declared and actual) and the attempt's abort signal.
 */
class BufferedAnswer implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private headers: IncomingHeaders = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private settled = false;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly url: string,
    context: CallContext,
    private readonly resolve: (reply: RawReply) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.stopListening = listenForAbort(context, () => this.fail(abortError()));
  }

  get isSettled(): boolean {
    return this.settled;
  }

  /** Settles once; the abort listener goes, so a signal that outlives the call keeps none. */
  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.stopListening?.();
    return true;
  }

  private fail(error: unknown): void {
    if (!this.settle()) return;
    this.controller?.abort(error instanceof Error ? error : abortError());
    this.reject(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.settled) controller.abort(abortError());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHeaders): void {
    this.status = statusCode;
    this.headers = headers;
    const declared = headers["content-length"];
    if (typeof declared === "string" && Number(declared) > MAX_RESPONSE_BYTES) this.fail(tooLarge(this.url));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > MAX_RESPONSE_BYTES) this.fail(tooLarge(this.url));
    else this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (!this.settle()) return;
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.resolve({ status: this.status, headers: new UndiciHeaders(this.headers), text: bytes.toString("utf8") });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }
}

/** The attempt's abort, heard through its cheap `onAbort` when it has one, else through its signal. */
function listenForAbort(context: CallContext, listener: () => void): () => void {
  if (context.onAbort) return context.onAbort(listener);
  const signal = context.signal;
  if (signal.aborted) {
    listener();
    return () => undefined;
  }
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

/**
 * One POST of a JSON body on the shared keep-alive pool, its answer read in full under the size
 * cap. The chat hot path: no Request/Response objects, no SDK, headers built once by the caller.
 * Rejects with what undici gives (a connection error), an AbortError when the attempt is aborted,
 * or a BackendError for a body too large.
 */
export function postJson(endpoint: Endpoint, headers: Record<string, string>, body: string, context: CallContext): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const handler = new BufferedAnswer(endpoint.url, context, resolve, reject);
    // Aborted before it was sent (listenForAbort called back at once): nothing to dispatch.
    if (handler.isSettled) return;
    // No undici timers: the attempt's signal is the one timeout (--timeout), also past undici's
    // default 300 s that would otherwise cut a slow model's answer short.
    agent.dispatch(
      { origin: endpoint.origin, path: endpoint.path, method: "POST", headers, body, headersTimeout: 0, bodyTimeout: 0 },
      handler,
    );
  });
}

export const keepAliveFetch: typeof fetch = async (input, init) => {
  const body = init?.body;
  // Streams, form data and streamed completions go through the standard fetch; the JSON calls
  // the harness makes do not.
  const plainBody = body === undefined || body === null || typeof body === "string" || body instanceof Uint8Array;
  if (!plainBody || (typeof body === "string" && body.includes('"stream":true'))) return fetch(input, init);
  const url = input instanceof Request ? input.url : String(input);
  const response = await request(url, {
    method: (init?.method ?? "GET") as "GET",
    headers: headerRecord(init?.headers),
    ...(body === undefined || body === null ? {} : { body }),
    ...(init?.signal ? { signal: init.signal } : {}),
    dispatcher: agent,
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const bytes = await readBounded(url, response.headers["content-length"], response.body);
  return bufferedResponse(url, response.statusCode, headers, bytes);
};

/**
 * What the transport threw (undici: a refused or dropped connection, an abort), as the retry layer
 * reads it: a network failure naming its code, the way the SDK's connection errors read.
 */
export function transportError(error: unknown): BackendError {
  if (error instanceof BackendError) return error;
  if (error instanceof Error && error.name === "AbortError")
    return new BackendError("timeout", "request aborted (timeout)", { cause: error });
  const found = error as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = typeof found?.code === "string" ? found.code : typeof found?.cause?.code === "string" ? found.cause.code : undefined;
  return new BackendError("network", `connection failed${code ? ` (${code})` : ""}`, { cause: error });
}
