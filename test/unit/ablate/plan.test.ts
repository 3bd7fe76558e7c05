import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadAblationConfig, parseAblationConfig, resolveBackbones } from "../../../harness/ablate/config.ts";
import { EVAL_DEFAULTS } from "../../../harness/eval/defaults.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";
import { planCells, selectCell, type CellInputs } from "../../../harness/ablate/plan.ts";

const base = {
  backbones: { mistral: "configs/mistral.yaml", llama2: { config: "configs/llama2.yaml", max_steps: 10 } },
  data: { kb: "kb/mind_kb.csv", unimodal_kb: "kb-unimodal/mind_kb.csv" },
};
const inputs: CellInputs = { backboneConfigSha: { mistral: "m1", llama2: "l1" }, kbSha: "k1", unimodalKbSha: "u1", protocolVersion: "p" };

describe("ablation config", () => {
  it("defaults to the paper's five recipes and names unknown keys", () => {
    expect(parseAblationConfig(base, "a.yaml").recipes).toEqual(["zero-shot", "unimodal", "critic", "unfiltered", "mind"]);
    expect(() => parseAblationConfig({ ...base, eval: { task: "all" } }, "a.yaml")).toThrow(
      /a\.yaml: invalid ablation config:\n {2}unknown key eval\.task/,
    );
    expect(() => parseAblationConfig({ ...base, recipes: ["mind", "lora"] }, "a.yaml")).toThrow(/recipes\.1/);
  });

  it("unset keys take build-sft's and eval's own defaults: benchmark pairs kept, official decoding", () => {
    const config = parseAblationConfig(base, "a.yaml");
    expect(config.data).toMatchObject({ decontaminate: false, critic_threshold: 0.8 });
    expect(config.eval).toEqual({
      tasks: EVAL_DEFAULTS.task,
      mode: EVAL_DEFAULTS.mode,
      decoding: EVAL_DEFAULTS.decoding,
      concurrency: EVAL_DEFAULTS.concurrency,
      seed: EVAL_DEFAULTS.seed,
    });
    expect(() => parseAblationConfig({ ...base, eval: { decoding: "greedy" } }, "a.yaml")).toThrow(/eval\.decoding/);
    // eval.concurrency: a number (the adaptive ceiling, as --concurrency N) or "fixed:N".
    expect(parseAblationConfig({ ...base, eval: { concurrency: "fixed:8" } }, "a.yaml").eval.concurrency).toBe("fixed:8");
    expect(() => parseAblationConfig({ ...base, eval: { concurrency: "fixed:0" } }, "a.yaml")).toThrow(
      'eval.concurrency: expected N or "fixed:N", N an integer from 1 to 1024',
    );
  });

  it("the shipped reproduction config uses the paper's settings: all intentions, each model's own decoding", async () => {
    const { config, text } = await loadAblationConfig(join(PROJECT_ROOT, "configs", "ablation.yaml"));
    expect(config.data.decontaminate).toBe(false);
    expect(config.eval).toMatchObject({ decoding: "model-default", mode: "zero-shot", tasks: "all" });
    expect(config.recipes).toEqual(["zero-shot", "unimodal", "critic", "unfiltered", "mind"]);
    // The switch to the decontaminated variant is documented where it is set.
    expect(text).toMatch(/set this to true: build-sft --decontaminate/);
  });

  it("asks for the KB a recipe needs", () => {
    expect(() => parseAblationConfig({ backbones: base.backbones, recipes: ["mind"] }, "a.yaml")).toThrow(/data\.kb is required/);
    expect(() => parseAblationConfig({ backbones: base.backbones, recipes: ["unimodal"], data: { kb: "x" } }, "a.yaml")).toThrow(
      /data\.unimodal_kb is required/,
    );
    expect(parseAblationConfig({ backbones: base.backbones, recipes: ["zero-shot"] }, "a.yaml").recipes).toEqual(["zero-shot"]);
  });
});

describe("cells", () => {
  const config = parseAblationConfig(base, "a.yaml");
  const cells = planCells(config, resolveBackbones(config), inputs, "/w");

  it("cover backbones x recipes, zero-shot without a training run", () => {
    expect(cells.map((c) => c.id)).toEqual([
      "mistral-zero-shot",
      "mistral-unimodal",
      "mistral-critic",
      "mistral-unfiltered",
      "mistral-mind",
      "llama2-zero-shot",
      "llama2-unimodal",
      "llama2-critic",
      "llama2-unfiltered",
      "llama2-mind",
    ]);
    expect(cells[0]!.runDir).toBeUndefined();
    expect(cells[4]!.runDir).toBe("/w/cells/mistral-mind/run");
    expect(selectCell(cells, "llama2/critic")?.id).toBe("llama2-critic");
    expect(selectCell(cells, "llama2/lora")).toBeUndefined();
  });

  it("are keyed by their inputs: a new KB redoes the cells that read it, and only those", () => {
    const changed = planCells(config, resolveBackbones(config), { ...inputs, kbSha: "k2" }, "/w");
    const redone = cells.filter((c, i) => c.key !== changed[i]!.key).map((c) => c.id);
    expect(redone).toEqual(["mistral-critic", "mistral-unfiltered", "mistral-mind", "llama2-critic", "llama2-unfiltered", "llama2-mind"]);
    const decontaminated = planCells(
      parseAblationConfig({ ...base, data: { ...base.data, decontaminate: true } }, "a.yaml"),
      resolveBackbones(config),
      inputs,
      "/w",
    );
    expect(cells.filter((c, i) => c.key !== decontaminated[i]!.key).every((c) => c.recipe !== "zero-shot")).toBe(true);
    const modelDefault = planCells(
      parseAblationConfig({ ...base, eval: { decoding: "model-default" } }, "a.yaml"),
      resolveBackbones(config),
      inputs,
      "/w",
    );
    expect(cells.every((c, i) => c.key !== modelDefault[i]!.key)).toBe(true);
    const newBackbone = planCells(
      config,
      resolveBackbones(config),
      { ...inputs, backboneConfigSha: { mistral: "m2", llama2: "l1" } },
      "/w",
    );
    expect(cells.filter((c, i) => c.key !== newBackbone[i]!.key).every((c) => c.backbone.name === "mistral")).toBe(true);
  });
});
