// Measures `harness eval` throughput against a local OpenAI-compatible server, side by side with a
// bare HTTP loop in one run, and fails past the goals (for a human or a scheduled job; no unit test
// times anything):
//   npx tsx bench/eval-throughput.ts [--rounds 3] [--tolerance 0.05]
// Each round runs, interleaved (the order alternating between rounds), the harness and the bare loop
// at 20 ms latency and at zero latency; the medians of the rounds' ratios are checked against the
// goals of issue 22: the harness at most 1.15x the bare loop's wall time at 20 ms x 64, and at
// least 0.8x its questions/s at zero latency. Exit 1 when a median misses its goal by more than
// --tolerance (in ratio units). Also prints wall time over the ideal N x latency / concurrency, the
// speed-up over one request at a time, and a cached rerun's wall time and requests sent.
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { EvalConfig } from "../harness/eval/defaults.ts";
import { runEval } from "../harness/eval/run.ts";
import { goldByPrompt } from "../test/helpers/gold.ts";
import { intentionqaDir } from "../test/helpers/paths.ts";
import { bareChatLoopSeconds } from "./lib/bare-http.ts";
import { type Gate, benchOptions, checkGates, median } from "./lib/gates.ts";
import { startServerProcess } from "./lib/server-process.ts";

const LATENCY_MS = 20;
const CONCURRENCY = 64;
const TOP_LOGPROBS = 20;
const SEQUENTIAL_SAMPLE = Number(process.env["SEQUENTIAL_SAMPLE"] ?? 250);
/** Issue 22's goals: wall time over the bare loop's at 20 ms (at most), questions/s over its at zero latency (at least). */
const GOAL_OVER_BARE_20MS = 1.15;
const GOAL_OF_BARE_ZERO = 0.8;

const options = benchOptions("eval-throughput", { rounds: 3 });

async function startServer(latencyMs: number) {
  return startServerProcess("oracle-server.ts", [String(latencyMs)]);
}

/**
 * The floor the server and the OS allow: a bare HTTP loop (no SDK, no parsing, no cache, no
 * report) sending the same bodies the harness sends, with the same concurrency.
 */
function bareHttpSeconds(url: string, prompts: readonly string[]): Promise<number> {
  return bareChatLoopSeconds(url, prompts.length, CONCURRENCY, (i) => ({
    model: "test-model",
    messages: [{ role: "user", content: prompts[i] }],
    max_tokens: 10,
    temperature: 0.1,
    top_p: 1,
    logprobs: true,
    top_logprobs: TOP_LOGPROBS,
  }));
}

const sink = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;

/** One eval run; its fresh cache is removed afterwards unless `keepCache` (the run a cached rerun reads). */
async function evaluate(url: string, overrides: Partial<EvalConfig>, keepCache = false) {
  const cacheDir = overrides.cacheDir ?? (await mkdtemp(join(tmpdir(), "bench-cache-")));
  const out = await mkdtemp(join(tmpdir(), "bench-out-"));
  const args: EvalConfig = {
    task: "all",
    model: ["openai:test-model"],
    baseUrl: url,
    mode: "zero-shot",
    topLogprobs: TOP_LOGPROBS,
    data: intentionqaDir(),
    cacheDir,
    cache: true,
    concurrency: CONCURRENCY,
    // Fixed, as the bare loop: this bench measures the request path; bench/adaptive-concurrency.ts the limiter.
    concurrencyMode: "fixed",
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
  if (overrides.cacheDir === undefined && !keepCache) await rm(cacheDir, { recursive: true, force: true });
  const report = outcome.reports[0]!.report;
  const n = report.results.reduce((a, r) => a + (r.splits.avg?.n ?? 0), 0);
  return { wallMs, n, sent: report.requests.sent, cacheDir };
}

interface Round {
  harness20: number;
  bare20: number;
  harness0: number;
  bare0: number;
  /** CPU seconds of this process at zero latency: less moved by other load on the machine than wall time. */
  harnessCpu0: number;
  bareCpu0: number;
}

/** Wall and CPU seconds of `work` in this process. */
async function timed(work: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await work();
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

const slow = await startServer(LATENCY_MS);
const fast = await startServer(0);
try {
  // Warm-up on both servers (JIT, connection pools), as a long real run would be; not measured.
  await evaluate(fast.url, { task: "understanding" });
  await evaluate(slow.url, { task: "understanding" });
  await bareHttpSeconds(fast.url, [...(await goldByPrompt(["understanding"])).keys()]);

  const kept = await evaluate(slow.url, {}, true);
  const n = kept.n;
  const prompts = [...(await goldByPrompt(["understanding", "utilization"])).keys()].slice(0, n);
  const rounds: Round[] = [];
  for (let r = 0; r < options.rounds; r++) {
    // Alternate who goes first, so a machine that gets busier or quieter over the run favours neither.
    const harnessFirst = r % 2 === 0;
    const pair = async (url: string) => {
      const harness = () => timed(() => evaluate(url, {}));
      const bare = () => timed(() => bareHttpSeconds(url, prompts));
      if (harnessFirst) {
        const h = await harness();
        return { h, b: await bare() };
      }
      const b = await bare();
      return { h: await harness(), b };
    };
    const at20 = await pair(slow.url);
    const at0 = await pair(fast.url);
    rounds.push({
      harness20: at20.h.wall,
      bare20: at20.b.wall,
      harness0: at0.h.wall,
      bare0: at0.b.wall,
      harnessCpu0: at0.h.cpu,
      bareCpu0: at0.b.cpu,
    });
  }
  const sequential = await evaluate(slow.url, { concurrency: 1, limit: Math.ceil(SEQUENTIAL_SAMPLE / 2) });
  const cached = await evaluate(slow.url, { cacheDir: kept.cacheDir });
  await rm(kept.cacheDir, { recursive: true, force: true });

  const ideal = (n * LATENCY_MS) / CONCURRENCY / 1000;
  const over20 = median(rounds.map((r) => r.harness20 / r.bare20));
  const of0 = median(rounds.map((r) => r.bare0 / r.harness0));
  const harness20 = median(rounds.map((r) => r.harness20));
  const perQuestionSequential = sequential.wallMs / sequential.n;

  const line = (label: string, value: string) => console.log(`${label.padEnd(62)} ${value}`);
  console.log(
    `harness eval throughput (${n} scored questions, both tasks; servers in their own processes; after a warm-up run; ${options.rounds} interleaved rounds, load average ${loadavg()[0]!.toFixed(1)})`,
  );
  for (const [i, r] of rounds.entries()) {
    line(
      `round ${i + 1}: 20 ms harness / bare; zero latency harness / bare`,
      `${r.harness20.toFixed(2)} s / ${r.bare20.toFixed(2)} s = ${(r.harness20 / r.bare20).toFixed(3)}x; ${(n / r.harness0).toFixed(0)} / ${(n / r.bare0).toFixed(0)} q/s = ${(r.bare0 / r.harness0).toFixed(3)}x`,
    );
  }
  line(`ideal N x latency / concurrency (${LATENCY_MS} ms, ${CONCURRENCY})`, `${ideal.toFixed(2)} s`);
  line(`harness wall / ideal (median)`, `${(harness20 / ideal).toFixed(3)}x`);
  line(`bare loop wall / ideal (median)`, `${(median(rounds.map((r) => r.bare20)) / ideal).toFixed(3)}x`);
  line(`one request at a time (${sequential.n} questions)`, `${perQuestionSequential.toFixed(2)} ms/question`);
  line(`speed-up over one-at-a-time`, `${(perQuestionSequential / ((harness20 * 1000) / n)).toFixed(1)}x`);
  line(`zero latency: harness questions/s (median)`, `${median(rounds.map((r) => n / r.harness0)).toFixed(0)}`);
  line(
    `zero latency: client CPU per question, harness / bare (median)`,
    `${median(rounds.map((r) => (r.harnessCpu0 * 1e6) / n)).toFixed(0)} / ${median(rounds.map((r) => (r.bareCpu0 * 1e6) / n)).toFixed(0)} us = ${median(rounds.map((r) => r.harnessCpu0 / r.bareCpu0)).toFixed(2)}x`,
  );
  line(`cached rerun: wall time`, `${(cached.wallMs / 1000).toFixed(2)} s`);
  line(`cached rerun: requests sent (goal: 0)`, `${cached.sent}`);
  const gates: Gate[] = [
    { label: `harness over the bare loop at ${LATENCY_MS} ms, wall time (median)`, value: over20, goal: GOAL_OVER_BARE_20MS, kind: "max" },
    { label: "harness over the bare loop at zero latency, questions/s (median)", value: of0, goal: GOAL_OF_BARE_ZERO, kind: "min" },
    { label: "cached rerun: requests sent", value: cached.sent, goal: 0, kind: "max", tolerance: 0 },
  ];
  process.exitCode = checkGates(gates, options.tolerance, line);
} finally {
  await slow.stop();
  await fast.stop();
}
