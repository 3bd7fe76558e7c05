import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, expect, it } from "vitest";
import { ROBUSTNESS_DEFAULTS, type RobustnessConfig } from "../../harness/analyze/defaults.ts";
import { runRobustness } from "../../harness/analyze/robustness.ts";
import { cosine } from "../../harness/stats/cosine.ts";
import { runHarness } from "../helpers/cli.ts";
import { distillFixture, distillFixtureArgs, fakeVlm, writeFixture } from "../helpers/distill-fixtures.ts";
import { promptOf, startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A bag-of-words embedding: each word hashed into one of 32 dimensions. */
function embed(text: string): number[] {
  const vector = new Array<number>(32).fill(0);
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    let h = 0;
    for (const ch of word) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    vector[h % 32]! += 1;
  }
  return vector;
}

const isRobustnessPrompt = (prompt: string) =>
  prompt.includes("Start with the potential co-buy intention could be") && !prompt.includes("together with the product images");

/** `harness analyze robustness` over a KB and the fixture's images, generating and embedding on one test server. */
function robustnessArgs(o: {
  kb: string;
  fixture: { records: string; images: string };
  serverUrl: string;
  embeddings: string;
  out: string;
  cache: string;
}): string[] {
  return [
    ...["analyze", "robustness", "--kb", o.kb, "--records", o.fixture.records, "--images", o.fixture.images],
    ...["--model", "llava-test", "--base-url", o.serverUrl, "--embeddings", o.embeddings, "--embeddings-base-url", o.serverUrl],
    ...["--out", o.out, "--cache-dir", o.cache],
  ];
}

it("analyze robustness regenerates sampled intentions with the 5.4.4 prompt (images still shown), embeds both and reports the mean cosine beside 0.85", async () => {
  server = await startOpenAIServer({
    chat: (body) =>
      isRobustnessPrompt(promptOf(body))
        ? "the potential co-buy intention could be they both can help a runner on race day."
        : fakeVlm(body),
    embed,
    models: ["llava-test"],
  });
  const dir = await mkdtemp(join(tmpdir(), "robustness-"));
  const { fixture, kb, cache, result: distill } = await distillFixture(dir, server.url, "can,usedFor,isA");
  expect(distill.exitCode, distill.stderr).toBe(0);
  const distillRequests = server.chatRequests().length;

  const out = join(dir, "robustness");
  const args = [
    ...robustnessArgs({ kb: join(kb, "mind_kb.jsonl"), fixture, serverUrl: server.url, embeddings: "openai:bow-test", out, cache }),
    "--sample",
    "4",
  ];
  const result = await runHarness(args);
  expect(result.exitCode, result.stderr).toBe(0);

  // 4 of the 6 kept rows (can and usedFor; the fake filter rejects isA), regenerated with the modified prompt.
  const asked = server.chatRequests().slice(distillRequests);
  expect(asked).toHaveLength(4);
  for (const request of asked) {
    const prompt = promptOf(request.body!);
    expect(prompt).toContain("Based on information provided, what could be the potential intention");
    expect(prompt).toMatch(
      /based on the relation of (they both can|they are both used for), limit your word count within 120 words\. Start with/,
    );
    expect(prompt).not.toContain("take the image features into consideration");
    // The stacked pair image is still shown, as in distill.
    const content = (request.body!["messages"] as Array<{ content: Array<{ type: string }> }>)[0]!.content;
    expect(content.filter((p) => p.type === "image_url")).toHaveLength(1);
    expect(request.body).toMatchObject({ temperature: 0.2, max_tokens: 512 });
  }

  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
    pairs: number;
    meanCosine: number;
    ci95: { low: number; high: number };
    paperMeanCosine: number;
    histogram: Array<{ count: number }>;
  };
  const pairs = readFileSync(join(out, "pairs.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { original: string; regenerated: string; cosine: number });
  expect(summary.pairs).toBe(4);
  expect(pairs).toHaveLength(4);
  for (const pair of pairs) expect(pair.cosine).toBeCloseTo(cosine(embed(pair.original), embed(pair.regenerated)), 12);
  const mean = pairs.reduce((a, p) => a + p.cosine, 0) / pairs.length;
  expect(summary.meanCosine).toBeCloseTo(mean, 12);
  expect(summary.meanCosine).toBeGreaterThan(0.2);
  expect(summary.meanCosine).toBeLessThan(0.99);
  expect(summary.ci95.low).toBeLessThanOrEqual(mean);
  expect(summary.ci95.high).toBeGreaterThanOrEqual(mean);
  expect(summary.paperMeanCosine).toBe(0.85);
  expect(summary.histogram.reduce((a, b) => a + b.count, 0)).toBe(4);
  expect(result.stdout).toContain(mean.toFixed(3));
  expect(result.stdout).toMatch(/paper \(5\.4\.4, SentenceBERT\) +100 +0\.850/);
  expect(readFileSync(join(out, "histogram.svg"), "utf8")).toMatch(/^<svg/);
  // Its Vega-Lite spec beside it: the same bins and counts as the SVG's bars.
  const svgBars = [...readFileSync(join(out, "histogram.svg"), "utf8").matchAll(/data-group="([^"]*)" data-value="([^"]*)"/g)].map(
    (m) => `${m[1]}:${m[2]}`,
  );
  const vl = JSON.parse(readFileSync(join(out, "histogram.vl.json"), "utf8")) as {
    $schema: string;
    data: { values: Array<{ group: string; value: number }> };
  };
  expect(vl.$schema).toBe("https://vega.github.io/schema/vega-lite/v5.json");
  expect(vl.data.values.map((d) => `${d.group}:${d.value}`)).toEqual(svgBars);

  // Resumable: the rerun takes every regenerated intention from the cache.
  const rerun = await runHarness(args);
  expect(rerun.exitCode, rerun.stderr).toBe(0);
  expect(server.chatRequests().length).toBe(distillRequests + 4);
  expect(rerun.stdout).toContain(mean.toFixed(3));

  // distill --stage2-prompt robustness sends the same requests: the 4 regenerated intentions come
  // from the cache, only the 2 rows outside the sample are asked (plus their filter calls).
  const before = server.chatRequests().length;
  const robustDistill = await runHarness([
    ...distillFixtureArgs(fixture, server.url, { out: join(dir, "kb-robust"), cache }, "can,usedFor,isA"),
    "--stage2-prompt",
    "robustness",
  ]);
  expect(robustDistill.exitCode, robustDistill.stderr).toBe(0);
  const newPrompts = server
    .chatRequests()
    .slice(before)
    .map((r) => promptOf(r.body!));
  expect(newPrompts.filter(isRobustnessPrompt)).toHaveLength(9 - 4);
  expect(JSON.parse(readFileSync(join(dir, "kb-robust", "stats.json"), "utf8")).config.stage2Prompt).toBe("robustness");
});

it("analyze robustness: a sampled row whose product has no image is skipped, and the result says it is partial", async () => {
  server = await startOpenAIServer({
    chat: () => "the potential co-buy intention could be they both can help.",
    embed,
    models: ["llava-test"],
  });
  const dir = await mkdtemp(join(tmpdir(), "robustness-"));
  const fixture = await writeFixture(dir);
  const row = (a: string, b: string) => ({
    id_a: a,
    id_b: b,
    Product_a: `name ${a}`,
    Product_b: `name ${b}`,
    Relation: "can",
    product_a_desc: "a",
    product_b_desc: "b",
    Intention: `the potential co-buy intention could be they both can ${a}.`,
    tail: "",
    Agreement: "Yes, fine.",
  });
  const kb = join(dir, "kb.jsonl");
  writeFileSync(kb, [row("P1", "P2"), row("P3", "P4"), row("X1", "P2")].map((r) => `${JSON.stringify(r)}\n`).join(""));
  const out = join(dir, "out");
  const result = await runHarness(
    robustnessArgs({ kb, fixture, serverUrl: server.url, embeddings: "openai:bow", out, cache: join(dir, "cache") }),
  );
  expect(result.exitCode, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/this run +2 of 3 /);
  expect(result.stdout).toContain("The KB has 3 eligible row(s), fewer than --sample 100");
  expect(result.stdout).toContain("PARTIAL: 1 of 3 sampled row(s) skipped (no image for product X1 in --records)");
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
    pairs: number;
    skipped: Array<{ item: string; reason: string }>;
  };
  expect(summary.pairs).toBe(2);
  expect(summary.skipped).toEqual([{ item: "can:3", reason: "no image for product X1 in --records" }]);
});

it("analyze robustness without --records or --text-only is a usage error", async () => {
  const result = await runHarness([
    "analyze",
    "robustness",
    "--kb",
    "kb.csv",
    "--model",
    "m",
    "--base-url",
    "http://127.0.0.1:9/v1",
    "--embeddings",
    "openai:e",
    "--out",
    "x",
  ]);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain("give --records");
  const badEmbeddings = await runHarness([
    "analyze",
    "robustness",
    "--kb",
    "kb.csv",
    "--records",
    "r.jsonl",
    "--model",
    "m",
    "--base-url",
    "http://127.0.0.1:9/v1",
    "--embeddings",
    "sbert",
    "--out",
    "x",
  ]);
  expect(badEmbeddings.exitCode).toBe(2);
  expect(badEmbeddings.stderr).toContain('--embeddings "sbert": expected openai:<model>');
});

/** A stage's two streams, kept as text. */
function capturedIo() {
  const text = { stdout: "", stderr: "" };
  const sink = (name: "stdout" | "stderr") =>
    new Writable({
      write(chunk, _encoding, done) {
        text[name] += String(chunk);
        done();
      },
    });
  return { io: { stdout: sink("stdout"), stderr: sink("stderr") as unknown as NodeJS.WriteStream }, text };
}

/** A text-only KB of `n` kept "can" rows. */
function writeKb(file: string, n: number): void {
  const rows = Array.from({ length: n }, (_, i) => ({
    id_a: `A${i}`,
    id_b: `B${i}`,
    Product_a: `name A${i}`,
    Product_b: `name B${i}`,
    Relation: "can",
    product_a_desc: "a",
    product_b_desc: "b",
    Intention: `the potential co-buy intention could be they both can carry item ${"x".repeat(i + 1)}.`,
    tail: "",
    Agreement: "Yes, fine.",
  }));
  writeFileSync(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

it("runRobustness called with a captured Io prints its summary there, logs the sample on its stderr and gives the stop signals back", async () => {
  server = await startOpenAIServer({
    chat: () => "the potential co-buy intention could be they both can carry things.",
    embed,
    models: ["m"],
  });
  const dir = await mkdtemp(join(tmpdir(), "robustness-"));
  const kb = join(dir, "kb.jsonl");
  writeKb(kb, 3);
  const config: RobustnessConfig = {
    ...ROBUSTNESS_DEFAULTS,
    kb,
    textOnly: true,
    model: "m",
    baseUrl: [server.url],
    embeddings: "openai:bow",
    embeddingsBaseUrl: server.url,
    cacheDir: join(dir, "cache"),
    out: join(dir, "out"),
  };
  const listeners = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];

  const { io, text } = capturedIo();
  const result = await runRobustness(config, io);
  expect(result.pairs).toBe(3);
  expect(text.stdout).toMatch(/^Robustness to the stage-2 prompt \(paper section 5\.4\.4\)\n/);
  expect(text.stdout).toMatch(/this run +3 /);
  expect(
    text.stdout.endsWith(`written to ${config.out}/ (summary.json, summary.md, histogram.svg, histogram.vl.json, pairs.jsonl)\n`),
  ).toBe(true);
  expect(text.stderr).toBe("robustness: 3 row(s) sampled from 3 (seed 42)\n");
  expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).toEqual(listeners);

  // --json: summary.json on stdout, as written.
  const json = capturedIo();
  await runRobustness({ ...config, json: true }, json.io);
  expect(json.text.stdout).toBe(readFileSync(join(config.out, "summary.json"), "utf8"));

  // A failed run gives the signals back too.
  const failed = capturedIo();
  await expect(runRobustness({ ...config, kb: join(dir, "missing.jsonl") }, failed.io)).rejects.toThrow(/missing\.jsonl/);
  expect(failed.text.stdout).toBe("");
  expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).toEqual(listeners);
});

it("analyze robustness caches embeddings per text: a rerun asks the embeddings server only for texts it has not embedded before", async () => {
  // Each regenerated intention names its product, so no two texts are alike.
  server = await startOpenAIServer({
    chat: (body) => `the potential co-buy intention could be they both can carry ${/name (A\d+)/.exec(promptOf(body))?.[1] ?? "?"}.`,
    embed,
    models: ["m"],
  });
  const dir = await mkdtemp(join(tmpdir(), "robustness-"));
  const kb = join(dir, "kb.jsonl");
  writeKb(kb, 5);
  const run = (sample: number, out: string) =>
    runHarness([
      ...["analyze", "robustness", "--kb", kb, "--text-only", "--model", "m", "--base-url", server!.url, "--sample", String(sample)],
      ...["--embeddings", "openai:bow", "--embeddings-base-url", server!.url, "--out", join(dir, out), "--cache-dir", join(dir, "cache")],
    ]);
  const embedded = (from: number) =>
    server!.requests
      .slice(from)
      .filter((r) => r.path.endsWith("/embeddings"))
      .flatMap((r) => r.body!["input"] as string[]);

  const first = await run(2, "two");
  expect(first.exitCode, first.stderr).toBe(0);
  const firstTexts = embedded(0);
  expect(new Set(firstTexts).size).toBe(4);

  // The sample of 4 holds the sample of 2: only the 2 new pairs' texts are sent.
  const before = server.requests.length;
  const second = await run(4, "four");
  expect(second.exitCode, second.stderr).toBe(0);
  const secondTexts = embedded(before);
  expect(secondTexts).toHaveLength(4);
  expect(secondTexts.filter((t) => firstTexts.includes(t))).toEqual([]);
  const pairs = readFileSync(join(dir, "four", "pairs.jsonl"), "utf8")
    .trim()
    .split("\n");
  expect(new Set([...firstTexts, ...secondTexts]).size).toBe(2 * pairs.length);

  // The same run again sends no embeddings request, and its numbers are the same.
  const again = server.requests.length;
  const third = await run(4, "four-again");
  expect(third.exitCode, third.stderr).toBe(0);
  expect(embedded(again)).toEqual([]);
  expect(third.stdout.replace("four-again", "four")).toBe(second.stdout);
});
