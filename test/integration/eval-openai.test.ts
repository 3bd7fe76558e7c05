import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { RUN_LOCK_FILE } from "../../harness/util/run-lock.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadQuestions } from "../../harness/benchmark/intentionqa.ts";
import { reportSchema, type EvalReport } from "../../harness/reports/schema.ts";
import { deriveSeed, mulberry32 } from "../../harness/stats/rng.ts";
import { evalAgainst, runHarness, spawnHarness } from "../helpers/cli.ts";
import { goldByPrompt, wrongLetterRightProbabilities } from "../helpers/gold.ts";
import { intentionqaDir } from "../helpers/paths.ts";
import { promptOf, startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

let gold: Map<string, string>;
const tmp = () => mkdtemp(join(tmpdir(), "harness-eval-"));

beforeAll(async () => {
  gold = await goldByPrompt(["understanding", "utilization"]);
});

async function readReport(stdout: string): Promise<EvalReport> {
  return reportSchema.parse(JSON.parse(stdout));
}

function commonArgs(server: TestServer, out: string, cache: string): string[] {
  return evalAgainst(server.url, out, cache);
}

describe("against an OpenAI-compatible server that knows every answer", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startOpenAIServer({ chat: (body) => gold.get(promptOf(body)) ?? "?" });
  });
  afterAll(() => server.close());

  it("scores every split 100.00 on all 2245 + 2143 questions, then answers a rerun from the cache", async () => {
    const out = await tmp();
    const cache = await tmp();
    const difficulty = join(out, "levels.csv");
    const ids = (await loadQuestions(join(intentionqaDir(), "QA_fullInfo_task1.jsonl"), "understanding")).map((q) => q.id);
    const random = mulberry32(7);
    await writeFile(difficulty, `id,similarity\n${ids.map((id) => `${id},${random().toFixed(3)}`).join("\n")}\n`);

    const result = await runHarness([
      ...commonArgs(server, out, cache),
      "--task",
      "all",
      "--concurrency",
      "64",
      "--difficulty-file",
      difficulty,
      "--json",
      "--run-id",
      "oracle",
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = await readReport(result.stdout);
    expect(report.results.map((r) => [r.task, r.splits.avg!.n])).toEqual([
      ["understanding", 2245],
      ["utilization", 2143],
    ]);
    for (const task of report.results) {
      for (const split of ["easy", "medium", "hard", "avg"] as const) {
        expect(task.splits[split]!.parses.official!.accuracy, `${task.task} ${split}`).toBe(100);
        expect(task.splits[split]!.n).toBeGreaterThan(0);
      }
      expect(task.difficulty).toMatchObject({ kind: "file", approximate: false });
    }
    expect(report.requests.sent).toBe(2245 + 2143);
    const files = await readdir(join(out, "oracle"));
    expect(files.sort()).toEqual(["report.json", "report.md", "samples.jsonl"]);
    const samples = (await readFile(join(out, "oracle", "samples.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(samples).toHaveLength(2245 + 2143);
    expect(samples[0]).toMatchObject({ task: "understanding", parses: { official: { correct: 1 } }, responses: [samples[0].gold] });

    const before = server.chatRequests().length;
    const rerun = await runHarness([
      ...commonArgs(server, out, cache),
      "--task",
      "all",
      "--difficulty-file",
      difficulty,
      "--json",
      "--run-id",
      "oracle-rerun",
    ]);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(server.chatRequests().length - before).toBe(0);
    expect((await readReport(rerun.stdout)).requests.cacheHits).toBe(2245 + 2143);
  });
});

describe("against a server that answers in a sentence", () => {
  it("the strict parse scores it and the official parse is shown beside it", async () => {
    const server = await startOpenAIServer({ chat: (body) => `The answer is ${gold.get(promptOf(body))}.` });
    try {
      const out = await tmp();
      const result = await runHarness([
        ...commonArgs(server, out, await tmp()),
        "--task",
        "understanding",
        "--limit",
        "100",
        "--run-id",
        "chatty",
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/understanding\s+official\s+—\s+—\s+—\s+0\.00 /);
      expect(result.stdout).toMatch(/understanding\s+strict\s+—\s+—\s+—\s+100\.00 /);
      const report = reportSchema.parse(JSON.parse(await readFile(join(out, "chatty", "report.json"), "utf8")));
      expect(report.results[0]!.splits.avg).toMatchObject({
        parses: { official: { accuracy: 0 }, strict: { accuracy: 100 } },
        unreadable: { count: 0 },
      });
    } finally {
      await server.close();
    }
  });
});

describe("resilience", () => {
  it("a server failing 20% of requests with 429/500 and never answering 1% gives the clean run's accuracy", async () => {
    // An oracle that is wrong on a fixed third of the questions, so accuracy is not trivially 100.
    const answer = (prompt: string) => {
      const right = gold.get(prompt)!;
      return deriveSeed(1, prompt) % 3 === 0 ? (right === "A" ? "B" : "A") : right;
    };
    const clean = await startOpenAIServer({ chat: (body) => answer(promptOf(body)) });
    const random = mulberry32(42);
    const flaky = await startOpenAIServer({
      chat: (body) => {
        const roll = random();
        if (roll < 0.01) return { hang: true };
        if (roll < 0.11) return { status: 429, headers: { "retry-after": "0" } };
        if (roll < 0.21) return { status: 500 };
        return answer(promptOf(body));
      },
    });
    try {
      const args = ["--task", "understanding", "--limit", "400", "--concurrency", "32", "--json"];
      const a = await runHarness([...commonArgs(clean, await tmp(), await tmp()), ...args]);
      const b = await runHarness([...commonArgs(flaky, await tmp(), await tmp()), ...args, "--timeout", "1", "--retries", "10"]);
      expect(a.exitCode, a.stderr).toBe(0);
      expect(b.exitCode, b.stderr).toBe(0);
      const [ra, rb] = [await readReport(a.stdout), await readReport(b.stdout)];
      expect(rb.results[0]!.splits.avg!.parses.official).toEqual(ra.results[0]!.splits.avg!.parses.official);
      expect(rb.results[0]!.splits.avg!.parses.official!.accuracy).toBeLessThan(80);
      expect(rb.requests.retries).toBeGreaterThan(40);
      expect(rb.results[0]!.questions.apiErrors).toBe(0);
    } finally {
      await clean.close();
      await flaky.close();
    }
  });
});

describe("letter probabilities and approximate difficulty", () => {
  it("reports a logprob accuracy beside the generated one, and marks embedding levels approximate", async () => {
    const server = await startOpenAIServer({
      // The generated letter is always wrong; the probabilities favour the right one.
      chat: (body) => wrongLetterRightProbabilities(gold, promptOf(body)),
      embed: (text) => [text.length % 7, (text.length * 13) % 5, 1],
    });
    try {
      const out = await tmp();
      const result = await runHarness([
        ...commonArgs(server, out, await tmp()),
        "--task",
        "understanding",
        "--limit",
        "50",
        "--difficulty-embeddings",
        "openai:emb",
        "--run-id",
        "lp",
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      const report = reportSchema.parse(JSON.parse(await readFile(join(out, "lp", "report.json"), "utf8")));
      const avg = report.results[0]!.splits.avg!;
      expect(avg.parses.official!.accuracy).toBe(0);
      expect(avg.parses.logprob).toMatchObject({ n: 50, accuracy: 100 });
      expect(report.results[0]!.difficulty).toMatchObject({ kind: "embeddings", approximate: true });
      expect(result.stdout).toMatch(/difficulty \(APPROXIMATE\)/);
      expect(server.chatRequests()[0]!.body).toMatchObject({ logprobs: true, top_logprobs: 20, max_tokens: 10, temperature: 0.1 });
      expect(server.requests.some((r) => r.path.endsWith("/embeddings"))).toBe(true);
    } finally {
      await server.close();
    }
  });
});

describe("hf backend through @huggingface/inference", () => {
  it("evaluates against an endpoint URL", async () => {
    const server = await startOpenAIServer({ chat: (body) => gold.get(promptOf(body)) ?? "?" });
    try {
      const endpoint = server.url.replace(/\/v1$/, "");
      const result = await runHarness(
        [
          "eval",
          "--model",
          "hf:test/model",
          "--base-url",
          endpoint,
          "--data",
          intentionqaDir(),
          "--out",
          await tmp(),
          "--cache-dir",
          await tmp(),
          "--progress=false",
          "--task",
          "utilization",
          "--limit",
          "30",
          "--json",
        ],
        {
          env: { HF_TOKEN: "hf_secret_token_value" },
        },
      );
      expect(result.exitCode, result.stderr).toBe(0);
      expect((await readReport(result.stdout)).results[0]!.splits.avg!.parses.official!.accuracy).toBe(100);
      expect(server.chatRequests()[0]!.headers.authorization).toBe("Bearer hf_secret_token_value");
    } finally {
      await server.close();
    }
  });
});

describe("bad inputs: a clear error and a non-zero exit", () => {
  it("a malformed JSONL line names the file and line", async () => {
    const dir = await tmp();
    const lines = (await readFile(join(intentionqaDir(), "QA_fullInfo_task1.jsonl"), "utf8")).split("\n");
    lines[4] = lines[4]!.slice(0, 50);
    await writeFile(join(dir, "QA_fullInfo_task1.jsonl"), lines.join("\n"));
    const result = await runHarness(["eval", "--task", "understanding", "--data", dir, "--out", await tmp()]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/QA_fullInfo_task1\.jsonl:5: not valid JSON/);
  });

  it("a record without options names the field", async () => {
    const dir = await tmp();
    const lines = (await readFile(join(intentionqaDir(), "QA_fullInfo_task2.jsonl"), "utf8")).split("\n");
    const record = JSON.parse(lines[9]!);
    delete record.options;
    lines[9] = JSON.stringify(record);
    await writeFile(join(dir, "QA_fullInfo_task2.jsonl"), lines.join("\n"));
    const result = await runHarness(["eval", "--task", "utilization", "--data", dir, "--out", await tmp()]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/QA_fullInfo_task2\.jsonl:10: field "options" must be an object/);
  });

  it("an unknown task", async () => {
    const result = await runHarness(["eval", "--task", "reasoning", "--data", intentionqaDir()]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--task "reasoning" is not a task: expected understanding, utilization, by-relation or all/);
  });

  it("an unreachable server", async () => {
    const result = await runHarness([
      "eval",
      "--task",
      "understanding",
      "--model",
      "openai:m",
      "--base-url",
      "http://127.0.0.1:9/v1",
      "--data",
      intentionqaDir(),
      "--out",
      await tmp(),
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/cannot reach an OpenAI-compatible server at http:\/\/127\.0\.0\.1:9\/v1/);
  });

  it("a rejected API key, and the key never reaches the cache or the report", async () => {
    const server = await startOpenAIServer({ apiKey: "sk-right", chat: () => "A" });
    try {
      const out = await tmp();
      const cache = await tmp();
      const bad = await runHarness([...commonArgs(server, out, cache), "--task", "understanding", "--limit", "5"], {
        env: { OPENAI_API_KEY: "sk-wrong" },
      });
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toMatch(/rejected the API key/);
      const good = await runHarness([...commonArgs(server, out, cache), "--task", "understanding", "--limit", "5", "--run-id", "keyed"], {
        env: { OPENAI_API_KEY: "sk-right" },
      });
      expect(good.exitCode, good.stderr).toBe(0);
      const written = [
        ...(await Promise.all((await readdir(join(out, "keyed"))).map((f) => readFile(join(out, "keyed", f), "utf8")))),
        ...(await Promise.all((await readdir(join(cache, "requests"))).map((f) => readFile(join(cache, "requests", f), "utf8")))),
      ].join("\n");
      expect(written).toContain("FS_");
      expect(written).not.toContain("sk-right");
    } finally {
      await server.close();
    }
  });

  it("a bad --model spec", async () => {
    const result = await runHarness(["eval", "--model", "gpt4", "--data", intentionqaDir()]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/--model "gpt4" is not a backend/);
  });
});

describe("the by-relation task", () => {
  it("reports accuracy per relation", async () => {
    const relGold = await goldByPrompt(["by-relation"]);
    const server = await startOpenAIServer({ chat: (body) => relGold.get(promptOf(body)) ?? "?" });
    try {
      const result = await runHarness([
        ...commonArgs(server, await tmp(), await tmp()),
        "--task",
        "by-relation",
        "--concurrency",
        "32",
        "--json",
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      const relations = (await readReport(result.stdout)).results[0]!.relations!;
      expect(Object.keys(relations)).toHaveLength(11);
      expect(Object.values(relations).every((r) => r.parses.official!.accuracy === 100)).toBe(true);
      expect(Object.values(relations).reduce((a, r) => a + r.n, 0)).toBe(1937 + 35);
    } finally {
      await server.close();
    }
  });
});

describe("resume", () => {
  it("a run killed with SIGKILL halfway and restarted asks no answered question again", async () => {
    const server = await startOpenAIServer({ latencyMs: 20, chat: (body) => gold.get(promptOf(body)) ?? "?" });
    try {
      const out = await tmp();
      const cache = await tmp();
      const args = [
        ...commonArgs(server, out, cache),
        "--task",
        "understanding",
        "--limit",
        "200",
        "--concurrency",
        "4",
        "--run-id",
        "killed",
      ];
      const child = spawnHarness(args);
      while (server.chatRequests().length < 80) await new Promise((r) => setTimeout(r, 10));
      child.kill("SIGKILL");
      await child;
      const cacheFile = (await readdir(join(cache, "requests"))).find((f) => f.endsWith(".jsonl"))!;
      const answered = (await readFile(join(cache, "requests", cacheFile), "utf8")).split("\n").filter((l) => l.trim()).length;
      expect(answered).toBeGreaterThan(60);
      expect(answered).toBeLessThan(200);
      // No report: only the run folder's lock is left by a SIGKILL (the next run takes it over).
      expect(await readdir(out)).toEqual(["killed"]);
      expect(await readdir(join(out, "killed"))).toEqual([RUN_LOCK_FILE]);

      const firstRun = new Set(server.chatRequests().map((r) => promptOf(r.body!)));
      const before = server.chatRequests().length;
      const resumed = await runHarness([...args.slice(0, -1), "killed-resumed", "--json"]);
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      const secondRun = server
        .chatRequests()
        .slice(before)
        .map((r) => promptOf(r.body!));
      expect(secondRun.length).toBe(200 - answered);
      expect(firstRun.size + secondRun.filter((p) => !firstRun.has(p)).length).toBe(200);
      expect((await readReport(resumed.stdout)).results[0]!.splits.avg).toMatchObject({ n: 200, parses: { official: { accuracy: 100 } } });
    } finally {
      await server.close();
    }
  });
});

describe("Ctrl-C", () => {
  it("stops at once with exit 130, keeps the answers, and writes no report", async () => {
    const server = await startOpenAIServer({ latencyMs: 50, chat: (body) => gold.get(promptOf(body)) ?? "?" });
    try {
      const out = await tmp();
      const cache = await tmp();
      const child = spawnHarness([...commonArgs(server, out, cache), "--task", "understanding", "--limit", "300", "--concurrency", "4"]);
      while (server.chatRequests().length < 20) await new Promise((r) => setTimeout(r, 10));
      child.kill("SIGINT");
      const result = await child;
      expect(result.exitCode).toBe(130);
      expect(String(result.stderr)).toMatch(/interrupted; answers received so far are cached: rerun the same command to resume/);
      expect(await readdir(out)).toEqual([]);
      const cacheFile = (await readdir(join(cache, "requests"))).find((f) => f.endsWith(".jsonl"))!;
      expect((await readFile(join(cache, "requests", cacheFile), "utf8")).trim().split("\n").length).toBeGreaterThanOrEqual(15);
    } finally {
      await server.close();
    }
  });
});

describe("chain-of-thought modes", () => {
  it("cot-sc asks 5 samples at temperature 0.7 and max_tokens 200, and votes", async () => {
    const cotGold = await goldByPrompt(["understanding"], "cot-sc");
    const seen = new Map<string, number>();
    const server = await startOpenAIServer({
      chat: (body) => {
        const prompt = promptOf(body);
        const k = seen.get(prompt) ?? 0;
        seen.set(prompt, k + 1);
        const right = cotGold.get(prompt)!;
        const wrong = right === "A" ? "B" : "A";
        // Samples 0, 2 and 4 are right: the vote is right although two samples are wrong.
        return `Step 1: Both are cables.\nStep 2: ${k % 2 === 0 ? right : wrong}`;
      },
    });
    try {
      const result = await runHarness([
        ...commonArgs(server, await tmp(), await tmp()),
        "--task",
        "understanding",
        "--limit",
        "10",
        "--mode",
        "cot-sc",
        "--concurrency",
        "1",
        "--json",
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(server.chatRequests()).toHaveLength(50);
      expect(server.chatRequests()[0]!.body).toMatchObject({ max_tokens: 200, temperature: 0.7 });
      expect(server.chatRequests()[0]!.body).not.toHaveProperty("logprobs");
      expect(promptOf(server.chatRequests()[0]!.body!)).toMatch(/\nStep 2: Answer A or B or C or D only without any other word\.$/);
      const avg = (await readReport(result.stdout)).results[0]!.splits.avg!;
      expect(avg).toMatchObject({ n: 10, parses: { official: { accuracy: 100 }, strict: { accuracy: 100 } } });
    } finally {
      await server.close();
    }
  });
});

/** So HF_HOME decides the cache whatever the machine exports. */
const NO_HUB_CACHE_ENV = { HF_HUB_CACHE: "", HUGGINGFACE_HUB_CACHE: "" };

describe("decoding: sent explicitly, recorded in the report", () => {
  it("official (the default): temperature 0.1, top_p 1 and max_tokens 10 in every request", async () => {
    const server = await startOpenAIServer({ chat: (body) => gold.get(promptOf(body)) ?? "?" });
    try {
      const result = await runHarness([
        ...commonArgs(server, await tmp(), await tmp()),
        "--task",
        "understanding",
        "--limit",
        "3",
        "--json",
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      for (const request of server.chatRequests()) expect(request.body).toMatchObject({ temperature: 0.1, top_p: 1, max_tokens: 10 });
      expect((await readReport(result.stdout)).config.decoding).toMatchObject({
        preset: "official",
        temperature: 0.1,
        topP: 1,
        maxTokens: 10,
        samples: 1,
        overrides: [],
      });
    } finally {
      await server.close();
    }
  });

  it("model-default from a local model folder: the generation_config.json's sampling settings, top_k recorded as not sendable", async () => {
    const server = await startOpenAIServer({ chat: (body) => gold.get(promptOf(body)) ?? "?" });
    try {
      const model = await tmp();
      // Llama-2-7b-chat-hf's own generation_config.json.
      await writeFile(join(model, "config.json"), JSON.stringify({ model_type: "llama" }));
      await writeFile(
        join(model, "generation_config.json"),
        JSON.stringify({
          bos_token_id: 1,
          do_sample: true,
          eos_token_id: 2,
          max_length: 4096,
          pad_token_id: 0,
          temperature: 0.6,
          top_p: 0.9,
        }),
      );
      const result = await runHarness([
        ...commonArgs(server, await tmp(), await tmp()),
        "--task",
        "understanding",
        "--limit",
        "3",
        "--json",
        "--decoding",
        "model-default",
        "--generation-config",
        model,
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      for (const request of server.chatRequests()) expect(request.body).toMatchObject({ temperature: 0.6, top_p: 0.9, max_tokens: 10 });
      const decoding = (await readReport(result.stdout)).config.decoding;
      expect(decoding).toMatchObject({ preset: "model-default", temperature: 0.6, topP: 0.9, maxTokens: 10, notSent: { top_k: 50 } });
      expect(decoding.from).toContain(join(model, "generation_config.json"));
      expect(decoding.from).toMatch(/no max_new_tokens: max_tokens is the official zero-shot budget \(10\)/);
      expect(result.stderr).toMatch(/decoding model-default: temperature 0\.6, top_p 0\.9, max_tokens 10/);
    } finally {
      await server.close();
    }
  });

  it("model-default from the Hugging Face cache (HF_HOME): greedy when do_sample is unset, max_new_tokens as max_tokens; flags override", async () => {
    const server = await startOpenAIServer({ chat: (body) => gold.get(promptOf(body)) ?? "?", models: ["acme/tiny-chat"] });
    try {
      const hfHome = await tmp();
      const repo = join(hfHome, "hub", "models--acme--tiny-chat");
      const revision = "0123456789abcdef0123456789abcdef01234567";
      await mkdir(join(repo, "refs"), { recursive: true });
      await mkdir(join(repo, "snapshots", revision), { recursive: true });
      await writeFile(join(repo, "refs", "main"), revision);
      await writeFile(
        join(repo, "snapshots", revision, "generation_config.json"),
        JSON.stringify({ bos_token_id: 1, eos_token_id: 2, max_new_tokens: 32 }),
      );
      const args = [
        "eval",
        "--model",
        "openai:acme/tiny-chat",
        "--base-url",
        server.url,
        "--data",
        intentionqaDir(),
        "--out",
        await tmp(),
        "--cache-dir",
        await tmp(),
        "--progress=false",
      ];
      const result = await runHarness([...args, "--task", "understanding", "--limit", "2", "--json", "--decoding", "model-default"], {
        env: { HF_HOME: hfHome, ...NO_HUB_CACHE_ENV },
      });
      expect(result.exitCode, result.stderr).toBe(0);
      for (const request of server.chatRequests()) expect(request.body).toMatchObject({ temperature: 0, top_p: 1, max_tokens: 32 });
      expect((await readReport(result.stdout)).config.decoding).toMatchObject({
        preset: "model-default",
        temperature: 0,
        topP: 1,
        maxTokens: 32,
      });

      const before = server.chatRequests().length;
      const overridden = await runHarness(
        [...args, "--task", "understanding", "--limit", "2", "--json", "--decoding", "model-default", "--max-tokens", "5"],
        { env: { HF_HOME: hfHome, ...NO_HUB_CACHE_ENV } },
      );
      expect(overridden.exitCode, overridden.stderr).toBe(0);
      expect(server.chatRequests()[before]!.body).toMatchObject({ temperature: 0, top_p: 1, max_tokens: 5 });
      expect((await readReport(overridden.stdout)).config.decoding).toMatchObject({ maxTokens: 5, overrides: ["maxTokens"] });
    } finally {
      await server.close();
    }
  });

  it("model-default for a model that is nowhere to be found: a usage error naming the cache and the fix, nothing asked", async () => {
    const server = await startOpenAIServer();
    try {
      const result = await runHarness(
        [...commonArgs(server, await tmp(), await tmp()), "--task", "understanding", "--decoding", "model-default"],
        { env: { HF_HOME: await tmp(), ...NO_HUB_CACHE_ENV } },
      );
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(
        /no generation config for "test-model".*models--test-model.*harness model fetch test-model.*--generation-config/,
      );
      expect(server.chatRequests()).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
