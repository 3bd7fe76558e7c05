// Measures `harness eval` throughput against a local OpenAI-compatible server, side by side in one run.
//   npx tsx bench/eval-throughput.ts
// Prints: wall time over the ideal N x latency / concurrency (20 ms, 64), the speed-up over a client
// that sends one request at a time (as the benchmark's own scripts do), questions per second against a
// zero-latency server, and a cached rerun's wall time and requests sent.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { EvalConfig } from "../harness/eval/defaults.ts";
import { runEval } from "../harness/eval/run.ts";
import { goldByPrompt } from "../test/helpers/gold.ts";
import { intentionqaDir } from "../test/helpers/paths.ts";
import { bareChatLoopSeconds } from "./lib/bare-http.ts";
import { startServerProcess } from "./lib/server-process.ts";

const LATENCY_MS = 20;
const CONCURRENCY = 64;
const SEQUENTIAL_SAMPLE = Number(process.env["SEQUENTIAL_SAMPLE"] ?? 250);

async function startServer(latencyMs: number) {
  return startServerProcess("oracle-server.ts", [String(latencyMs)]);
}

/**
 * The floor the server and the OS allow: a bare HTTP loop (no SDK, no parsing, no cache, no
 * report) sending the same prompts with the same concurrency, measured in the same run.
 */
function bareHttpSeconds(url: string, prompts: readonly string[]): Promise<number> {
  return bareChatLoopSeconds(url, prompts.length, CONCURRENCY, (i) => ({
    model: "test-model",
    messages: [{ role: "user", content: prompts[i] }],
    max_tokens: 10,
  }));
}

const sink = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;

async function evaluate(url: string, overrides: Partial<EvalConfig>) {
  const cacheDir = overrides.cacheDir ?? (await mkdtemp(join(tmpdir(), "bench-cache-")));
  const out = await mkdtemp(join(tmpdir(), "bench-out-"));
  const args: EvalConfig = {
    task: "all",
    model: ["openai:test-model"],
    baseUrl: url,
    mode: "zero-shot",
    topLogprobs: 20,
    data: intentionqaDir(),
    cacheDir,
    cache: true,
    concurrency: CONCURRENCY,
    timeoutMs: 60_000,
    retries: 3,
    seed: 0,
    bootstrap: 1000,
    out,
    progress: false,
    ...overrides,
  };
  const started = performance.now();
  const outcome = await runEval(args, { stdout: sink, stderr: sink });
  const wallMs = performance.now() - started;
  await rm(out, { recursive: true, force: true });
  const report = outcome.reports[0]!.report;
  const n = report.results.reduce((a, r) => a + (r.splits.avg?.n ?? 0), 0);
  return { wallMs, n, sent: report.requests.sent, cacheDir };
}

const slow = await startServer(LATENCY_MS);
const fast = await startServer(0);
try {
  // Warm-up on both servers (JIT, connection pools), as a long real run would be; not measured.
  await evaluate(fast.url, { task: "understanding" });
  await evaluate(slow.url, { task: "understanding" });

  const concurrent = await evaluate(slow.url, {});
  const ideal = (concurrent.n * LATENCY_MS) / CONCURRENCY;
  const prompts = [...(await goldByPrompt(["understanding", "utilization"])).keys()].slice(0, concurrent.n);
  const floor = await bareHttpSeconds(slow.url, prompts);
  const sequential = await evaluate(slow.url, { concurrency: 1, limit: Math.ceil(SEQUENTIAL_SAMPLE / 2) });
  const perQuestionSequential = sequential.wallMs / sequential.n;
  const perQuestionConcurrent = concurrent.wallMs / concurrent.n;
  const zero = await evaluate(fast.url, {});
  const cached = await evaluate(slow.url, { cacheDir: concurrent.cacheDir });

  const line = (label: string, value: string) => console.log(`${label.padEnd(58)} ${value}`);
  console.log(`harness eval throughput (${concurrent.n} scored questions, both tasks; server in its own process; after a warm-up run)`);
  line(`wall time at ${LATENCY_MS} ms latency, concurrency ${CONCURRENCY}`, `${(concurrent.wallMs / 1000).toFixed(2)} s`);
  line(`ideal N x latency / concurrency`, `${(ideal / 1000).toFixed(2)} s`);
  line(`ratio wall / ideal (goal <= 1.25)`, `${(concurrent.wallMs / ideal).toFixed(3)}x`);
  line(`bare HTTP loop, same server and concurrency (the floor)`, `${floor.toFixed(2)} s = ${((floor * 1000) / ideal).toFixed(3)}x ideal`);
  line(`harness over the bare loop`, `${(concurrent.wallMs / 1000 / floor).toFixed(3)}x`);
  line(`one request at a time (${sequential.n} questions)`, `${perQuestionSequential.toFixed(2)} ms/question`);
  line(`speed-up over one-at-a-time`, `${(perQuestionSequential / perQuestionConcurrent).toFixed(1)}x`);
  line(`zero-latency server, concurrency ${CONCURRENCY}`, `${(zero.n / (zero.wallMs / 1000)).toFixed(0)} questions/s`);
  line(`cached rerun: wall time`, `${(cached.wallMs / 1000).toFixed(2)} s`);
  line(`cached rerun: requests sent (goal: 0)`, `${cached.sent}`);
  await rm(concurrent.cacheDir, { recursive: true, force: true });
} finally {
  await slow.stop();
  await fast.stop();
}
