/**
 * The chat request path (OpenAIBackend.callApi over http.ts's postJson, without the SDK): what it
 * sends, and how each way a server or a connection can fail reaches the retry layer. The hostile
 * answer shapes are in test/integration/bad-inputs-servers.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpenAIBackend } from "../../../harness/backends/openai.ts";
import { BackendError } from "../../../harness/backends/types.ts";

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let url = "";
const handlers = new Map<string, Handler>();
const answer = (content: string) =>
  JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] });

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const model = (JSON.parse(body) as { model: string }).model;
      handlers.get(model)!(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const request = {
  messages: [{ role: "user" as const, content: "Which? A or B" }],
  maxTokens: 10,
  temperature: 0.1,
  topP: 1,
  sampleIndex: 0,
};
const call = (model: string, signal: AbortSignal = new AbortController().signal, apiKey = "sk-test-key-123456") =>
  new OpenAIBackend({ model, baseUrl: url, apiKey }).callApi(request, { signal });
const failure = async (promise: Promise<unknown>): Promise<BackendError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendError);
  return error as BackendError;
};

describe("chat completions straight over HTTP", () => {
  it("posts the exact body to /chat/completions with the key as a bearer token and the organization the environment names", async () => {
    let seen: { path?: string; headers?: IncomingMessage["headers"]; body?: string } = {};
    handlers.set("echo", (req, body, res) => {
      seen = { path: req.url!, headers: req.headers, body };
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" }).end(answer("A"));
    });
    process.env["OPENAI_ORG_ID"] = "org-test";
    try {
      expect((await call("echo")).text).toBe("A");
    } finally {
      delete process.env["OPENAI_ORG_ID"];
    }
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.headers!["authorization"]).toBe("Bearer sk-test-key-123456");
    expect(seen.headers!["openai-organization"]).toBe("org-test");
    expect(seen.headers!["content-type"]).toBe("application/json");
    expect(JSON.parse(seen.body!)).toEqual({
      model: "echo",
      messages: [{ role: "user", content: "Which? A or B" }],
      max_tokens: 10,
      temperature: 0.1,
      top_p: 1,
    });
  });

  it("a 429 is a rate limit carrying its Retry-After; a 500 names the server's own message; a 401 is fatal", async () => {
    handlers.set("busy", (_req, _body, res) => res.writeHead(429, { "retry-after": "7" }).end('{"detail":"slow down"}'));
    handlers.set("broken", (_req, _body, res) => res.writeHead(500).end('{"message":"model overloaded"}'));
    handlers.set("refuse", (_req, _body, res) => res.writeHead(401).end('{"error":{"message":"bad key sk-test-key-123456"}}'));
    const busy = await failure(call("busy"));
    expect([busy.kind, busy.retryAfterMs, busy.message]).toEqual(["rate-limit", 7000, "HTTP 429: slow down"]);
    const broken = await failure(call("broken"));
    expect([broken.kind, broken.retryable, broken.message]).toEqual(["server", true, "HTTP 500: model overloaded"]);
    const refused = await failure(call("refuse"));
    expect(refused.fatal).toBe(true);
  });

  it("a connection dropped before the answer ends is a retryable network failure", async () => {
    handlers.set("drop", (_req, _body, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
      res.write('{"choices": [');
      setTimeout(() => res.socket!.destroy(), 10);
    });
    const dropped = await failure(call("drop"));
    expect([dropped.kind, dropped.retryable]).toEqual(["network", true]);
  });

  it("a base URL that is no http(s) URL is a usage error when the backend is built, naming --base-url", () => {
    for (const baseUrl of ["localhost:8000/v1", "not a url", "ftp://host/v1"])
      expect(() => new OpenAIBackend({ model: "m", baseUrl })).toThrowError(/--base-url/);
  });

  it("an abort ends a call at once, whether it is waiting for the answer or not yet sent", async () => {
    handlers.set("hang", () => undefined);
    const controller = new AbortController();
    const pending = call("hang", controller.signal);
    setTimeout(() => controller.abort(), 20);
    // The server never answers: only the abort can end this call (else the test times out).
    expect((await failure(pending)).kind).toBe("timeout");
    expect((await failure(call("hang", AbortSignal.abort()))).kind).toBe("timeout");
  });
});
