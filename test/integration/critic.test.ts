import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterEach, expect, it } from "vitest";
import { CRITIC_DEFAULTS } from "../../harness/critic/defaults.ts";
import { runCritic } from "../../harness/critic/run.ts";
import type { Io } from "../../harness/util/io.ts";
import { runHarness } from "../helpers/cli.ts";
import { distillFixture, fakeVlm } from "../helpers/distill-fixtures.ts";
import { promptOf, startOpenAIServer, type Reply, type TestServer } from "../helpers/openai-server.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** The judge's P(Yes) by the relation the intention was generated under. */
function yesProbability(prompt: string): number {
  if (prompt.includes("they both can")) return 0.9;
  if (prompt.includes("they both are a type of")) return 0.85;
  return 0.3;
}

/** One server for both: the fake VLM for distill, a Yes/No judge with logprobs for critic. */
function vlmAndJudge(body: Record<string, unknown>): Reply {
  const prompt = promptOf(body);
  if (!prompt.startsWith("Two products were bought together.")) return fakeVlm(body);
  const yes = yesProbability(prompt);
  return {
    content: yes >= 0.5 ? "Yes" : "No",
    logprobs: [
      {
        token: yes >= 0.5 ? "Yes" : "No",
        logprob: Math.log(Math.max(yes, 1 - yes)),
        top_logprobs: [
          { token: "Yes", logprob: Math.log(yes) },
          { token: "No", logprob: Math.log(1 - yes) },
          { token: " yes", logprob: -12 },
        ],
      },
    ],
  };
}

it("distill -> critic (LLM judge, logprobs) -> build-sft --recipe critic: the critic recipe runs end to end, and a rerun asks nothing", async () => {
  server = await startOpenAIServer({ chat: (body) => vlmAndJudge(body), models: ["llava-test", "judge-test"] });
  const dir = await mkdtemp(join(tmpdir(), "critic-"));
  const { kb, cache, result: distill } = await distillFixture(dir, server.url, "can,isA,open");
  expect(distill.exitCode, distill.stderr).toBe(0);

  const scores = join(dir, "critic.csv");
  const criticArgs = [
    "critic",
    "--kb",
    join(kb, "mind_kb.jsonl"),
    "--model",
    "judge-test",
    "--base-url",
    server.url,
    "--out",
    scores,
    "--cache-dir",
    cache,
  ];
  const critic = await runHarness(criticArgs);
  expect(critic.exitCode, critic.stderr).toBe(0);
  expect(critic.stdout).toContain("9 of 9 intention(s) scored");
  const judged = server.chatRequests().filter((r) => promptOf(r.body!).startsWith("Two products were bought together."));
  expect(judged).toHaveLength(9);
  expect(judged[0]!.body).toMatchObject({ model: "judge-test", temperature: 0, max_tokens: 1, logprobs: true, top_logprobs: 20 });
  const rows = parse(readFileSync(scores), { columns: true }) as Array<Record<string, string>>;
  expect(Object.keys(rows[0]!)).toEqual(["id_a", "id_b", "Relation", "Intention", "critic_score"]);
  const byRelation = (relation: string) => rows.filter((r) => r["Relation"] === relation).map((r) => Number(r["critic_score"]));
  // P(Yes) / (P(Yes) + P(No)), the " yes" alternative (e^-12) added to Yes.
  expect(byRelation("can")[0]).toBeCloseTo(0.9, 4);
  expect(byRelation("isA")[0]).toBeCloseTo(0.85, 4);
  expect(byRelation("open")[0]).toBeCloseTo(0.3, 4);

  // Resumable and cached like every model call: the rerun sends nothing and writes the same file.
  const before = readFileSync(scores);
  const rerun = await runHarness(criticArgs);
  expect(rerun.exitCode, rerun.stderr).toBe(0);
  expect(rerun.stdout).toContain("0 sent, 9 from the cache");
  expect(server.chatRequests().filter((r) => promptOf(r.body!).startsWith("Two products")).length).toBe(9);
  expect(readFileSync(scores).equals(before)).toBe(true);

  const sft = join(dir, "sft");
  const build = await runHarness([
    "build-sft",
    "--kb",
    join(kb, "mind_kb.csv"),
    "--recipe",
    "critic",
    "--critic-file",
    scores,
    "--no-decontaminate",
    "--out",
    sft,
    "--json",
  ]);
  expect(build.exitCode, build.stderr).toBe(0);
  const records = readFileSync(join(sft, "intentionqa_critic.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { output: string });
  // can (0.9) and isA (0.85) pass the 0.8 threshold in all three records, whatever the role-aware filter said of isA; open (0.3) does not.
  expect(records).toHaveLength(6);
  expect(records.filter((r) => r.output.includes("they both are a type of"))).toHaveLength(3);
  expect(records.some((r) => r.output.includes("based on the relation of ,"))).toBe(false);
});

it("critic --kind classifier: a TEI-style /predict endpoint, the named label's score; a server that keeps failing leaves no side file", async () => {
  const seen: string[] = [];
  let failing = false;
  const tei = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const input = (JSON.parse(body) as { inputs: string }).inputs;
    seen.push(`${req.url} ${input}`);
    if (failing) {
      res.writeHead(503, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "overloaded" }));
      return;
    }
    const typical = input.includes("traveller") ? 0.95 : 0.4;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify([
        { label: "typical", score: typical },
        { label: "atypical", score: 1 - typical },
      ]),
    );
  });
  await new Promise<void>((resolve) => tei.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${(tei.address() as AddressInfo).port}/predict`;
    const dir = await mkdtemp(join(tmpdir(), "critic-"));
    const kb = join(dir, "kb.jsonl");
    const row = (relation: string, intention: string) =>
      JSON.stringify({
        id_a: "A1",
        id_b: "B1",
        Product_a: "Headphones",
        Product_b: "Charger",
        Relation: relation,
        product_a_desc: "",
        product_b_desc: "",
        Intention: intention,
        tail: "",
        Agreement: "Yes, ok.",
      });
    await import("node:fs/promises").then((fs) =>
      fs.writeFile(
        kb,
        `${row("usedFor", "for a traveller")}\n${row("can", "they both can charge")}\n${row("usedFor", "for a traveller")}\n`,
      ),
    );
    const out = join(dir, "scores.csv");
    const args = (target: string, cache: string) => [
      "critic",
      "--kind",
      "classifier",
      "--model",
      "folkscope-critic",
      "--base-url",
      url,
      "--label",
      "typical",
      "--input-template",
      "{product_a} | {product_b} | {intention}",
      "--kb",
      kb,
      "--out",
      target,
      "--cache-dir",
      cache,
    ];
    const result = await runHarness(args(out, join(dir, "cache")));
    expect(result.exitCode, result.stderr).toBe(0);
    expect(seen).toEqual(["/predict Headphones | Charger | for a traveller", "/predict Headphones | Charger | they both can charge"]);
    const rows = parse(readFileSync(out), { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((r) => r["critic_score"])).toEqual(["0.95", "0.4"]);

    failing = true;
    const failed = await runHarness([...args(join(dir, "never.csv"), join(dir, "fresh-cache")), "--retries", "0"]);
    expect(failed.exitCode, failed.stderr).toBe(3);
    expect(failed.stderr).toContain("could not be scored after");
    expect(existsSync(join(dir, "never.csv"))).toBe(false);
  } finally {
    await new Promise<void>((resolve) => tei.close(() => resolve()));
  }
});

/** stdout and stderr as strings, for a stage called in-process. */
function capturedIo(): Io & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
  });
  return { stdout, stderr: stderr as unknown as NodeJS.WriteStream, out: () => out, err: () => err };
}

it("runCritic prints its own summary (text or --json) and warnings on the Io it is given", async () => {
  server = await startOpenAIServer({
    models: ["judge-test"],
    chat: (body) => (promptOf(body).includes("no logprobs here") ? { content: "Maybe" } : vlmAndJudge(body)),
  });
  const dir = await mkdtemp(join(tmpdir(), "critic-"));
  const kb = join(dir, "kb.jsonl");
  const row = (relation: string, intention: string) =>
    JSON.stringify({
      id_a: "A1",
      id_b: "B1",
      Product_a: "Tent",
      Product_b: "Stove",
      Relation: relation,
      product_a_desc: "",
      product_b_desc: "",
      Intention: intention,
      tail: "",
      Agreement: "Yes, ok.",
    });
  await writeFile(
    kb,
    `${row("can", "they both can cook outdoors")}\n${row("open", "no logprobs here")}\n${row("can", "they both can cook outdoors")}\n`,
  );
  const out = join(dir, "critic.csv");
  const config = { ...CRITIC_DEFAULTS, kb, out, model: "judge-test", baseUrl: server.url, cacheDir: join(dir, "cache") };

  const io = capturedIo();
  const summary = await runCritic(config, io);
  expect(summary).toMatchObject({ rows: 3, unique: 2, scored: 1, unscored: 1, file: out });
  expect(io.out()).toBe(
    "1 of 2 intention(s) scored (3 KB rows; repeats scored once), mean 0.900, 1 at or above 0.8\n" +
      "requests: 2 sent, 0 from the cache, 0 retries\n" +
      `side file: ${out} (next: harness build-sft --kb ${kb} --recipe critic --critic-file ${out})\n`,
  );
  expect(io.err()).toBe(
    'warning: 1 intention(s) got no score (left empty; build-sft --recipe critic counts them as "no critic score"):\n' +
      "  1 x the server returned no logprobs (use --judge-score number with servers that cannot return them)\n",
  );

  const json = capturedIo();
  const again = await runCritic({ ...config, json: true }, json);
  expect(again.requests).toMatchObject({ sent: 0, cacheHits: 2 });
  expect(json.out()).toBe(`${JSON.stringify(again, null, 2)}\n`);
  expect(json.err()).toBe("");
});
