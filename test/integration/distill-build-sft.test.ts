import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { runHarness, type CliResult } from "../helpers/cli.ts";
import { fakeVlm, FIXTURE_NAMES, writeFixture } from "../helpers/distill-fixtures.ts";
import { startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

/** Runs `harness distill` on the fixture records, then `harness build-sft` on one of its KB files. */
async function distillThenBuildSft(
  distillArgs: string[],
  kbFile: string,
  recipe: string,
): Promise<{ build: CliResult; records: Array<Record<string, string>>; stats: Record<string, unknown> }> {
  server = await startOpenAIServer({ chat: (body) => fakeVlm(body), models: ["llava-test"] });
  const dir = await mkdtemp(join(tmpdir(), "distill-sft-"));
  const fixture = await writeFixture(dir);
  const kb = join(dir, "kb");
  const images = distillArgs.includes("--text-only") ? [] : ["--images", fixture.images];
  const distill = await runHarness([
    "distill",
    "--records",
    fixture.records,
    ...images,
    "--model",
    "llava-test",
    "--base-url",
    server.url,
    "--out",
    kb,
    "--cache-dir",
    join(dir, "cache"),
    "--no-progress",
    ...distillArgs,
  ]);
  expect(distill.exitCode, distill.stderr).toBe(0);
  const sft = join(dir, "sft");
  const build = await runHarness(["build-sft", "--kb", join(kb, kbFile), "--recipe", recipe, "--no-decontaminate", "--out", sft]);
  expect(build.exitCode, build.stderr).toBe(0);
  const info = JSON.parse(readFileSync(join(sft, "dataset_info.json"), "utf8")) as Record<string, { file_name: string }>;
  const [key] = Object.keys(info);
  const records = readFileSync(join(sft, info[key!]!.file_name), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, string>);
  const stats = JSON.parse(readFileSync(join(sft, `${key!}.stats.json`), "utf8")) as Record<string, unknown>;
  return { build, records, stats };
}

it("harness build-sft consumes the CSV KB that harness distill writes", async () => {
  const { build, records, stats } = await distillThenBuildSft(["--relations", "can,isA,open,other"], "mind_kb.csv", "mind");
  // The CSV has only the released columns: mind_kb.meta.json beside it says how the KB was made.
  expect(stats["kbMadeWith"]).toEqual({ promptSets: { multimodal: 12 }, units: { "fan-out": 12 } });
  expect(build.stdout + build.stderr).toMatch(/KB prompts: multimodal 12 rows; unit: fan-out 12 rows/);
  // The fake filter says yes to can and open, no to isA, and an unparseable "Maybe" to other: 3 records x 2 kept.
  expect(records).toHaveLength(6);
  expect(records[0]!["instruction"]).toBe(
    `Q: customer buys ${FIXTURE_NAMES["P1"]} and ${FIXTURE_NAMES["P2"]}. What is the most likely intention for buying them?`,
  );
  expect(records[0]!["output"]).toContain("the potential co-buy intention could be they both can");
  expect(records.some((r) => r["output"]!.includes("they both are a type of"))).toBe(false);
});

it("harness build-sft --recipe unimodal reads the JSONL KB of a --text-only distill, text_only included", async () => {
  const { build, records, stats } = await distillThenBuildSft(["--relations", "can,isA", "--text-only"], "mind_kb.jsonl", "unimodal");
  expect(build.stderr).not.toMatch(/expects a text-only KB/);
  expect(stats["kbMadeWith"]).toEqual({ promptSets: { "text-only": 6 }, units: { "fan-out": 6 } });
  expect(records).toHaveLength(3);
});
