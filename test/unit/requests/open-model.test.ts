import { writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseBackendSpec } from "../../../harness/backends/registry.ts";
import { BackendError, isFatalError, refusedRunError, type ChatRequest } from "../../../harness/backends/types.ts";
import { requestKey } from "../../../harness/requests/cache.ts";
import { checkRequestCacheWritable, openEmbedder, openModel, type ModelRequestSettings } from "../../../harness/requests/open-model.ts";
import { CACHE_DIR_LABEL, cacheRoot, requestCacheDir } from "../../../harness/util/cache-root.ts";
import { startOpenAIServer, type TestServer } from "../../helpers/openai-server.ts";

const request = (text: string): ChatRequest => ({
  messages: [{ role: "user", content: text }],
  maxTokens: 8,
  temperature: 0,
  sampleIndex: 0,
});
const never = new AbortController().signal;
const quiet = () => undefined;

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()!();
});

async function server(options: Parameters<typeof startOpenAIServer>[0] = {}): Promise<TestServer> {
  const started = await startOpenAIServer(options);
  closers.push(started.close);
  return started;
}

/** A bare HTTP server for the endpoints test/helpers/openai-server.ts does not vary (embedding errors, a classifier). */
async function rawServer(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    handle(req, Buffer.concat(chunks).toString("utf8"), res);
  });
  await new Promise<void>((done) => http.listen(0, "127.0.0.1", done));
  closers.push(async () => {
    http.closeAllConnections();
    await new Promise<void>((done) => http.close(() => done()));
  });
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

async function settings(overrides: Partial<ModelRequestSettings> & Pick<ModelRequestSettings, "model">): Promise<ModelRequestSettings> {
  return {
    cacheDir: await mkdtemp(join(tmpdir(), "harness-road-")),
    protocolVersion: "test-1",
    retries: 3,
    timeoutMs: 5_000,
    signal: never,
    log: quiet,
    ...overrides,
  };
}

describe("cache root", () => {
  it("resolves --cache-dir, else $HARNESS_CACHE_DIR, else the XDG cache folder; requests live in one named subfolder", () => {
    expect(cacheRoot("rel/dir", {})).toBe(resolve("rel/dir"));
    expect(cacheRoot(undefined, { HARNESS_CACHE_DIR: "env-dir" })).toBe(resolve("env-dir"));
    expect(cacheRoot("", { XDG_CACHE_HOME: "/x" })).toBe("/x/intentionqa-harness");
    expect(requestCacheDir("/root")).toBe("/root/requests");
    expect([CACHE_DIR_LABEL("d"), CACHE_DIR_LABEL()]).toEqual(["--cache-dir", "cache directory"]);
  });

  it("checks the request cache folder is writable in one message naming the flag", async () => {
    const file = join(await mkdtemp(join(tmpdir(), "harness-road-")), "a-file");
    writeFileSync(file, "");
    await expect(checkRequestCacheWritable(file)).rejects.toThrow(`--cache-dir ${join(file, "requests")}:`);
  });
});

describe("openModel", () => {
  it("runs the preflight first: a model the server does not serve stops before any question", async () => {
    const s = await server({ models: ["served"] });
    await expect(openModel(await settings({ model: "openai:other", baseUrls: [s.url] }))).rejects.toThrow(
      'does not serve model "other"; it serves: served',
    );
    expect(s.chatRequests()).toHaveLength(0);
    expect(s.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v1/models"]);
  });

  it("answers a request asked again, in a second open of the same cache, from the cache", async () => {
    const s = await server({ models: ["m"], chat: () => "B" });
    const common = await settings({ model: "openai:m", baseUrls: [s.url] });
    const first = await openModel(common);
    expect((await first.asker.ask(request("q"))).response.text).toBe("B");
    const second = await openModel(common);
    const again = await second.asker.ask(request("q"));
    expect(again).toMatchObject({ cached: true, response: { text: "B" } });
    expect(second.asker.counters).toMatchObject({ sent: 0, cacheHits: 1 });
    expect(s.chatRequests()).toHaveLength(1);
    expect(first.cache).not.toBeNull();
  });

  it("asks without a cache with cache: false, and skips the preflight when told", async () => {
    const s = await server({ models: ["m"] });
    const opened = await openModel(await settings({ model: "openai:m", baseUrls: [s.url], cache: false, preflight: false }));
    expect(opened.cache).toBeNull();
    await opened.asker.ask(request("q"));
    await opened.asker.ask(request("q"));
    expect(s.chatRequests()).toHaveLength(2);
    expect(s.requests.filter((r) => r.path.endsWith("/models"))).toHaveLength(0);
  });

  it("retries a 503 with the stage's retries", async () => {
    const s = await server({ models: ["m"], chat: (_body, index) => (index === 0 ? { status: 503 } : "C") });
    const opened = await openModel(await settings({ model: "openai:m", baseUrls: [s.url], retries: 2 }));
    expect((await opened.asker.ask(request("q"))).response.text).toBe("C");
    expect(opened.asker.counters).toMatchObject({ sent: 2, retries: 1, failures: 0 });
  });

  it("stops at a 401: the error is fatal, not retried, and reads as the one refused-run message", async () => {
    const s = await server({ apiKey: "right" });
    process.env["ROAD_TEST_KEY"] = "wrong";
    closers.push(async () => {
      delete process.env["ROAD_TEST_KEY"];
    });
    const opened = await openModel(await settings({ model: "openai:m", baseUrls: [s.url], apiKeyEnv: "ROAD_TEST_KEY", preflight: false }));
    const error = await opened.asker.ask(request("q")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).fatal).toBe(true);
    expect(isFatalError(error)).toBe(true);
    expect(isFatalError(new BackendError("server", "HTTP 503"))).toBe(false);
    expect(s.chatRequests()).toHaveLength(1);
    expect(refusedRunError(error as BackendError, opened.backend.id()).message).toMatch(
      /^openai:m: the server refused the run: HTTP 401: Incorrect API key provided; the API key was rejected: set OPENAI_API_KEY/,
    );
  });

  it("builds critic's classifier kind from the table (with a base URL), which --model does not take", async () => {
    const url = await rawServer((_req, body, res) => {
      const text = (JSON.parse(body) as { inputs: string }).inputs;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify([{ label: "typical", score: text.length / 10 }]));
    });
    const opened = await openModel(await settings({ model: "classifier:c", baseUrls: [`${url}/predict`] }));
    expect(opened.backend.id()).toBe("classifier:c");
    expect(opened.backend.identity()).toMatchObject({ kind: "text-classification", model: "c" });
    expect(JSON.parse((await opened.asker.ask(request("four"))).response.text)).toEqual([{ label: "typical", score: 0.4 }]);
    await expect(openModel(await settings({ model: "classifier:c" }))).rejects.toThrow("classifier:c needs a base URL");
    expect(() => parseBackendSpec("classifier:c")).toThrow('--model "classifier:c" is not a backend');
  });

  it("pools several base URLs into one backend answering under the caller's identity, with distill's cache keys", async () => {
    const a = await server({ models: ["m"], latencyMs: 20 });
    const b = await server({ models: ["m"], latencyMs: 20 });
    const identity = { kind: "openai", model: "m" };
    const opened = await openModel(await settings({ model: "openai:m", baseUrls: [a.url, b.url], identity }));
    expect(opened.backend.identity()).toEqual(identity);
    expect(opened.backend.id()).toBe("openai:m");
    await Promise.all(["1", "2", "3", "4"].map((q) => opened.asker.ask(request(q))));
    expect(a.chatRequests().length).toBeGreaterThan(0);
    expect(b.chatRequests().length).toBeGreaterThan(0);
    expect([a, b].map((s) => s.requests.filter((r) => r.path.endsWith("/models")).length)).toEqual([1, 1]);
    expect(opened.asker.keyOf(request("1"))).toBe(requestKey(identity, request("1"), "test-1"));
    // Without an identity of the caller's, the pool names the model, not the servers.
    const plain = await openModel(await settings({ model: "openai:m", baseUrls: [a.url, b.url] }));
    expect(plain.backend.identity()).toEqual({ kind: "openai", model: "m" });
  });
});

describe("openEmbedder", () => {
  it("caches per text: a second call, and a second open, send only the texts not embedded yet", async () => {
    const s = await server({ embed: (text) => [text.length, 0.5] });
    const common = { model: "openai:e", baseUrl: s.url, cacheDir: await mkdtemp(join(tmpdir(), "harness-road-")) };
    const options = { ...common, retries: 1, timeoutMs: 5_000, signal: never, log: quiet };
    const embeddingInputs = () => s.requests.filter((r) => r.path.endsWith("/embeddings")).map((r) => r.body?.["input"]);
    const first = await openEmbedder(options);
    expect(first.id()).toBe("openai:e");
    expect(await first.embed(["a", "bb"])).toEqual([
      [1, 0.5],
      [2, 0.5],
    ]);
    expect(await first.embed(["bb", "ccc", "bb"])).toEqual([
      [2, 0.5],
      [3, 0.5],
      [2, 0.5],
    ]);
    expect(embeddingInputs()).toEqual([["a", "bb"], ["ccc"]]);
    const second = await openEmbedder(options);
    expect(await second.embed(["ccc", "a"])).toEqual([
      [3, 0.5],
      [1, 0.5],
    ]);
    expect(embeddingInputs()).toHaveLength(2);
    expect(second.counters).toMatchObject({ sent: 0, cacheHits: 2 });
    const uncached = await openEmbedder({ ...options, cache: false });
    await uncached.embed(["a"]);
    expect(embeddingInputs()).toHaveLength(3);
  });

  it("retries a failed embedding request (eval's difficulty embeddings had none)", async () => {
    let calls = 0;
    const url = await rawServer((_req, body, res) => {
      calls += 1;
      if (calls === 1) {
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "busy" } }));
        return;
      }
      const input = (JSON.parse(body) as { input: string[] }).input;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: input.map((_t, index) => ({ object: "embedding", index, embedding: [index, 1] })) }));
    });
    const embedder = await openEmbedder({
      model: "openai:e",
      baseUrl: `${url}/v1`,
      cache: false,
      retries: 2,
      timeoutMs: 5_000,
      signal: never,
      log: quiet,
    });
    expect(await embedder.embed(["x", "y"])).toEqual([
      [0, 1],
      [1, 1],
    ]);
    expect(embedder.counters).toMatchObject({ sent: 2, retries: 1, failures: 0 });
  });
});
