import { Agent, request } from "undici";
import { BackendError } from "./types.ts";

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

/** The whole body, refusing (and closing) one over MAX_RESPONSE_BYTES. */
async function readBounded(url: string, headers: Headers, body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<Buffer> {
  const declared = Number(headers.get("content-length") ?? Number.NaN);
  if (declared > MAX_RESPONSE_BYTES) {
    body.destroy();
    throw tooLarge(url);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy();
      throw tooLarge(url);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
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
  const bytes = await readBounded(url, headers, response.body);
  return bufferedResponse(url, response.statusCode, headers, bytes);
};
