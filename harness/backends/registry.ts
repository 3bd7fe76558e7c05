import { HarnessError } from "../util/errors.ts";
import { registerSecret } from "../util/redact.ts";
import { HuggingFaceBackend, HuggingFaceEmbeddingBackend } from "./huggingface.ts";
import { MajorityBaseline, majorityLetter } from "./majority.ts";
import { OpenAIBackend, OpenAIEmbeddingBackend } from "./openai.ts";
import { RandomBaseline } from "./random.ts";
import type { EmbeddingBackend, ModelBackend } from "./types.ts";

export interface BackendSpec {
  kind: "openai" | "hf" | "baseline";
  model: string;
}

/** Parses `openai:<model>`, `hf:<model>`, `baseline:random|majority`. */
export function parseBackendSpec(spec: string): BackendSpec {
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? "" : spec.slice(0, colon);
  const model = colon < 0 ? "" : spec.slice(colon + 1);
  if ((kind === "openai" || kind === "hf") && model.length > 0) return { kind, model };
  if (kind === "baseline" && (model === "random" || model === "majority")) return { kind, model };
  throw new HarnessError(`--model "${spec}" is not a backend: expected openai:<model>, hf:<model>, baseline:random or baseline:majority`, {
    exitCode: 2,
  });
}

export interface BackendEnvironment {
  baseUrl?: string;
  adapter?: string;
  provider?: string;
  /** See BackendIdentity.servedFrom (openai backends the harness started itself). */
  servedFrom?: string;
  /** Name of the environment variable holding the API key (default OPENAI_API_KEY, or HF_TOKEN for hf). */
  apiKeyEnv?: string;
  env?: NodeJS.ProcessEnv;
  seed: number;
  /** Gold letters of the task's scored set, for baseline:majority. */
  scoredGolds: () => Iterable<string>;
}

/** Builds the backend for one task. Secrets come from the environment here and nowhere else. */
export function createBackend(spec: BackendSpec, environment: BackendEnvironment): ModelBackend {
  const env = environment.env ?? process.env;
  switch (spec.kind) {
    case "openai": {
      const apiKey = env[environment.apiKeyEnv ?? "OPENAI_API_KEY"];
      registerSecret(apiKey);
      return new OpenAIBackend({
        model: spec.model,
        ...(environment.baseUrl ? { baseUrl: environment.baseUrl } : {}),
        ...(apiKey ? { apiKey } : {}),
        ...(environment.adapter ? { adapter: environment.adapter } : {}),
        ...(environment.servedFrom ? { servedFrom: environment.servedFrom } : {}),
      });
    }
    case "hf": {
      const token = env[environment.apiKeyEnv ?? "HF_TOKEN"];
      registerSecret(token);
      return new HuggingFaceBackend({
        model: spec.model,
        tokenVariable: environment.apiKeyEnv ?? "HF_TOKEN",
        ...(env["HF_ENDPOINT"] ? { hubUrl: env["HF_ENDPOINT"] } : {}),
        ...(environment.baseUrl ? { endpointUrl: environment.baseUrl } : {}),
        ...(environment.provider ? { provider: environment.provider } : {}),
        ...(token ? { token } : {}),
      });
    }
    case "baseline":
      return spec.model === "random"
        ? new RandomBaseline(environment.seed)
        : new MajorityBaseline(majorityLetter(environment.scoredGolds()));
  }
}

/** `openai:<model>` or `hf:<model>` for difficulty approximation by embedding similarity. */
export function createEmbeddingBackend(
  spec: string,
  options: { baseUrl?: string; apiKeyEnv?: string; env?: NodeJS.ProcessEnv },
): EmbeddingBackend {
  const parsed = parseBackendSpec(spec);
  const env = options.env ?? process.env;
  if (parsed.kind === "openai") {
    const apiKey = env[options.apiKeyEnv ?? "OPENAI_API_KEY"];
    registerSecret(apiKey);
    return new OpenAIEmbeddingBackend({
      model: parsed.model,
      ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
      ...(apiKey ? { apiKey } : {}),
    });
  }
  if (parsed.kind === "hf") {
    const token = env[options.apiKeyEnv ?? "HF_TOKEN"];
    registerSecret(token);
    return new HuggingFaceEmbeddingBackend({
      model: parsed.model,
      ...(options.baseUrl ? { endpointUrl: options.baseUrl } : {}),
      ...(token ? { token } : {}),
    });
  }
  throw new HarnessError(`--difficulty-embeddings "${spec}": expected openai:<model> or hf:<model>`);
}
