/**
 * The request key and the chat body splice one JSON of the messages into their texts instead of
 * stringifying each whole (backends/request-json.ts). Every cache depends on the key staying the
 * first release's sha256 of JSON.stringify([...]), and a server reads the body: both must be byte
 * for byte what JSON.stringify of the whole writes, whatever the request.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chatCompletionBody, chatCompletionJson } from "../../../harness/backends/openai.ts";
import type { ChatRequest, RequestMessage } from "../../../harness/backends/types.ts";
import { requestKey } from "../../../harness/requests/cache.ts";
import { sha256, stableStringify } from "../../../harness/util/fs.ts";

const role = fc.constantFrom("system" as const, "user" as const, "assistant" as const);
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme" }),
  fc.string({ unit: fc.constantFrom('"', "\\", "\n", "\u2028", "\ud800", "a", "é") }),
);
const part = fc.oneof(
  fc.record({ type: fc.constant("text" as const), text }),
  fc.record({ type: fc.constant("image_url" as const), image_url: fc.record({ url: text }) }),
);
/** Messages as the prompt builders make them, multimodal ones, and shapes the splice must not take for the wire's (extra keys, another key order). */
const message: fc.Arbitrary<RequestMessage> = fc.oneof(
  fc.record({ role, content: text }),
  fc.record({ role, content: fc.array(part, { maxLength: 3 }) }),
  fc.record({ content: text, role }),
  fc.record({ role, content: text, name: text }) as fc.Arbitrary<RequestMessage>,
);
const number = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, 5e-324));
const request: fc.Arbitrary<ChatRequest> = fc.record(
  {
    messages: fc.array(message, { maxLength: 4 }),
    maxTokens: number,
    temperature: number,
    topP: number,
    topLogprobs: number,
    sampleIndex: number,
  },
  { requiredKeys: ["messages", "maxTokens", "temperature", "sampleIndex"] },
);
const identity = fc.record({ kind: text, model: text, baseUrl: text }, { requiredKeys: ["kind", "model"] });

/** The key as the first release computed it: sha256 of the JSON of the whole array. */
function referenceKey(id: object, r: ChatRequest, protocol: string): string {
  return sha256(
    JSON.stringify([
      protocol,
      stableStringify(id),
      r.messages,
      r.maxTokens,
      r.temperature,
      r.topP ?? null,
      r.topLogprobs ?? null,
      r.sampleIndex,
    ]),
  );
}

describe("request JSON spliced from the messages' JSON", () => {
  it("gives the request key the first release gave, for any request", () => {
    fc.assert(
      fc.property(identity, request, text, (id, r, protocol) => {
        expect(requestKey(id, r, protocol)).toBe(referenceKey(id, r, protocol));
      }),
      { numRuns: 500 },
    );
  });

  it("gives the chat body JSON.stringify gives, for any request, model and logprobs choice", () => {
    fc.assert(
      fc.property(request, text, fc.boolean(), (r, model, logprobs) => {
        expect(chatCompletionJson(model, r, logprobs)).toBe(JSON.stringify(chatCompletionBody(model, r, logprobs)));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps a known key: a cache written before the splice is still found", () => {
    const r: ChatRequest = { messages: [{ role: "user", content: 'Q "1"\n' }], maxTokens: 10, temperature: 0.1, sampleIndex: 0 };
    // What requestKey gave before the splice (commit 681cc76), for this request.
    expect(requestKey({ kind: "openai", model: "m", baseUrl: "http://x/v1" }, r, "p1")).toBe(
      "793aa7152d718ba3fde06a2ae84f0b6e7b69cdb6f757ccb7bfc5db5032e78478",
    );
  });
});
