import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findGenerationConfig, hfHubCacheDir, resolveDecoding } from "../../../harness/eval/decoding.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "decoding-"));
const json = (file: string, value: unknown) => writeFileSync(file, JSON.stringify(value));

describe("where a model's generation config is found", () => {
  it("the HF cache follows HF_HUB_CACHE, then HF_HOME, then XDG_CACHE_HOME", () => {
    expect(hfHubCacheDir({ HF_HUB_CACHE: "/a", HF_HOME: "/b" })).toBe("/a");
    expect(hfHubCacheDir({ HF_HOME: "/b" })).toBe("/b/hub");
    expect(hfHubCacheDir({ XDG_CACHE_HOME: "/c" })).toBe("/c/huggingface/hub");
  });

  it("a finetune run folder and a LoRA adapter folder lead to their base model's file", () => {
    const base = tmp();
    json(join(base, "config.json"), {});
    json(join(base, "generation_config.json"), { do_sample: true, temperature: 0.7 });
    const run = tmp();
    json(join(run, "manifest.json"), { model: { baseModel: base } });
    expect(findGenerationConfig(run).file).toBe(join(base, "generation_config.json"));
    const adapter = tmp();
    json(join(adapter, "adapter_config.json"), { base_model_name_or_path: base });
    expect(findGenerationConfig(adapter).file).toBe(join(base, "generation_config.json"));
  });

  it("a model folder without generation_config.json decodes with transformers' defaults: greedy", () => {
    const model = tmp();
    json(join(model, "config.json"), {});
    expect(resolveDecoding({ preset: "model-default", mode: "zero-shot", model })).toMatchObject({
      temperature: 0,
      topP: 1,
      maxTokens: 10,
      samples: 1,
    });
  });

  it("several cached snapshots and no refs/main: an error asking which one", () => {
    const cache = tmp();
    for (const rev of ["aaa", "bbb"]) mkdirSync(join(cache, "models--org--m", "snapshots", rev), { recursive: true });
    expect(() => findGenerationConfig("org/m", { HF_HUB_CACHE: cache })).toThrow(/2 snapshots and no refs\/main/);
  });

  it("a bad value names the file and key; an unknown preset names the choices", () => {
    const model = tmp();
    json(join(model, "generation_config.json"), { do_sample: true, temperature: "hot" });
    expect(() => resolveDecoding({ preset: "model-default", mode: "zero-shot", model })).toThrow(
      /generation_config\.json: temperature must be a number, got "hot"/,
    );
    expect(() => resolveDecoding({ preset: "greedy", mode: "zero-shot" })).toThrow(
      /--decoding "greedy": expected official or model-default/,
    );
    expect(() => resolveDecoding({ preset: "official", mode: "zero-shot", overrides: { topP: 0 } })).toThrow(/--top-p must be in \(0, 1\]/);
  });
});
