/**
 * Which decoding settings an evaluation sends, and where they came from. Two presets:
 * - official: IntentionQA's scripts (temperature 0.1 and 10 tokens for zero-shot, ...);
 * - model-default: the model's own generation_config.json, as the MIND paper evaluated its
 *   fine-tuned models (Appendix E: "the same hyperparameter setting as the default model
 *   provided by HuggingFace").
 * Whatever the preset, temperature, top_p and max_tokens are all sent, so no server default
 * decides them (LLaMA-Factory's API would otherwise sample at top_p 0.7, temperature 0.95).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join, resolve } from "node:path";
import { defaultDecoding, type Decoding, type Mode } from "../prompts/intentionqa.ts";
import { usageError } from "../util/errors.ts";
import { specialPathKind } from "../util/paths.ts";
import { notRegularInput } from "../util/text.ts";

export const DECODING_PRESETS = ["official", "model-default"] as const;
export type DecodingPreset = (typeof DECODING_PRESETS)[number];
/** `harness eval`'s preset when none is given: the benchmark's own settings. */
export const DEFAULT_DECODING_PRESET: DecodingPreset = "official";

/** What report.json records as config.decoding: the values sent and their provenance. */
export interface DecodingRecord extends Decoding {
  preset: DecodingPreset;
  /** Where the values come from, in words (a generation_config.json path, or the official scripts). */
  from: string;
  /** Values given on the command line over the preset (maxTokens, temperature, topP, samples). */
  overrides: string[];
  /** Settings of the model's generation config that the OpenAI protocol cannot carry (e.g. top_k). */
  notSent?: Record<string, number | string | boolean>;
}

export interface DecodingOverrides {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  samples?: number;
}

/**
 * transformers' GenerationConfig defaults, used for keys a generation_config.json leaves out.
 * do_sample false means greedy decoding, whatever temperature says.
 */
export const HF_GENERATION_DEFAULTS = { do_sample: false, temperature: 1.0, top_p: 1.0, top_k: 50, repetition_penalty: 1.0 } as const;

/** huggingface_hub's cache: HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then $HF_HOME/hub, then $XDG_CACHE_HOME/huggingface/hub, then ~/.cache/huggingface/hub. */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env["HF_HUB_CACHE"] || env["HUGGINGFACE_HUB_CACHE"];
  if (explicit) return explicit;
  const home = env["HF_HOME"] || join(env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

/** A generation_config.json, or a model folder without one (transformers then uses its defaults). */
export interface GenerationConfigSource {
  /** The file read, or null when the model folder has none. */
  file: string | null;
  /** The model folder (a local directory or a snapshot in the HF cache). */
  modelDir: string;
  values: Record<string, unknown>;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readJsonObject(file: string): Record<string, unknown> {
  const special = specialPathKind(file);
  if (special !== null) throw notRegularInput(file, special);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw usageError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw usageError(`${file}: expected a JSON object`);
  return parsed as Record<string, unknown>;
}

function fromModelDir(dir: string): GenerationConfigSource | null {
  const file = join(dir, "generation_config.json");
  if (existsSync(file)) return { file, modelDir: dir, values: readJsonObject(file) };
  // A model folder without the file: transformers falls back to its GenerationConfig defaults.
  if (existsSync(join(dir, "config.json"))) return { file: null, modelDir: dir, values: {} };
  return null;
}

/** The snapshot of a Hub repo in the HF cache: the one refs/main points at, else the only one. */
function cachedSnapshot(repo: string, env: NodeJS.ProcessEnv): { dir: string | null; looked: string } {
  const repoDir = join(hfHubCacheDir(env), `models--${repo.split("/").join("--")}`);
  const snapshots = join(repoDir, "snapshots");
  if (!isDir(snapshots)) return { dir: null, looked: repoDir };
  const ref = join(repoDir, "refs", "main");
  if (existsSync(ref)) {
    const revision = readFileSync(ref, "utf8").trim();
    if (isDir(join(snapshots, revision))) return { dir: join(snapshots, revision), looked: repoDir };
  }
  const revisions = readdirSync(snapshots).filter((name) => isDir(join(snapshots, name)));
  if (revisions.length === 1) return { dir: join(snapshots, revisions[0]!), looked: repoDir };
  if (revisions.length > 1) {
    throw usageError(
      `${snapshots} holds ${revisions.length} snapshots and no refs/main: point --generation-config at the one you serve (${join(snapshots, revisions[0]!)}/...)`,
    );
  }
  return { dir: null, looked: repoDir };
}

/**
 * Finds a model's generation config from what a user or a run names: a generation_config.json,
 * a model folder, a LoRA adapter folder (its base model), a `harness finetune` run folder (its
 * base model), or a Hub id (its snapshot in the HF cache). Throws a usage error when not found.
 */
export function findGenerationConfig(
  model: string,
  env: NodeJS.ProcessEnv = process.env,
  seen: ReadonlySet<string> = new Set(),
): GenerationConfigSource {
  if (seen.has(model)) throw usageError(`--generation-config ${model}: the base model chain loops`);
  const chain = new Set([...seen, model]);
  const path = resolve(model);
  if (existsSync(path) && !isDir(path)) {
    if (basename(path) !== "generation_config.json" && !path.endsWith(".json"))
      throw usageError(`--generation-config ${model}: expected a model folder, a generation_config.json or a Hub id`);
    return { file: path, modelDir: resolve(path, ".."), values: readJsonObject(path) };
  }
  if (isDir(path)) {
    const direct = fromModelDir(path);
    if (direct) return direct;
    // A harness run folder or a LoRA adapter: the decoding defaults are the base model's.
    const manifest = join(path, "manifest.json");
    if (existsSync(manifest)) {
      const base = (readJsonObject(manifest)["model"] as { baseModel?: unknown } | undefined)?.baseModel;
      if (typeof base === "string" && base) return findGenerationConfig(base, env, chain);
    }
    for (const adapterDir of [path, join(path, "output")]) {
      const adapterConfig = join(adapterDir, "adapter_config.json");
      if (!existsSync(adapterConfig)) continue;
      const base = readJsonObject(adapterConfig)["base_model_name_or_path"];
      if (typeof base === "string" && base) return findGenerationConfig(base, env, chain);
    }
    throw usageError(
      `--generation-config ${model}: the folder has no generation_config.json, config.json, manifest.json or adapter_config.json`,
    );
  }
  if (/^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(model)) {
    const snapshot = cachedSnapshot(model, env);
    const found = snapshot.dir ? fromModelDir(snapshot.dir) : null;
    if (found) return found;
    throw usageError(
      `--decoding model-default: no generation config for "${model}": not a local folder, and not in the Hugging Face cache (${snapshot.looked}); ` +
        `fetch it with \`harness model fetch ${model}\` (HF_HUB_CACHE / HF_HOME choose the cache), or point --generation-config at the model folder or its generation_config.json`,
    );
  }
  throw usageError(`--generation-config ${model}: no such file or folder`);
}

function numberKey(values: Record<string, unknown>, key: string, file: string): number | undefined {
  const value = values[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value))
    throw usageError(`${file}: ${key} must be a number, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * A generation config -> what the OpenAI protocol can send. Greedy (do_sample false, the HF
 * default) is temperature 0 and top_p 1. max_tokens is the config's max_new_tokens; without one
 * (HF's own cap is max_length 20 counting the prompt, which no IntentionQA prompt fits in) it is
 * the official budget of the mode, and `from` says so. top_k and repetition_penalty have no
 * OpenAI field: they are listed in notSent when sampling would use them.
 */
export function decodingFromGenerationConfig(source: GenerationConfigSource, mode: Mode): Omit<DecodingRecord, "overrides"> {
  const where = source.file ?? join(source.modelDir, "(no generation_config.json)");
  const values = source.values;
  const doSample = values["do_sample"] === undefined ? HF_GENERATION_DEFAULTS.do_sample : values["do_sample"] === true;
  const official = defaultDecoding(mode);
  const maxNewTokens = numberKey(values, "max_new_tokens", where);
  const notSent: Record<string, number | string | boolean> = {};
  let temperature = 0;
  let topP = 1;
  if (doSample) {
    temperature = numberKey(values, "temperature", where) ?? HF_GENERATION_DEFAULTS.temperature;
    topP = numberKey(values, "top_p", where) ?? HF_GENERATION_DEFAULTS.top_p;
    const topK = numberKey(values, "top_k", where) ?? HF_GENERATION_DEFAULTS.top_k;
    if (topK !== 0) notSent["top_k"] = topK;
  }
  const penalty = numberKey(values, "repetition_penalty", where);
  if (penalty !== undefined && penalty !== 1) notSent["repetition_penalty"] = penalty;
  const parts = [
    source.file ? `generation_config.json ${source.file}` : `${source.modelDir} (no generation_config.json: transformers' defaults)`,
    doSample
      ? `sampling (do_sample true)`
      : `greedy (do_sample ${values["do_sample"] === undefined ? "unset, HF default false" : "false"})`,
    maxNewTokens !== undefined
      ? `max_new_tokens ${maxNewTokens}`
      : `no max_new_tokens: max_tokens is the official ${mode} budget (${official.maxTokens})`,
  ];
  return {
    maxTokens: maxNewTokens ?? official.maxTokens,
    temperature,
    topP,
    samples: official.samples,
    preset: "model-default",
    from: parts.join("; "),
    ...(Object.keys(notSent).length > 0 ? { notSent } : {}),
  };
}

function checkOverrides(overrides: DecodingOverrides): void {
  for (const [flag, value] of [
    ["max-tokens", overrides.maxTokens],
    ["samples", overrides.samples],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw usageError(`--${flag} must be an integer >= 1, got ${value}`);
  }
  if (overrides.temperature !== undefined && !(overrides.temperature >= 0))
    throw usageError(`--temperature must be >= 0, got ${overrides.temperature}`);
  if (overrides.topP !== undefined && !(overrides.topP > 0 && overrides.topP <= 1))
    throw usageError(`--top-p must be in (0, 1], got ${overrides.topP}`);
}

export interface ResolveDecodingOptions {
  preset: string;
  mode: Mode;
  overrides?: DecodingOverrides;
  /** model-default: where the model's generation config is (folder, file, run folder or Hub id). */
  model?: string;
  env?: NodeJS.ProcessEnv;
}

/** The decoding an evaluation sends: the preset's values, then the command line's overrides. */
export function resolveDecoding(options: ResolveDecodingOptions): DecodingRecord {
  if (!(DECODING_PRESETS as readonly string[]).includes(options.preset)) {
    throw usageError(`--decoding "${options.preset}": expected ${DECODING_PRESETS.join(" or ")}`);
  }
  const overrides = options.overrides ?? {};
  checkOverrides(overrides);
  let base: Omit<DecodingRecord, "overrides">;
  if (options.preset === "model-default") {
    if (!options.model)
      throw usageError(
        "--decoding model-default needs to know the model: give --generation-config (a model folder, its generation_config.json, or a Hub id in the HF cache)",
      );
    base = decodingFromGenerationConfig(findGenerationConfig(options.model, options.env), options.mode);
  } else {
    // The official scripts leave top_p unset; on the OpenAI API they called that is 1.
    base = {
      ...defaultDecoding(options.mode),
      preset: "official",
      from: `IntentionQA's official ${options.mode} settings (top_p unset there: the OpenAI API's 1)`,
    };
  }
  const given = (Object.keys(overrides) as Array<keyof DecodingOverrides>).filter((key) => overrides[key] !== undefined);
  const record: DecodingRecord = { ...base, overrides: given };
  for (const key of given) record[key] = overrides[key]!;
  return record;
}

/** One line for logs and plans: "model-default: temperature 0.6, top_p 0.9, max_tokens 10 (...)". */
export function describeDecoding(decoding: DecodingRecord): string {
  const values = `temperature ${decoding.temperature}, top_p ${decoding.topP}, max_tokens ${decoding.maxTokens}${decoding.samples > 1 ? `, ${decoding.samples} samples` : ""}`;
  const extra = [
    decoding.overrides.length > 0 ? `overridden: ${decoding.overrides.join(", ")}` : "",
    decoding.notSent
      ? `not sendable: ${Object.entries(decoding.notSent)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`
      : "",
  ].filter(Boolean);
  return `${decoding.preset}: ${values}${extra.length ? ` [${extra.join("; ")}]` : ""} — ${decoding.from}`;
}
