/**
 * `harness eval` against servers that cannot take everything at once: one that answers one
 * request at a time (a llama.cpp-style server on a small CPU) and one with room for K requests
 * that answers 429 past it. Counts are asserted (timeouts, retries, answers), never wall time.
 */
import { readFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { reportSchema, type EvalReport } from "../../harness/reports/schema.ts";
import { runHarness } from "../helpers/cli.ts";
import { goldByPrompt } from "../helpers/gold.ts";
import { intentionqaDir } from "../helpers/paths.ts";
import { promptOf, startOpenAIServer, type Reply, type TestServer } from "../helpers/openai-server.ts";

let gold: Map<string, string>;
const servers: TestServer[] = [];
const tmp = () => mkdtemp(join(tmpdir(), "harness-concurrency-"));

beforeAll(async () => {
  gold = await goldByPrompt(["understanding", "utilization"]);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Answers every request in turn, `serviceMs` each, even those whose client gave up (as a real one-slot server does). */
async function serialServer(serviceMs: number): Promise<TestServer> {
  let queue: Promise<unknown> = Promise.resolve();
  const server = await startOpenAIServer({
    chat: (body) => {
      const turn = queue.then(() => sleep(serviceMs));
      queue = turn;
      return turn.then(() => gold.get(promptOf(body)) ?? "?");
    },
  });
  servers.push(server);
  return server;
}

/** Serves up to `capacity` requests at once (`serviceMs` each) and answers 429 to any past that. */
async function capacityServer(capacity: number, serviceMs: number): Promise<TestServer & { rejected: () => number }> {
  let active = 0;
  let rejected = 0;
  const server = await startOpenAIServer({
    chat: async (body): Promise<Reply> => {
      if (active >= capacity) {
        rejected += 1;
        return { status: 429, body: { error: { message: "Rate limit reached: too many requests in flight", type: "requests" } } };
      }
      active += 1;
      await sleep(serviceMs);
      active -= 1;
      return gold.get(promptOf(body)) ?? "?";
    },
  });
  servers.push(server);
  return { ...server, rejected: () => rejected };
}

/** `harness eval` of both tasks, the first `perTask` questions of each, with its own out and cache folders. */
async function evalRun(server: TestServer, perTask: number, flags: string[]) {
  const out = await tmp();
  const args = [
    ...["eval", "--model", "openai:test-model", "--base-url", server.url, "--data", intentionqaDir()],
    ...["--out", out, "--cache-dir", await tmp(), "--run-id", "run", "--task", "all", "--limit", String(perTask), "--json"],
    ...flags,
  ];
  const result = await runHarness(args);
  const samples = (await readFile(join(out, "run", "samples.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { error?: string });
  const report: EvalReport = reportSchema.parse(JSON.parse(await readFile(join(out, "run", "report.json"), "utf8")));
  return { result, report, samples, timeouts: samples.filter((s) => s.error?.includes("no answer within")).length };
}

describe("a server that answers one request at a time", () => {
  it("with default flags, 100 questions finish with no timeout and no retry; fixed at the same ceiling times out", async () => {
    // 80 ms a request and a 1 s timeout: the default ceiling's 16 requests queue for 1.3 s.
    const adaptive = await evalRun(await serialServer(80), 50, ["--timeout", "1"]);
    expect(adaptive.result.exitCode, adaptive.result.stderr).toBe(0);
    expect(adaptive.report.config).toMatchObject({ concurrency: 16, concurrencyMode: "adaptive" });
    expect(adaptive.samples).toHaveLength(100);
    expect(adaptive.timeouts).toBe(0);
    expect(adaptive.report.requests).toMatchObject({ sent: 100, retries: 0, failures: 0 });
    expect(adaptive.report.results.every((r) => r.splits.avg!.parses.official!.accuracy === 100)).toBe(true);
    // The level it went through is in the report and the log: nowhere near the ceiling.
    expect(adaptive.report.requests.concurrency!.highest).toBeLessThanOrEqual(8);
    expect(adaptive.result.stderr).toMatch(/concurrency: \d+-\d+ in flight \(at most 16\), \d+ at the end/);

    const fixed = await evalRun(await serialServer(80), 50, ["--timeout", "1", "--concurrency", "fixed:16", "--retries", "0"]);
    expect(fixed.result.exitCode).toBe(3);
    expect(fixed.report.config).toMatchObject({ concurrency: 16, concurrencyMode: "fixed" });
    expect(fixed.timeouts).toBeGreaterThan(0);
    expect(fixed.report.requests.concurrency).toBeUndefined();
  });
});

describe("a server with room for 4 requests that answers 429 past it", () => {
  it("adaptive concurrency finishes with far fewer retries than fixed:16, at the same accuracy, and says so on the progress line", async () => {
    const busy = await capacityServer(4, 20);
    // 150 questions a task: fixed:16 is refused on about a third of its requests all through the run,
    // the adaptive level only until it settles, so the gap grows with the run (at 50 it was 16 vs 32-40).
    const adaptive = await evalRun(busy, 150, ["--concurrency", "16", "--retries", "50", "--progress"]);
    expect(adaptive.result.exitCode, adaptive.result.stderr).toBe(0);
    const fixedServer = await capacityServer(4, 20);
    const fixed = await evalRun(fixedServer, 150, ["--concurrency", "fixed:16", "--retries", "50"]);
    expect(fixed.result.exitCode, fixed.result.stderr).toBe(0);

    const accuracy = (r: EvalReport) => r.results.map((t) => t.splits.avg!.parses.official!.accuracy);
    expect(accuracy(adaptive.report)).toEqual([100, 100]);
    expect(accuracy(fixed.report)).toEqual(accuracy(adaptive.report));
    expect(adaptive.report.requests.retries).toBe(busy.rejected());
    expect(fixed.report.requests.retries).toBe(fixedServer.rejected());
    expect(adaptive.report.requests.retries * 2).toBeLessThan(fixed.report.requests.retries);
    // The progress line shows the level, and that the server made it go down.
    expect(adaptive.result.stderr).toMatch(/concurrency \d+\/16/);
    expect(adaptive.result.stderr).toContain("the server is busy (HTTP 429): requests in flight lowered to");
  });
});
