/**
 * The answer validator (harness/backends/answer.ts) over arbitrary JSON: whatever a server sends,
 * the harness gets a ChatResponse of the right types or a BackendError "bad-response", nothing
 * else. Also the URL-credential redaction and the Retry-After cap.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chatResponseFromBody, embeddingsFromBody, pooledVectors } from "../../../harness/backends/answer.ts";
import { BackendError } from "../../../harness/backends/types.ts";
import { DEFAULT_RETRY_POLICY, withRetry } from "../../../harness/requests/retry.ts";
import { publicUrl, redact, registerUrlSecrets, splitUrlCredentials } from "../../../harness/util/redact.ts";

/** Runs `f`; returns what it gave, or checks that what it threw is a bad-response. */
function outcome<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (error) {
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).kind).toBe("bad-response");
    expect((error as BackendError).message).not.toBe("");
    return undefined;
  }
}

/** JSON values shaped like a chat answer, with any field of any type. */
const anyJson = fc.jsonValue({ maxDepth: 4 });
const token = fc.record(
  {
    token: fc.oneof(fc.string(), anyJson),
    logprob: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), anyJson),
    top_logprobs: fc.oneof(
      anyJson,
      fc.array(
        fc.record({
          token: fc.oneof(fc.string(), anyJson),
          logprob: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), anyJson),
        }),
      ),
    ),
  },
  { requiredKeys: [] },
);
const choice = fc.record(
  {
    index: anyJson,
    message: fc.oneof(anyJson, fc.record({ role: anyJson, content: fc.oneof(fc.string(), anyJson) }, { requiredKeys: [] })),
    finish_reason: fc.oneof(fc.constantFrom("stop", "length", null), anyJson),
    logprobs: fc.oneof(anyJson, fc.record({ content: fc.oneof(anyJson, fc.array(token)) }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
);
const chatBody = fc.oneof(anyJson, fc.record({ choices: fc.oneof(anyJson, fc.array(fc.oneof(choice, anyJson))) }, { requiredKeys: [] }));

describe("chatResponseFromBody", () => {
  it("arbitrary JSON never throws anything but a bad-response, and what it accepts is well typed", () => {
    fc.assert(
      fc.property(chatBody, (body) => {
        const response = outcome(() => chatResponseFromBody(body));
        if (response === undefined) return;
        expect(typeof response.text).toBe("string");
        if (response.finishReason !== undefined) expect(typeof response.finishReason).toBe("string");
        for (const t of response.tokens ?? []) {
          expect(typeof t.token).toBe("string");
          expect(Number.isNaN(t.logprob)).toBe(false);
          for (const alt of t.top) expect(typeof alt.token === "string" && typeof alt.logprob === "number").toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("any JSON text a server sends, parsed, is handled alike", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // A non-JSON body reaches the validator as the text itself.
        }
        outcome(() => chatResponseFromBody(parsed));
      }),
    );
  });

  it("a well-formed answer keeps its text, finish reason and alternatives", () => {
    const response = chatResponseFromBody({
      choices: [
        {
          message: { role: "assistant", content: "A" },
          finish_reason: "stop",
          logprobs: { content: [{ token: "A", logprob: -0.1, top_logprobs: [{ token: "B", logprob: -2 }] }] },
        },
      ],
    });
    expect(response).toEqual({
      text: "A",
      finishReason: "stop",
      tokens: [{ token: "A", logprob: -0.1, top: [{ token: "B", logprob: -2 }] }],
    });
  });

  it("names the field and what it held", () => {
    expect(() => chatResponseFromBody({ choices: [{ message: { content: 42 } }] })).toThrow(
      "choices[0].message.content is a number, expected a string",
    );
    expect(() => chatResponseFromBody({ choices: [] })).toThrow("the server's reply has no choices");
  });
});

describe("embeddings", () => {
  const vectors = fc.array(fc.oneof(fc.array(fc.oneof(fc.double(), anyJson)), anyJson), { maxLength: 4 });
  it("arbitrary embeddings bodies never throw anything but a bad-response; accepted vectors are finite and of one length", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyJson,
          fc.record({
            data: fc.oneof(
              anyJson,
              fc.array(
                fc.record(
                  { index: fc.oneof(fc.nat(4), anyJson), embedding: fc.oneof(fc.array(fc.double()), anyJson) },
                  { requiredKeys: [] },
                ),
              ),
            ),
          }),
        ),
        fc.nat(4),
        (body, count) => {
          const result = outcome(() => embeddingsFromBody(body, count));
          if (result === undefined) return;
          expect(result).toHaveLength(count);
          const length = result[0]?.length;
          for (const v of result) {
            expect(v.length).toBe(length);
            expect(v.every((x) => Number.isFinite(x))).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
  it("pooled vectors of any shape", () => {
    fc.assert(
      fc.property(vectors, fc.nat(4), (rows, count) => void outcome(() => pooledVectors(rows, count))),
      { numRuns: 2000 },
    );
  });
  it("refuses NaN, a wrong count and vectors of different lengths", () => {
    expect(() => embeddingsFromBody({ data: [{ index: 0, embedding: [Number.NaN] }] }, 1)).toThrow(
      "data[0].embedding[0] is a number, expected a finite number",
    );
    expect(() => embeddingsFromBody({ data: [] }, 1)).toThrow("asked for 1 embeddings, got 0");
    expect(() =>
      embeddingsFromBody(
        {
          data: [
            { index: 0, embedding: [1, 2] },
            { index: 1, embedding: [1] },
          ],
        },
        2,
      ),
    ).toThrow("has 1 numbers, the first vector 2");
    expect(
      embeddingsFromBody(
        {
          data: [
            { index: 1, embedding: [2] },
            { index: 0, embedding: [1] },
          ],
        },
        2,
      ),
    ).toEqual([[1], [2]]);
  });
});

describe("URL credentials", () => {
  it("publicUrl keeps the user and hides the password; a lone token is hidden whole", () => {
    expect(publicUrl("http://alice:pw-12345@host:8000/v1")).toBe("http://alice:[REDACTED]@host:8000/v1");
    expect(publicUrl("see https://tok_abcdef@host/x and http://h/y")).toBe("see https://[REDACTED]@host/x and http://h/y");
    expect(publicUrl("http://host/v1?q=a@b")).toBe("http://host/v1?q=a@b");
  });
  it("a registered URL password is redacted wherever it shows, percent-decoded too", () => {
    registerUrlSecrets(["--base-url", "http://bob:p%40ss-word-77@host/v1"]);
    expect(redact("the key p@ss-word-77 and p%40ss-word-77")).toBe("the key [REDACTED] and [REDACTED]");
  });
  it("splitUrlCredentials turns them into Basic auth", () => {
    expect(splitUrlCredentials("http://u:p@h/x")).toEqual({
      url: "http://h/x",
      authorization: `Basic ${Buffer.from("u:p").toString("base64")}`,
    });
    expect(splitUrlCredentials("http://h/x")).toEqual({ url: "http://h/x" });
  });
});

describe("Retry-After past the cap", () => {
  it("fails at once, says so once, and does not wait", async () => {
    const heard: number[] = [];
    const started = Date.now();
    const error = await withRetry(
      () => Promise.reject(new BackendError("rate-limit", "HTTP 429: slow down", { status: 429, retryAfterMs: 3_600_000 })),
      DEFAULT_RETRY_POLICY,
      { onRetryAfterOverCap: (asked) => heard.push(asked) },
    ).catch((e: unknown) => e as BackendError);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(heard).toEqual([3_600_000]);
    expect(error.retryable).toBe(false);
    expect(error.attempts).toBe(1);
    expect(error.message).toContain("the server asked to wait 3600 s before retrying, more than the 120 s the harness waits");
  });
});
