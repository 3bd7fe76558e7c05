// One `harness distill` run in a process of its own, for the scale bench: its peak RSS is the run's.
//   node --import tsx bench/lib/distill-run.ts '<DistillConfig overrides as JSON>'
// Prints one JSON line: wall and CPU time of runDistill, peak RSS (MB), requests sent and cache hits.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { DISTILL_DEFAULTS, type DistillConfig } from "../../harness/distill/defaults.ts";
import { runDistill } from "../../harness/distill/run.ts";

const overrides = JSON.parse(process.argv[2] ?? "{}") as Partial<DistillConfig> & Pick<DistillConfig, "records" | "out" | "model">;
const sink = new Writable({ write: (_c, _e, cb) => cb() }) as unknown as NodeJS.WriteStream;
// Fixed concurrency, as the bare loop it is compared with (bench/adaptive-concurrency.ts measures the limiter).
const config: DistillConfig = { ...DISTILL_DEFAULTS, concurrencyMode: "fixed", textOnly: true, progress: false, ...overrides };
const started = performance.now();
const cpuBefore = process.cpuUsage();
await runDistill(config, { stdout: sink, stderr: sink });
const wallMs = performance.now() - started;
const cpu = process.cpuUsage(cpuBefore);
const stats = JSON.parse(await readFile(join(config.out, "stats.json"), "utf8")) as { requests: { sent: number; cacheHits: number } };
process.stdout.write(
  `${JSON.stringify({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, peakRssMB: process.resourceUsage().maxRSS / 1024, ...stats.requests })}\n`,
);
