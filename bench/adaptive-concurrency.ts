// Adaptive concurrency against servers that cannot take everything at once, side by side with
// fixed levels in one run: `harness eval` throughput (questions/s) at each fixed level and with the
// default adaptive level under the same ceiling, its ratio to the best fixed level, and the
// retries and timeouts each had.
//   npx tsx bench/adaptive-concurrency.ts     TOLERANCE=0.9: exits 1 when adaptive is under 0.9x the best fixed;
//                                             REPEAT=2: each setting runs that many times, interleaved, best kept
// Servers (bench/lib/limited-server.ts, each in its own process): one request at a time; room for
// K requests and 429 past it; and a wide one (any number at once).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { EvalConfig } from "../harness/eval/defaults.ts";
import { runEval } from "../harness/eval/run.ts";
import { intentionqaDir } from "../test/helpers/paths.ts";
import { startServerProcess } from "./lib/server-process.ts";

const TOLERANCE = Number(process.env["TOLERANCE"] ?? 0.9);
const CEILING = 64;
const REPEAT = Number(process.env["REPEAT"] ?? 2);

interface Scenario {
  name: string;
  server: string[];
  /** Questions per task (both tasks are asked). */
  perTask?: number;
  fixed: number[];
}

const SCENARIOS: Scenario[] = [
  { name: "one at a time, 10 ms each", server: ["serial", "10"], perTask: 200, fixed: [1, 2, 4, 16, 64] },
  { name: "room for 8, 429 past it, 20 ms each", server: ["capacity", "20", "8"], perTask: 1000, fixed: [4, 8, 16, 64] },
  { name: "wide (any number at once), 20 ms each", server: ["wide", "20"], fixed: [16, 64] },
];

const sink = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;

async function evaluate(url: string, scenario: Scenario, concurrency: Pick<EvalConfig, "concurrency" | "concurrencyMode">) {
  const out = await mkdtemp(join(tmpdir(), "bench-out-"));
  const config: EvalConfig = {
    task: "all",
    model: ["openai:test-model"],
    baseUrl: url,
    mode: "zero-shot",
    topLogprobs: 20,
    data: intentionqaDir(),
    cache: false,
    ...concurrency,
    timeoutMs: 60_000,
    retries: 50,
    seed: 0,
    bootstrap: 100,
    out,
    progress: false,
    ...(scenario.perTask ? { limit: scenario.perTask } : {}),
  };
  const started = performance.now();
  const outcome = await runEval(config, { stdout: sink, stderr: sink });
  const seconds = (performance.now() - started) / 1000;
  await rm(out, { recursive: true, force: true });
  const report = outcome.reports[0]!.report;
  const n = report.results.reduce((a, r) => a + r.questions.selected, 0);
  return { perSecond: n / seconds, retries: report.requests.retries, failures: report.requests.failures, n };
}

let failed = false;
const line = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(26) : c.padStart(14))).join(""));
console.log(`harness eval, adaptive concurrency (ceiling ${CEILING}) against fixed levels; best of ${REPEAT} interleaved runs each`);
for (const scenario of SCENARIOS) {
  const server = await startServerProcess("limited-server.ts", scenario.server);
  try {
    // Warm-up (JIT, connections), not measured.
    await evaluate(server.url, { ...scenario, perTask: 20 }, { concurrency: 4, concurrencyMode: "fixed" });
    // Interleaved repeats, the best of each kept: a shared machine's noise hits every setting alike.
    const settings = [
      ...scenario.fixed.map((level) => ({ concurrency: level, concurrencyMode: "fixed" as const })),
      { concurrency: CEILING, concurrencyMode: "adaptive" as const },
    ];
    const bestRuns: Array<Awaited<ReturnType<typeof evaluate>>> = [];
    for (let r = 0; r < REPEAT; r++) {
      for (const [i, setting] of settings.entries()) {
        const run = await evaluate(server.url, scenario, setting);
        if (bestRuns[i] === undefined || run.perSecond > bestRuns[i]!.perSecond) bestRuns[i] = run;
      }
    }
    const fixed = scenario.fixed.map((level, i) => ({ level, ...bestRuns[i]! }));
    const adaptive = bestRuns[settings.length - 1]!;
    const best = fixed.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const ratio = adaptive.perSecond / best.perSecond;
    console.log(`\n${scenario.name} (${adaptive.n} questions)`);
    line(["", ...fixed.map((f) => `fixed:${f.level}`), "adaptive"]);
    line(["questions/s", ...fixed.map((f) => f.perSecond.toFixed(1)), adaptive.perSecond.toFixed(1)]);
    line(["retries", ...fixed.map((f) => String(f.retries)), String(adaptive.retries)]);
    line(["failed questions", ...fixed.map((f) => String(f.failures)), String(adaptive.failures)]);
    const verdict = ratio >= TOLERANCE ? "ok" : `UNDER ${TOLERANCE}x`;
    console.log(`adaptive over the best fixed level (fixed:${best.level}): ${ratio.toFixed(3)}x  ${verdict}`);
    if (ratio < TOLERANCE || adaptive.failures > 0) failed = true;
  } finally {
    await server.stop();
  }
}
if (failed) {
  console.error(`\nadaptive concurrency fell under ${TOLERANCE}x the best fixed level (or lost questions) in a scenario above`);
  process.exitCode = 1;
}
