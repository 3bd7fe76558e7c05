import { describe, expect, it } from "vitest";
import {
  answersAtRandom,
  createBackend,
  createEmbeddingBackend,
  decodesText,
  parseBackendSpec,
} from "../../../harness/backends/registry.ts";

describe("backend registry", () => {
  it("parses every spelling --model accepts, splitting at the first colon only", () => {
    expect(parseBackendSpec("openai:gpt-4o-mini")).toEqual({ kind: "openai", model: "gpt-4o-mini" });
    expect(parseBackendSpec("hf:mistralai/Mistral-7B-Instruct-v0.2")).toEqual({ kind: "hf", model: "mistralai/Mistral-7B-Instruct-v0.2" });
    expect(parseBackendSpec("openai:org:model")).toEqual({ kind: "openai", model: "org:model" });
    expect(parseBackendSpec("baseline:majority")).toEqual({ kind: "baseline", model: "majority" });
  });

  it("rejects an unknown kind, an empty model or an unknown baseline with every accepted spelling, as a usage error", () => {
    for (const spec of ["gpt4", "openai:", "baseline:oracle", "toString:x", "vllm:x"]) {
      expect(() => parseBackendSpec(spec)).toThrowError(
        expect.objectContaining({
          exitCode: 2,
          message: `--model "${spec}" is not a backend: expected openai:<model>, hf:<model>, baseline:random or baseline:majority`,
        }),
      );
    }
  });

  it("says from the table which kinds decode text and which answer at random (eval reads no kind name)", () => {
    const kinds = ["openai:m", "hf:m", "baseline:random", "baseline:majority"].map(parseBackendSpec);
    expect(kinds.map(decodesText)).toEqual([true, true, false, false]);
    expect(kinds.map(answersAtRandom)).toEqual([false, false, true, false]);
  });

  it("builds the baselines from the table", async () => {
    const majority = createBackend(parseBackendSpec("baseline:majority"), { seed: 1, scoredGolds: () => ["B", "B", "A"] });
    const response = await majority.callApi(
      { messages: [{ role: "user", content: "?" }], maxTokens: 1, temperature: 0, sampleIndex: 0, choices: ["A", "B"] },
      { signal: new AbortController().signal },
    );
    expect(response.text).toBe("B");
  });

  it("embeds only with kinds that have an embedding endpoint", () => {
    expect(() => createEmbeddingBackend("baseline:random", {})).toThrowError(
      '--difficulty-embeddings "baseline:random": expected openai:<model> or hf:<model>',
    );
    expect(createEmbeddingBackend("openai:text-embedding-3-small", { env: {} })).toBeDefined();
  });
});
