import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterEach, expect, test } from "vitest";
import { fakeVlm, FIXTURE_NAMES, writeFixture } from "../helpers/distill-fixtures.ts";
import { startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
});

test("harness build-sft consumes the CSV KB that harness distill writes", async () => {
  server = await startOpenAIServer({ chat: (body) => fakeVlm(body), models: ["llava-test"] });
  const dir = await mkdtemp(join(tmpdir(), "distill-sft-"));
  const fixture = await writeFixture(dir);
  const kb = join(dir, "kb");
  const distill = await execa(
    "node",
    ["bin/harness.js", "distill", "--records", fixture.records, "--images", fixture.images, "--model", "llava-test", "--base-url", server.url, "--out", kb, "--cache-dir", join(dir, "cache"), "--relations", "can,isA,open,other", "--no-progress"],
    { reject: false },
  );
  expect(distill.exitCode, distill.stderr).toBe(0);

  const sft = join(dir, "sft");
  const build = await execa("node", ["bin/harness.js", "build-sft", "--kb", join(kb, "mind_kb.csv"), "--recipe", "mind", "--no-decontaminate", "--out", sft], { reject: false });
  expect(build.exitCode, build.stderr).toBe(0);
  const info = JSON.parse(readFileSync(join(sft, "dataset_info.json"), "utf8")) as Record<string, { file_name: string }>;
  const [key] = Object.keys(info);
  const records = readFileSync(join(sft, info[key!]!.file_name), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);
  // The fake filter says yes to can and open, no to isA, and an unparseable "Maybe" to other: 3 records x 2 kept.
  expect(records).toHaveLength(6);
  expect(records[0]!["instruction"]).toBe(`Q: customer buys ${FIXTURE_NAMES["P1"]} and ${FIXTURE_NAMES["P2"]}. What is the most likely intention for buying them?`);
  expect(records[0]!["output"]).toContain("the potential co-buy intention could be they both can");
  expect(records.some((r) => r["output"]!.includes("they both are a type of"))).toBe(false);
});

test("harness build-sft --recipe unimodal reads the JSONL KB of a --text-only distill, text_only included", async () => {
  server = await startOpenAIServer({ chat: (body) => fakeVlm(body), models: ["llava-test"] });
  const dir = await mkdtemp(join(tmpdir(), "distill-sft-"));
  const fixture = await writeFixture(dir);
  const kb = join(dir, "kb");
  const distill = await execa(
    "node",
    ["bin/harness.js", "distill", "--records", fixture.records, "--model", "llava-test", "--base-url", server.url, "--out", kb, "--cache-dir", join(dir, "cache"), "--relations", "can,isA", "--text-only", "--no-progress"],
    { reject: false },
  );
  expect(distill.exitCode, distill.stderr).toBe(0);
  const sft = join(dir, "sft");
  const build = await execa("node", ["bin/harness.js", "build-sft", "--kb", join(kb, "mind_kb.jsonl"), "--recipe", "unimodal", "--no-decontaminate", "--out", sft], { reject: false });
  expect(build.exitCode, build.stderr).toBe(0);
  expect(build.stderr).not.toMatch(/expects a text-only KB/);
  const info = JSON.parse(readFileSync(join(sft, "dataset_info.json"), "utf8")) as Record<string, { file_name: string }>;
  const [key] = Object.keys(info);
  expect(readFileSync(join(sft, info[key!]!.file_name), "utf8").trim().split("\n")).toHaveLength(3);
});
