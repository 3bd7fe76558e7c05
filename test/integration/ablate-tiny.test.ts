import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { KB_COLUMNS } from "../../harness/kb/schema.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness } from "../helpers/cli.ts";
import { intentionqaDir } from "../helpers/paths.ts";

const PYTHON = join(PROJECT_ROOT, "finetune", ".venv", "bin", "python");
const haveVenv = existsSync(join(PROJECT_ROOT, "finetune", ".venv", "bin", "llamafactory-cli"));
// In CI the venv is installed by .ci/run: a missing one must fail, not skip.
const run = haveVenv || process.env["CI"] === "true" ? describe : describe.skip;

/** A small KB in the released column layout, with critic scores, half accepted by the filter. */
function kbLines(textOnly: boolean): string {
  const rows = Array.from({ length: 24 }, (_, i) => {
    const row: Record<string, string | number | boolean> = {
      id_a: `PA${i}`,
      id_b: `PB${i}`,
      Product_a: `Trail running shoe model ${i}`,
      Product_b: `Merino hiking sock pack ${i}`,
      Relation: ["usedFor", "isA", "can", "open"][i % 4]!,
      product_a_desc: "A light shoe, with grip.",
      product_b_desc: 'Warm socks, "itch-free".',
      Intention: `they are both used for long ${textOnly ? "walks" : "trail runs"} number ${i}`,
      tail: "because they both are used for running.",
      Agreement: i % 2 === 0 ? "Yes, a runner would buy both." : "No, these are unrelated.",
      critic_score: (i % 10) / 10,
      text_only: textOnly,
    };
    return JSON.stringify(
      Object.fromEntries([...KB_COLUMNS.map((c) => [c, row[c]]), ["critic_score", row["critic_score"]], ["text_only", textOnly]]),
    );
  });
  return `${rows.join("\n")}\n`;
}

run("harness ablate end to end on a tiny local model (CPU, every recipe a cell)", () => {
  it("runs every cell, prints the Table 3 layout, and reuses finished cells on a rerun", async () => {
    const work = await mkdtemp(join(tmpdir(), "harness-ablate-"));
    await execa(PYTHON, [join(PROJECT_ROOT, "test", "helpers", "make_tiny_model.py"), join(work, "tiny-model")]);
    await writeFile(join(work, "kb.jsonl"), kbLines(false));
    await writeFile(join(work, "kb-unimodal.jsonl"), kbLines(true));
    const config = join(work, "ablation.yaml");
    await writeFile(
      config,
      [
        "backbones:",
        "  tiny:",
        `    config: ${join(PROJECT_ROOT, "configs", "tiny-cpu.yaml")}`,
        `    model_path: ${join(work, "tiny-model")}`,
        "    max_steps: 1",
        "recipes: [zero-shot, unimodal, critic, unfiltered, mind]",
        "data:",
        `  kb: ${join(work, "kb.jsonl")}`,
        `  unimodal_kb: ${join(work, "kb-unimodal.jsonl")}`,
        "eval:",
        "  tasks: understanding",
        "  decoding: model-default",
        "  limit: 4",
        "  concurrency: 2",
        `work_dir: ${join(work, "runs")}`,
        `reports_dir: ${join(work, "reports")}`,
        "",
      ].join("\n"),
    );
    const common = ["ablate", "--config", config, "--data", intentionqaDir(), "--cache-dir", join(work, "cache")];

    const plan = await runHarness([...common, "--dry-run"]);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout.match(/ todo /g)).toHaveLength(5);
    // The paper's settings, shown before anything runs; the tiny model's generation_config.json
    // (no do_sample: greedy; max_new_tokens 16) is found in its folder.
    expect(plan.stdout).toContain("training data: all intentions, benchmark pairs kept (data.decontaminate: false, the paper's setting)");
    expect(plan.stdout).toMatch(/tiny: model-default: temperature 0, top_p 1, max_tokens 16 .*generation_config\.json/);

    const first = await runHarness(common, { timeoutMs: 900_000 });
    expect(first.exitCode, first.stderr.slice(-3000)).toBe(0);
    for (const recipe of ["zero-shot", "unimodal", "critic", "unfiltered", "mind"]) {
      const report = JSON.parse(await readFile(join(work, "reports", `tiny-${recipe}`, "report.json"), "utf8"));
      expect(report.labels).toMatchObject({ backbone: "tiny", recipe });
      expect(report.config.decoding).toMatchObject({ preset: "model-default", temperature: 0, topP: 1, maxTokens: 16 });
      const cell = JSON.parse(await readFile(join(work, "runs", "cells", `tiny-${recipe}`, "cell.json"), "utf8"));
      if (recipe === "zero-shot") expect(report.training).toBeUndefined();
      else {
        // The KB's pairs are made up: none is a benchmark pair, and the count says so.
        const overlap = { understanding: { questions: 0, scored: 2245 }, utilization: { questions: 0, scored: 2143 } };
        expect(report.training).toMatchObject({ recipe, decontaminated: false, benchmarkOverlap: overlap });
        expect(cell.settings).toMatchObject({ decontaminated: false, benchmarkOverlap: overlap, decoding: { preset: "model-default" } });
      }
      expect(report.results[0].splits.avg.n).toBe(4);
      if (recipe !== "zero-shot")
        expect(existsSync(join(work, "runs", "cells", `tiny-${recipe}`, "run", "output", "adapter_model.safetensors"))).toBe(true);
      expect(first.stdout).toContain(recipe);
    }
    const markdown = await readFile(join(work, "reports", "ablation.md"), "utf8");
    expect(markdown).toContain("mind");
    expect(markdown).toContain("| tiny-mind | no | 0 of 2245 | 0 of 2143 | model-default: temperature 0, top_p 1, max_tokens 16 |");
    expect(markdown).toContain("| tiny-zero-shot | — (no training) | — | — | model-default: temperature 0, top_p 1, max_tokens 16 |");

    const again = await runHarness(common, { timeoutMs: 120_000 });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr.match(/reused/g)).toHaveLength(5);
  }, 1_200_000);
});
