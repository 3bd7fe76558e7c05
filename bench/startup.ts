// Measures what every `harness` invocation pays before it does any work: the CPU time (user + sys)
// of `harness --version` and of every command's `--help` beside a bare `node -e 0`, interleaved, in
// one run. A command's --help reads only its defaults module; a ratio far above the others means a
// command file imports its run module at the top again.
//   npm run build && npx tsx bench/startup.ts        (RUNS=30 for a steadier median)
// Runs the compiled CLI a user gets (bin/harness.js -> dist/). Prints the median CPU and wall time
// of each command and its ratio to bare node. Goal: harness --version at most 5x node -e 0.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../harness/util/version.ts";

const RUNS = Number(process.env["RUNS"] ?? 15);
const GOAL = 5;
const BIN = join(PROJECT_ROOT, "bin", "harness.js");

if (!existsSync(join(PROJECT_ROOT, "dist", "cli.js"))) {
  process.stderr.write("bench/startup: dist/cli.js is missing: run `npm run build` first\n");
  process.exit(2);
}
if (!existsSync("/proc/self/stat")) {
  process.stderr.write("bench/startup: needs Linux (/proc) to read the children's CPU time\n");
  process.exit(2);
}

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** CPU seconds of this process's waited-for children so far (cutime + cstime in /proc/self/stat). */
function childrenCpuSeconds(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

interface Case {
  label: string;
  args: string[];
}

const CASES: Case[] = [
  { label: "node -e 0", args: ["-e", "0"] },
  { label: "harness --version", args: [BIN, "--version"] },
  ...[
    "data",
    "model",
    "distill",
    "critic",
    "build-sft",
    "finetune",
    "serve",
    "eval",
    "ablate",
    "report",
    "diff",
    "annotate",
    "analyze",
    "cache",
  ].map((command) => ({ label: `harness ${command} --help`, args: [BIN, command, "--help"] })),
];

function runOnce(c: Case): { cpu: number; wall: number } {
  const cpuBefore = childrenCpuSeconds();
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, c.args, { stdio: ["ignore", "pipe", "pipe"] });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) throw new Error(`${c.label} exited ${result.status}: ${result.stderr.toString().trim()}`);
  return { cpu: childrenCpuSeconds() - cpuBefore, wall };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

for (const c of CASES) runOnce(c); // warm the file cache
const samples = new Map(CASES.map((c) => [c.label, { cpu: [] as number[], wall: [] as number[] }]));
for (let i = 0; i < RUNS; i++) {
  for (const c of CASES) {
    const { cpu, wall } = runOnce(c);
    samples.get(c.label)!.cpu.push(cpu);
    samples.get(c.label)!.wall.push(wall);
  }
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms`.padStart(8);
const base = median(samples.get(CASES[0]!.label)!.cpu);
console.log(
  `start-up, median of ${RUNS} interleaved runs (node ${process.version}, ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}):`,
);
console.log(`${"".padEnd(28)}${"CPU".padStart(8)}${"wall".padStart(10)}   CPU vs node -e 0`);
for (const c of CASES) {
  const s = samples.get(c.label)!;
  const ratio = median(s.cpu) / base;
  const goal = c.label === "harness --version" ? `   (goal <= ${GOAL}x: ${ratio <= GOAL ? "met" : "NOT met"})` : "";
  console.log(`${c.label.padEnd(28)}${ms(median(s.cpu))}${ms(median(s.wall)).padStart(10)}   ${ratio.toFixed(1)}x${goal}`);
}
