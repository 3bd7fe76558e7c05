import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness } from "../helpers/cli.ts";
import { intentionqaDir } from "../helpers/paths.ts";

const fixture = (name: string) => join(PROJECT_ROOT, "test", "fixtures", "kb", name);
const tempDir = () => mkdtemp(join(tmpdir(), "build-sft-cli-"));

describe("harness build-sft (the real CLI)", () => {
  it("by default keeps the benchmark pairs (the paper's setting) and prints how many scored questions they make", async () => {
    const out = await tempDir();
    const result = await runHarness([
      "build-sft",
      "--kb",
      fixture("mind_small.csv"),
      "--recipe",
      "mind",
      "--out",
      out,
      "--data",
      intentionqaDir(),
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain("intentionqa_mind (mind): 5 of 8 rows kept");
    expect(result.stdout).toContain(
      "decontaminated: no (the paper's setting); scored IntentionQA questions whose pair is in the data: 6 of 2245 understanding, 6 of 2143 utilization",
    );
    const stats = JSON.parse(readFileSync(join(out, "intentionqa_mind.stats.json"), "utf8")) as { options: { decontaminate: boolean } };
    expect(stats.options.decontaminate).toBe(false);
  });

  it("--decontaminate: builds and registers the MIND dataset without benchmark pairs, printing the stats table", async () => {
    const out = await tempDir();
    const result = await runHarness([
      "build-sft",
      "--kb",
      fixture("mind_small.csv"),
      "--recipe",
      "mind",
      "--out",
      out,
      "--data",
      intentionqaDir(),
      "--decontaminate",
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain("intentionqa_mind (mind): 3 of 8 rows kept");
    expect(result.stdout).toContain(
      "decontaminated: yes (benchmark pairs dropped); scored IntentionQA questions whose pair is in the data: 0 of 2245 understanding, 0 of 2143 utilization",
    );
    expect(result.stdout).toMatch(/dropped: contaminated \(IntentionQA pair\)\s+2/);
    expect(result.stderr).toContain("decontamination: dropped 2 rows whose product pair is an IntentionQA question");
    const info = JSON.parse(readFileSync(join(out, "dataset_info.json"), "utf8")) as Record<
      string,
      { file_name: string; formatting: string; columns: Record<string, string> }
    >;
    expect(info).toEqual({
      intentionqa_mind: {
        file_name: "intentionqa_mind.jsonl",
        formatting: "alpaca",
        columns: { prompt: "instruction", query: "input", response: "output" },
      },
    });
    const lines = readFileSync(join(out, "intentionqa_mind.jsonl"), "utf8").trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2]!)).toEqual({
      instruction: "Q: customer buys Trail Running Shoes and Hydration Vest, 5L. What is the most likely intention for buying them?",
      input: "",
      output: "the potential co-buy intention could be\ngetting ready for a long, hilly trail race!",
    });
    expect(existsSync(join(out, "intentionqa_mind.stats.json"))).toBe(true);
  });

  it("--parse-worker writes the same dataset", async () => {
    const [plain, worker] = [await tempDir(), await tempDir()];
    for (const [out, extra] of [
      [plain, []],
      [worker, ["--parse-worker"]],
    ] as const) {
      const result = await runHarness(["build-sft", "--kb", fixture("mind_small.csv"), "--out", out, "--data", intentionqaDir(), ...extra]);
      expect(result.exitCode, result.stderr).toBe(0);
    }
    expect(readFileSync(join(worker, "intentionqa_mind.jsonl"), "utf8")).toBe(readFileSync(join(plain, "intentionqa_mind.jsonl"), "utf8"));
  });

  it("an unterminated quote: non-zero exit, the line in the message, nothing registered", async () => {
    const out = await tempDir();
    const result = await runHarness(["build-sft", "--kb", fixture("broken_quote.csv"), "--out", out, "--no-decontaminate"]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/harness: error: .*broken_quote\.csv:3: .*unterminated quote/);
    expect(readdirSync(out)).toEqual([]);
  });

  it("a missing column: non-zero exit naming the column; an existing registry is untouched", async () => {
    const out = await tempDir();
    writeFileSync(join(out, "dataset_info.json"), '{"alpaca_en":{"file_name":"alpaca.json"}}');
    const result = await runHarness(["build-sft", "--kb", fixture("missing_column.csv"), "--out", out, "--no-decontaminate"]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain("missing_column.csv:1: the header lacks the column Agreement");
    expect(readdirSync(out)).toEqual(["dataset_info.json"]);
    expect(readFileSync(join(out, "dataset_info.json"), "utf8")).toBe('{"alpaca_en":{"file_name":"alpaca.json"}}');
  });

  it("an unknown recipe: exit 2 listing the recipes", async () => {
    const out = await tempDir();
    const result = await runHarness([
      "build-sft",
      "--kb",
      fixture("mind_small.csv"),
      "--recipe",
      "mind,typical",
      "--out",
      out,
      "--no-decontaminate",
    ]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--recipe "typical" is not a recipe: expected mind, unfiltered, unimodal, critic');
    expect(readdirSync(out)).toEqual([]);
  });

  it("--skip-bad-rows counts the bad row and goes on; --json prints the stats", async () => {
    const out = await tempDir();
    const result = await runHarness([
      "build-sft",
      "--kb",
      fixture("wrong_column_count.csv"),
      "--out",
      out,
      "--no-decontaminate",
      "--skip-bad-rows",
      "--json",
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    const [stats] = JSON.parse(result.stdout) as Array<{ rows: { read: number; kept: number; dropped: Record<string, number> } }>;
    expect(stats!.rows).toMatchObject({ read: 3, kept: 2, dropped: expect.objectContaining({ badRow: 1 }) });
  });

  it("a bad JSONL line fails with its line number", async () => {
    const out = await tempDir();
    const result = await runHarness(["build-sft", "--kb", fixture("bad_line.jsonl"), "--out", out, "--no-decontaminate"]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/bad_line\.jsonl:2: expected a JSON object/);
    expect(readdirSync(out)).toEqual([]);
  });
});
