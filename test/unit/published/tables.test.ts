import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EMBEDDED_TSV_FILES, generatedModule } from "../../../harness/published/embed-tsv.ts";
import { allFootnotes, footnotesFor, modelKey, paperRows, PAPER_SPLITS, PAPER_TASKS } from "../../../harness/published/tables.ts";
import { matchingPaperRows, paperRowFor, type RunIdentity } from "../../../harness/reports/published.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";
import { SHARED_SPEC_DIR } from "../../helpers/paths.ts";

const PUBLISHED_DIR = join(PROJECT_ROOT, "harness", "published");
const SHARED_PUBLISHED_DIR = join(SHARED_SPEC_DIR, "published");
const haveShared = existsSync(SHARED_PUBLISHED_DIR);
const read = (file: string) => readFileSync(join(PUBLISHED_DIR, file), "utf8");

describe("the paper's tables shipped with the harness", () => {
  it.skipIf(!haveShared)("are byte-for-byte the reference card's TSV files", () => {
    for (const file of Object.values(EMBEDDED_TSV_FILES))
      expect(read(file), file).toBe(readFileSync(join(SHARED_PUBLISHED_DIR, file), "utf8"));
  });
  if (!haveShared) it.skip(`compared with ${SHARED_PUBLISHED_DIR}: not there (the shared folder is absent); skipped`, () => {});

  it("are embedded verbatim (rerun `npx tsx harness/published/embed-tsv.ts` after editing a TSV)", () => {
    expect(read("tsv.generated.ts")).toBe(generatedModule(read));
  });

  it("parse to every printed row and number, text as printed", () => {
    const lines = (file: string) =>
      read(file)
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split("\t"));
    const t2 = lines("mind_table2.tsv");
    const t3 = lines("mind_table3.tsv");
    expect(paperRows(2)).toHaveLength(30);
    expect(paperRows(3)).toHaveLength(8);
    for (const [rows, tsv, offset] of [
      [paperRows(2), t2, 3],
      [paperRows(3), t3, 2],
    ] as const) {
      rows.forEach((row, i) => {
        const printed = PAPER_TASKS.flatMap((task) => PAPER_SPLITS.map((split) => row.values[task][split].printed));
        expect(printed, row.id).toEqual(tsv[i]!.slice(offset));
      });
    }
    expect(paperRows(2).find((r) => r.model === "Human")!.values.utilization.hard).toEqual({ value: 100, printed: "100.0" });
  });

  it("name rows so runs can be matched: Table 3's LLaMA is Table 2's, CoT rows carry their mode", () => {
    expect(modelKey("LLAMA-7B-chat")).toBe(modelKey("meta-llama/Llama-2-7b-chat-hf"));
    expect(modelKey("mistralai/Mistral-7B-Instruct-v0.2")).toBe(modelKey("mistral"));
    const gpt4cot = paperRows(2).find((r) => r.label === "GPT 4 (CoT)")!;
    expect(gpt4cot).toMatchObject({ model: "GPT 4", mode: "cot", recipe: "zero-shot", group: "LLM API" });
    expect(paperRows(3).map((r) => r.recipe)).toEqual([
      "zero-shot",
      "unimodal",
      "critic",
      "mind",
      "zero-shot",
      "unimodal",
      "critic",
      "mind",
    ]);
  });

  it("find the paper's own inconsistencies listed in shared/spec/published/README.md", () => {
    const texts = allFootnotes().map((n) => n.text);
    // The two Avg rows that lie outside their splits (LLaMA-2 MIND Distilled in Tables 2 and 3; Mistral w. Critic Filter).
    expect(texts.filter((t) => /Avg .* (above|below) all three/.test(t))).toEqual([
      expect.stringContaining(
        "Table 2, LLAMA2-7B-chat / MIND Distilled: understanding Avg 66.15 is above all three of its splits (65.78 / 64.61 / 55.75)",
      ),
      expect.stringContaining("Table 3, LLAMA-7B-chat MIND Distilled: understanding Avg 66.15 is above"),
      expect.stringContaining(
        "Table 3, Mistral-7B-Instruct-v0.2 w. Critic Filter: utilization Avg 57.63 is below all three of its splits (58.32 / 61.09 / 58.98)",
      ),
    ]);
    expect(footnotesFor("table2/LLM API/GPT 4").map((n) => n.text)).toEqual([
      "Table 2: the rows GPT 4 and GPT 4 (CoT) are printed with the same numbers in every column.",
    ]);
    expect(footnotesFor("table2/Majority Vote/Majority Vote")[0]!.text).toMatch(/official difficulty split, which was not released/);
  });
});

describe("a run is matched to the paper row it reproduces", () => {
  const run = (modelNames: string[], extra: Partial<RunIdentity> = {}): RunIdentity => ({
    modelNames,
    adapter: false,
    mode: "zero-shot",
    ...extra,
  });
  const ids = (r: RunIdentity, table: 2 | 3) => matchingPaperRows(r, table).map((p) => p.id);

  it("by backbone and recipe, as harness ablate labels its cells", () => {
    expect(ids(run(["llama2"], { recipe: "unimodal", adapter: true }), 3)).toEqual(["table3/LLAMA-7B-chat/w. Unimodal"]);
    expect(ids(run(["llama2"], { recipe: "unimodal", adapter: true }), 2)).toEqual([]);
    expect(ids(run(["mistral"], { recipe: "mind" }), 2)).toEqual(["table2/MIND Distilled/Mistral-7B-Instruct-v0.2"]);
    expect(ids(run(["mistral"], { recipe: "critic" }), 3)).toEqual(["table3/Mistral-7B-Instruct-v0.2/w. Critic Filter"]);
    expect(ids(run(["mistral"], { recipe: "unfiltered" }), 3)).toEqual([]);
  });

  it("by the served model's name when there are no labels, and by mode", () => {
    expect(ids(run(["mistralai/Mistral-7B-Instruct-v0.2", "openai:mistralai/Mistral-7B-Instruct-v0.2"]), 2)).toEqual([
      "table2/Open LLM/Mistral-7B-Instruct-v0.2",
    ]);
    expect(ids(run(["gpt-4"], { mode: "cot" }), 2)).toEqual(["table2/LLM API/GPT 4 (CoT)"]);
    expect(ids(run(["majority", "baseline:majority"]), 2)).toEqual(["table2/Majority Vote/Majority Vote"]);
    // A fine-tuned model without a recipe label is not the released model.
    expect(ids(run(["mistral"], { adapter: true }), 2)).toEqual([]);
    expect(paperRowFor(run(["my-model"]))).toBeUndefined();
  });
});
