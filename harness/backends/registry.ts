import { HarnessError, usageError } from "../util/errors.ts";
import { registerSecret } from "../util/redact.ts";
import { envHttpUrl } from "../util/validate.ts";
import { HuggingFaceBackend, HuggingFaceEmbeddingBackend } from "./huggingface.ts";
import { MajorityBaseline, majorityLetter } from "./majority.ts";
import { OpenAIBackend, OpenAIEmbeddingBackend } from "./openai.ts";
import { RandomBaseline } from "./random.ts";
import { PooledBackend } from "./server-pool.ts";
import { TextClassificationBackend } from "./text-classification.ts";
import { DEFAULT_KEY_VARIABLE, type BackendIdentity, type EmbeddingBackend, type ModelBackend } from "./types.ts";

export interface BackendEnvironment {
  baseUrl?: string;
  /** Several servers of one model, asked as one pool (distill's `--base-url a --base-url b`); replaces baseUrl. */
  baseUrls?: readonly string[];
  /** The identity the backend answers under (cache keys, reports) instead of its own: see createBackend. */
  identity?: BackendIdentity;
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

export interface EmbeddingEnvironment {
  baseUrl?: string;
  apiKeyEnv?: string;
  env?: NodeJS.ProcessEnv;
}

/** One kind of backend, as `--model <kind>:<model>` names it. Secrets come from the environment here and nowhere else. */
export interface BackendKind {
  /** The accepted spellings, for the usage error (`openai:<model>`, `baseline:random`). */
  usage: readonly string[];
  /** Whether the part after `<kind>:` names a model this kind can build. */
  accepts: (model: string) => boolean;
  create: (model: string, environment: BackendEnvironment) => ModelBackend;
  /**
   * Whether the kind runs a model that decodes text (so eval resolves a decoding for it, logs it and
   * needs the request cache). false for the baselines, which pick letters without asking anything.
   */
  decodes: boolean;
  /** True for a model that answers uniformly at random: its report also gives the expected (chance) accuracy. */
  answersAtRandom?: (model: string) => boolean;
  /** Present where the kind can embed text (difficulty approximation, robustness). */
  createEmbedding?: (model: string, options: EmbeddingEnvironment) => EmbeddingBackend;
  /** False for a kind a stage chooses itself (critic's classifier): `--model` does not accept it, nor lists it. */
  modelFlag?: false;
}

const anyModel = (model: string): boolean => model.length > 0;

/** Every backend the harness can build. Adding one is one entry here plus its file. */
const BACKEND_TABLE = {
  openai: {
    usage: ["openai:<model>"],
    accepts: anyModel,
    decodes: true,
    create: (model, environment) => {
      const apiKey = (environment.env ?? process.env)[environment.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.openai];
      registerSecret(apiKey);
      return new OpenAIBackend({
        model,
        ...(environment.baseUrl ? { baseUrl: environment.baseUrl } : {}),
        ...(apiKey ? { apiKey } : {}),
        ...(environment.adapter ? { adapter: environment.adapter } : {}),
        ...(environment.servedFrom ? { servedFrom: environment.servedFrom } : {}),
      });
    },
    createEmbedding: (model, options) => {
      const apiKey = (options.env ?? process.env)[options.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.openai];
      registerSecret(apiKey);
      return new OpenAIEmbeddingBackend({
        model,
        ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
        ...(apiKey ? { apiKey } : {}),
      });
    },
  },
  hf: {
    usage: ["hf:<model>"],
    accepts: anyModel,
    decodes: true,
    create: (model, environment) => {
      const env = environment.env ?? process.env;
      const token = env[environment.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.hf];
      registerSecret(token);
      const hubUrl = envHttpUrl("HF_ENDPOINT", env);
      return new HuggingFaceBackend({
        model,
        tokenVariable: environment.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.hf,
        ...(hubUrl ? { hubUrl } : {}),
        ...(environment.baseUrl ? { endpointUrl: environment.baseUrl } : {}),
        ...(environment.provider ? { provider: environment.provider } : {}),
        ...(token ? { token } : {}),
      });
    },
    createEmbedding: (model, options) => {
      const token = (options.env ?? process.env)[options.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.hf];
      registerSecret(token);
      return new HuggingFaceEmbeddingBackend({
        model,
        ...(options.baseUrl ? { endpointUrl: options.baseUrl } : {}),
        ...(token ? { token } : {}),
      });
    },
  },
  classifier: {
    usage: ["classifier:<model>"],
    accepts: anyModel,
    // It scores text instead of decoding it, but like a decoder it is a model worth caching.
    decodes: true,
    modelFlag: false,
    create: (model, environment) => {
      if (!environment.baseUrl) throw usageError(`classifier:${model} needs a base URL: the URL to POST {"inputs": text} to`);
      const token = (environment.env ?? process.env)[environment.apiKeyEnv ?? DEFAULT_KEY_VARIABLE.hf];
      registerSecret(token);
      return new TextClassificationBackend({ url: environment.baseUrl, model, ...(token ? { token } : {}) });
    },
  },
  baseline: {
    usage: ["baseline:random", "baseline:majority"],
    accepts: (model) => model === "random" || model === "majority",
    decodes: false,
    answersAtRandom: (model) => model === "random",
    create: (model, environment) =>
      model === "random" ? new RandomBaseline(environment.seed) : new MajorityBaseline(majorityLetter(environment.scoredGolds())),
  },
} satisfies Record<string, BackendKind>;

export type BackendKindName = keyof typeof BACKEND_TABLE;
const BACKENDS: Readonly<Record<BackendKindName, BackendKind>> = BACKEND_TABLE;

export interface BackendSpec {
  kind: BackendKindName;
  model: string;
}

function isBackendKind(kind: string): kind is BackendKindName {
  return Object.hasOwn(BACKENDS, kind);
}

/** "a, b or c" */
function alternatives(words: readonly string[]): string {
  return words.length <= 1 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}

/** The spec's kind and model when the table accepts them, else null. */
function lookUp(spec: string): BackendSpec | null {
  const colon = spec.indexOf(":");
  if (colon < 0) return null;
  const kind = spec.slice(0, colon);
  const model = spec.slice(colon + 1);
  return isBackendKind(kind) && BACKENDS[kind].accepts(model) ? { kind, model } : null;
}

/** Parses `--model <kind>:<model>` against the table: `openai:<model>`, `hf:<model>`, `baseline:random|majority`. */
export function parseBackendSpec(spec: string): BackendSpec {
  const parsed = lookUp(spec);
  if (parsed && BACKENDS[parsed.kind].modelFlag !== false) return parsed;
  const usage = Object.values(BACKENDS).flatMap((backend) => (backend.modelFlag === false ? [] : backend.usage));
  throw usageError(`--model "${spec}" is not a backend: expected ${alternatives(usage)}`);
}

/** Any kind of the table, the ones `--model` does not take included (`classifier:<model>`): for a stage that names its kind itself. */
export function backendSpecOf(spec: string): BackendSpec {
  const parsed = lookUp(spec);
  if (parsed) return parsed;
  const usage = Object.values(BACKENDS).flatMap((backend) => backend.usage);
  throw usageError(`"${spec}" is not a backend: expected ${alternatives(usage)}`);
}

/** Whether the spec's backend decodes text (a model, not a baseline): see BackendKind.decodes. */
export function decodesText(spec: BackendSpec): boolean {
  return BACKENDS[spec.kind].decodes;
}

/** Whether the spec's backend answers uniformly at random: see BackendKind.answersAtRandom. */
export function answersAtRandom(spec: BackendSpec): boolean {
  return BACKENDS[spec.kind].answersAtRandom?.(spec.model) ?? false;
}

/**
 * Builds the backend for one task. Several base URLs (or an identity of the caller's) give a
 * PooledBackend over one backend per URL, answering under `environment.identity`, else under the
 * first member's identity without its URL: any server of the pool answers for all.
 */
export function createBackend(spec: BackendSpec, environment: BackendEnvironment): ModelBackend {
  const kind = BACKENDS[spec.kind];
  const { baseUrls, identity, baseUrl, ...rest } = environment;
  const urls: ReadonlyArray<string | undefined> = baseUrls ?? [baseUrl];
  const member = (url: string | undefined) => kind.create(spec.model, { ...rest, ...(url ? { baseUrl: url } : {}) });
  if (urls.length <= 1 && identity === undefined) return member(urls[0]);
  const members = (urls.length > 0 ? urls : [undefined]).map(member);
  const { baseUrl: _url, ...shared } = members[0]!.identity();
  return new PooledBackend(members, identity ?? shared);
}

/** `openai:<model>` or `hf:<model>` (any kind with an embedding endpoint) for difficulty approximation by embedding similarity. */
export function createEmbeddingBackend(spec: string, options: EmbeddingEnvironment): EmbeddingBackend {
  const parsed = lookUp(spec);
  const createEmbedding = parsed ? BACKENDS[parsed.kind].createEmbedding : undefined;
  if (parsed && createEmbedding) return createEmbedding(parsed.model, options);
  const usage = Object.values(BACKENDS).flatMap((backend) => (backend.createEmbedding ? backend.usage : []));
  throw new HarnessError(`--difficulty-embeddings "${spec}": expected ${alternatives(usage)}`);
}
