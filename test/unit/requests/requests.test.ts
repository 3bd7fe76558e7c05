import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BackendError, parseRetryAfter, type ChatRequest } from "../../../harness/backends/types.ts";
import { RequestCache, requestKey, UNINDEXED_LIMIT } from "../../../harness/requests/cache.ts";
import { sha256 } from "../../../harness/util/fs.ts";
import { runPool, runPoolStream } from "../../../harness/requests/concurrency.ts";
import { CompactStringSet } from "../../../harness/util/compact-set.ts";
import { backoffDelay, DEFAULT_RETRY_POLICY, withRetry } from "../../../harness/requests/retry.ts";

const request: ChatRequest = { messages: [{ role: "user", content: "Q" }], maxTokens: 10, temperature: 0.1, sampleIndex: 0 };
const identity = { kind: "openai", model: "m", baseUrl: "http://x/v1" };

describe("request cache keys", () => {
  it("change with everything that decides the answer and nothing else", () => {
    const key = requestKey(identity, request, "p1");
    expect(requestKey(identity, { ...request, choices: ["A"], itemId: "FS_1" }, "p1")).toBe(key);
    expect(requestKey(identity, { ...request, sampleIndex: 1 }, "p1")).not.toBe(key);
    expect(requestKey(identity, { ...request, temperature: 0.2 }, "p1")).not.toBe(key);
    expect(requestKey({ ...identity, adapter: "lora" }, request, "p1")).not.toBe(key);
    expect(requestKey(identity, request, "p2")).not.toBe(key);
  });
});

describe("persistent cache", () => {
  it("survives a torn last line (a kill mid-write) and keeps appending cleanly", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    // What a run killed mid-write leaves behind: one whole answer and a torn one.
    writeFileSync(RequestCache.fileFor(dir, identity), '{"key":"k1","response":{"text":"A"},"latencyMs":5}\n{"key":"k2","response":{"te');
    const reopened = RequestCache.open(dir, identity);
    const reopenedFile = reopened.file;
    expect(reopened.get("k1")?.response.text).toBe("A");
    expect(reopened.get("k2")).toBeUndefined();
    reopened.put("k3", { response: { text: "C" }, latencyMs: 1 });
    const lines = readFileSync(reopenedFile, "utf8")
      .split("\n")
      .filter((l) => l.startsWith('{"key":"k3"'));
    expect(JSON.parse(lines[0]!)).toMatchObject({ key: "k3", response: { text: "C" } });
  });

  it("is one instance per file in a process, so every task of a run shares its answers", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const a = RequestCache.open(dir, identity);
    a.put("k", { response: { text: "B" }, latencyMs: 1 });
    expect(RequestCache.open(dir, { ...identity }).get("k")?.response.text).toBe("B");
  });
  it("finds its own answers when another process appends to the same cache between them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const cache = RequestCache.open(dir, identity);
    const other = (key: string, text: string) =>
      appendFileSync(cache.file, `${JSON.stringify({ key, response: { text }, latencyMs: 1 })}\n`);
    cache.put("mine-1", { response: { text: "one" }, latencyMs: 1 });
    // Another process's lines land after this one's first and before its second and third.
    other("theirs-1", "x".repeat(300));
    cache.put("mine-2", { response: { text: "two" }, latencyMs: 1 });
    other("theirs-2", "y");
    cache.put("mine-3", { response: { text: "three" }, latencyMs: 1 });
    expect(cache.get("mine-3")?.response.text).toBe("three");
    expect(cache.get("mine-2")?.response.text).toBe("two");
    expect(cache.get("mine-1")?.response.text).toBe("one");
    expect(cache.get("theirs-1")?.response.text).toBe("x".repeat(300));
    expect(cache.get("theirs-2")?.response.text).toBe("y");
    // And after the re-index, its next answers are found where they land.
    cache.put("mine-4", { response: { text: "four" }, latencyMs: 1 });
    expect(cache.get("mine-4")?.response.text).toBe("four");
    cache.close();
  });
});

describe("on-disk index", () => {
  const hexKey = (i: number, prefix = "") => (prefix + sha256(`key-${i}`)).slice(0, 64);
  const answer = (i: number) => ({ response: { text: `answer ${i}` }, latencyMs: i });

  it("finds every answer across index merges and after a reopen, reading none into memory", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const total = UNINDEXED_LIMIT * 2 + 123;
    const cache = RequestCache.open(dir, identity);
    for (let i = 0; i < total; i++) cache.put(hexKey(i), answer(i));
    expect(cache.get(hexKey(7))?.response.text).toBe("answer 7");
    expect(cache.get(hexKey(total - 1))?.response.text).toBe(`answer ${total - 1}`);
    cache.close();
    const notices: string[] = [];
    const reopened = RequestCache.open(dir, identity, (line) => notices.push(line));
    expect(notices).toEqual([]);
    expect(reopened.size).toBe(total);
    for (const i of [0, 1, UNINDEXED_LIMIT - 1, UNINDEXED_LIMIT, total - 2, total - 1]) expect(reopened.get(hexKey(i))).toEqual(answer(i));
    expect(reopened.get(hexKey(total))).toBeUndefined();
    reopened.close();
  });

  it("tells keys that share an index prefix apart, and a key answered again reads its latest answer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const cache = RequestCache.open(dir, identity);
    const a = `${"0".repeat(16)}${"a".repeat(48)}`;
    const b = `${"0".repeat(16)}${"b".repeat(48)}`;
    cache.put(a, answer(1));
    cache.put(b, answer(2));
    cache.put(a, answer(3));
    cache.close();
    const reopened = RequestCache.open(dir, identity);
    expect([reopened.get(a), reopened.get(b)]).toEqual([answer(3), answer(2)]);
    reopened.close();
  });

  it("tells keys that share an index prefix apart before the index holds them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const cache = RequestCache.open(dir, identity);
    const a = `${"1".repeat(16)}${"a".repeat(48)}`;
    const b = `${"1".repeat(16)}${"b".repeat(48)}`;
    cache.put(a, answer(1));
    cache.put(b, answer(2));
    // The recent answers are found by prefix: the older key's lookup lands on the newer line,
    // sees another key, and re-indexes the log, whose index keeps both.
    expect([cache.get(a), cache.get(b), cache.get(`${"1".repeat(16)}${"c".repeat(48)}`)]).toEqual([answer(1), answer(2), undefined]);
    cache.put(a, answer(3));
    expect(cache.get(a)).toEqual(answer(3));
    cache.close();
  });

  it("writes the answers of one event-loop turn together, each on disk before its caller goes on", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const cache = RequestCache.open(dir, identity);
    const onDisk = () =>
      readFileSync(cache.file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => (JSON.parse(line) as { key: string }).key);
    const written = [1, 2, 3].map((i) => cache.putBeforeUse(hexKey(i), answer(i)));
    // Not written yet, but already the cache's answer (a second identical request is not sent).
    expect(onDisk()).toEqual([]);
    expect(cache.get(hexKey(2))).toEqual(answer(2));
    await written[0];
    expect(onDisk()).toEqual([1, 2, 3].map((i) => hexKey(i)));
    await Promise.all(written);
    // A later turn's answers go in a write of their own, after them.
    await cache.putBeforeUse(hexKey(4), answer(4));
    expect(onDisk()).toEqual([1, 2, 3, 4].map((i) => hexKey(i)));
    cache.close();
    const reopened = RequestCache.open(dir, identity);
    expect([1, 2, 3, 4].map((i) => reopened.get(hexKey(i)))).toEqual([1, 2, 3, 4].map(answer));
    reopened.close();
  });

  it("writes answers still waiting for their turn's write when it is closed", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const cache = RequestCache.open(dir, identity);
    const written = cache.putBeforeUse(hexKey(1), answer(1));
    cache.close();
    await written;
    const reopened = RequestCache.open(dir, identity);
    expect(reopened.get(hexKey(1))).toEqual(answer(1));
    reopened.close();
  });

  it("indexes a first-release cache (a JSONL log, no index) once, with a message", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    // What the first release wrote: one JSON line per answer, nothing else beside the meta file.
    writeFileSync(
      RequestCache.fileFor(dir, identity),
      [1, 2, 3].map((i) => `${JSON.stringify({ key: hexKey(i), response: { text: `answer ${i}` }, latencyMs: i })}\n`).join(""),
    );
    const notices: string[] = [];
    const cache = RequestCache.open(dir, identity, (line) => notices.push(line));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/indexing .* MB of answers once/);
    expect(cache.get(hexKey(2))).toEqual(answer(2));
    cache.close();
    RequestCache.open(dir, identity, (line) => notices.push(line)).close();
    expect(notices).toHaveLength(1);
  });

  it("finds lines another process appended, and rebuilds an index that belongs to a replaced log", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cache-"));
    const file = RequestCache.fileFor(dir, identity);
    RequestCache.open(dir, identity).close();
    appendFileSync(file, `${JSON.stringify({ key: hexKey(1), response: { text: "answer 1" }, latencyMs: 1 })}\n`);
    const cache = RequestCache.open(dir, identity);
    expect(cache.get(hexKey(1))).toEqual(answer(1));
    cache.close();
    // The log replaced under its index (another inode, other content at the same offsets).
    rmSync(file);
    writeFileSync(file, `${JSON.stringify({ key: hexKey(2), response: { text: "answer 2" }, latencyMs: 2 })}\n`);
    const rebuilt = RequestCache.open(dir, identity);
    expect([rebuilt.get(hexKey(1)), rebuilt.get(hexKey(2))]).toEqual([undefined, answer(2)]);
    rebuilt.close();
  });
});

describe("retries", () => {
  it("backs off exponentially with jitter under a ceiling, honouring Retry-After as a floor", () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
    expect(backoffDelay(10, policy, () => 0.5)).toBe(500);
    expect(backoffDelay(0, policy, () => 0.5, 3000)).toBe(3000);
    expect(backoffDelay(0, policy, () => 0.5, 10 * 60_000)).toBe(policy.maxRetryAfterMs);
  });

  it("reads Retry-After in seconds, as a date, and retry-after-ms", () => {
    const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n] ?? null });
    expect(parseRetryAfter(headers({ "retry-after": "2" }))).toBe(2000);
    expect(parseRetryAfter(headers({ "retry-after-ms": "150" }))).toBe(150);
    expect(parseRetryAfter(headers({ "retry-after": new Date(10_000).toUTCString() }), 4_000)).toBe(6000);
    expect(parseRetryAfter(headers({}))).toBeUndefined();
    // Not delay-seconds nor a date: the usual backoff, not a wait Number() would read into them ("0x10" was 16 s).
    for (const odd of ["0x10", "1e3", "-1", " ", "NaN", "Infinity"])
      expect(parseRetryAfter(headers({ "retry-after": odd })), odd).toBeUndefined();
    expect(parseRetryAfter(headers({ "retry-after-ms": "0x10", "retry-after": "3" }))).toBe(3000);
    expect(parseRetryAfter(headers({ "retry-after": new Date(1_000).toUTCString() }), 4_000)).toBe(0);
  });

  it("retries 429/5xx/network errors and gives up on a rejected key at once", async () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1, maxDelayMs: 2 };
    let calls = 0;
    const value = await withRetry(async () => {
      calls += 1;
      if (calls === 1) throw new BackendError("rate-limit", "429", { status: 429 });
      if (calls === 2) throw new BackendError("server", "500", { status: 500 });
      if (calls === 3) throw new BackendError("network", "ECONNRESET");
      return "ok";
    }, policy);
    expect([value, calls]).toEqual(["ok", 4]);
    let authCalls = 0;
    await expect(
      withRetry(async () => {
        authCalls += 1;
        throw new BackendError("auth", "401", { status: 401 });
      }, policy),
    ).rejects.toThrow("401");
    expect(authCalls).toBe(1);
  });

  it("aborts an attempt that outlives the per-request timeout and retries it", async () => {
    let calls = 0;
    const value = await withRetry(
      ({ signal }) => {
        calls += 1;
        if (calls === 1) return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new Error("aborted"))));
        return Promise.resolve("second");
      },
      { ...DEFAULT_RETRY_POLICY, timeoutMs: 50, baseDelayMs: 1, maxDelayMs: 1 },
    );
    expect([value, calls]).toEqual(["second", 2]);
  });
});

describe("bounded concurrency", () => {
  it("never runs more than the limit at once and visits every item", async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await runPool([...Array(50).keys()], 7, async (item) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      seen.push(item);
      inFlight -= 1;
    });
    expect(peak).toBe(7);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
  });
});

describe("a pool over a stream", () => {
  it("pulls items only as lanes free up, numbers them in source order, and closes the source on an error", async () => {
    let pulled = 0;
    let closed = false;
    async function* source(n: number) {
      try {
        for (let i = 0; i < n; i++) {
          pulled += 1;
          yield `item ${i}`;
        }
      } finally {
        closed = true;
      }
    }
    let maxAhead = 0;
    let finished = 0;
    const seen: Array<[string, number]> = [];
    await runPoolStream(source(40), 4, async (item, index) => {
      maxAhead = Math.max(maxAhead, pulled - finished);
      seen.push([item, index]);
      await new Promise((r) => setTimeout(r, 1 + (index % 3)));
      finished += 1;
    });
    expect(seen.sort((a, b) => a[1] - b[1])).toEqual(Array.from({ length: 40 }, (_, i) => [`item ${i}`, i]));
    expect(maxAhead).toBeLessThanOrEqual(4);

    pulled = 0;
    closed = false;
    await expect(
      runPoolStream(source(1000), 4, async (_item, index) => {
        if (index === 10) throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(pulled).toBeLessThan(20);
    expect(closed).toBe(true);
  });
});

describe("compact string set", () => {
  it("counts distinct strings across growth", () => {
    const set = new CompactStringSet();
    for (let i = 0; i < 50_000; i++) set.add(`B${i % 20_000}`);
    expect(set.size).toBe(20_000);
    expect([set.has("B19999"), set.has("B20000")]).toEqual([true, false]);
    expect(set.add("B5")).toBe(false);
    expect(set.add("new")).toBe(true);
  });
});
