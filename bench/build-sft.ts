// Measures `harness build-sft` on a KB the size of the paper's (1,264,441 rows, released CSV layout)
// and on a tenth of it, each run as a child process, side by side in one run.
//   npx tsx bench/build-sft.ts            (ROWS=200000 npx tsx bench/build-sft.ts for a quicker look)
// Prints: input MB/s, the child's peak RSS for each input, and the ratio full/tenth of peak RSS;
// then the full input again with --parse-worker (csv-parse on a worker thread), for comparison.
// Goals: >= 50 MB/s, peak RSS <= 300 MB, full-input peak RSS within 1.2x of the tenth's.
import { spawn } from "node:child_process";
import { existsSync, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { once } from "node:events";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { KB_COLUMNS } from "../harness/kb/schema.ts";
import { BUILD_SFT_DEFAULTS } from "../harness/sft/defaults.ts";
import { datasetKeys } from "../harness/sft/plan.ts";
import { parseRecipes } from "../harness/sft/recipes.ts";
import { HARNESS_BIN, intentionqaDir } from "../test/helpers/paths.ts";

const FULL_ROWS = Number(process.env["ROWS"] ?? 1_264_441);
const RECIPE = process.env["RECIPE"] ?? BUILD_SFT_DEFAULTS.recipes.join(",");
/** The first recipe's dataset key, as build-sft names it. */
const DATASET_KEY = datasetKeys(parseRecipes(RECIPE), undefined)[0]!;

const RELATIONS = [
  "can",
  "effect",
  "usedFor",
  "createdBy",
  "isA",
  "capableOf",
  "propertyOf",
  "open",
  "cause",
  "mannerOf",
  "definedAs",
  "partOf",
  "symbolOf",
  "similarTo",
  "deriveFrom",
  "madeOf",
  "distinctFrom",
  "relatedTo",
  "other",
  "causeDesire",
];
const WORDS = (
  "the this product is a durable lightweight stylish comfortable waterproof adjustable premium compact portable wireless " +
  "design features quality material stainless steel cotton leather fabric battery charger cable screen case cover strap " +
  "for with and or to of in on by from that which offers provides ensures perfect ideal everyday outdoor travel office " +
  "gift men women kids sports running hiking camera phone laptop audio headphones speaker watch jewelry ring necklace"
).split(" ");

/** A deterministic stream of pseudo-random numbers (xorshift32), so every run writes the same bytes. */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

/** Text like the KB's: words with commas, "quoted" phrases, and now and then a newline. */
function prose(random: () => number, minChars: number, maxChars: number): string {
  const target = minChars + Math.floor(random() * (maxChars - minChars));
  let text = "";
  while (text.length < target) {
    const word = WORDS[Math.floor(random() * WORDS.length)]!;
    const roll = random();
    text += roll < 0.04 ? `"${word}" ` : roll < 0.1 ? `${word}, ` : roll < 0.12 ? `${word}.\n` : `${word} `;
  }
  return text.trimEnd();
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Writes `rows` KB rows in the released column order. As in the real KB, each co-buy pair comes
 * with several relations in consecutive rows (about 10: 1.26M intentions from 126K records);
 * about 1 row in 50 repeats the previous intention word for word.
 */
async function generateKb(file: string, rows: number): Promise<number> {
  const random = makeRandom(rows);
  const out = createWriteStream(file, { highWaterMark: 1 << 20 });
  let buffer = `${KB_COLUMNS.join(",")}\n`;
  let pair: string[] = [];
  let rowsLeftForPair = 0;
  let previousIntention = "";
  for (let i = 0; i < rows; i++) {
    if (rowsLeftForPair === 0) {
      const id = () => `B0${(1_000_000 + Math.floor(random() * 8_000_000)).toString(36).toUpperCase()}`;
      pair = [id(), id(), prose(random, 30, 140), prose(random, 30, 140)];
      pair.push(prose(random, 300, 600), prose(random, 300, 600));
      rowsLeftForPair = 5 + Math.floor(random() * 11);
    }
    rowsLeftForPair -= 1;
    const words = 40 + Math.floor(random() * 80);
    const intention =
      previousIntention && random() < 0.02
        ? previousIntention
        : `the potential co-buy intention could be ${prose(random, words * 5, words * 6)}`;
    previousIntention = intention;
    const fields = [
      pair[0]!,
      pair[1]!,
      pair[2]!,
      pair[3]!,
      RELATIONS[Math.floor(random() * RELATIONS.length)]!,
      pair[4]!,
      pair[5]!,
      intention,
      `PersonX bought Item A and Item B because ${prose(random, 20, 60)}`,
      random() < 0.55 ? `Yes, ${prose(random, 60, 200)}` : `No, ${prose(random, 60, 200)}`,
    ];
    buffer += `${fields.map(csvField).join(",")}\n`;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, "drain");
      buffer = "";
    }
  }
  out.end(buffer);
  await once(out, "close");
  return (await stat(file)).size;
}

interface Run {
  seconds: number;
  /** User + system CPU seconds of the child (GNU time only). */
  cpuSeconds?: number;
  peakRssMb: number;
  how: string;
  /** The machine's 1-minute load average when the run started: other work competes for the cores. */
  loadAtStart: number;
}

/** Runs build-sft as a child and measures its wall time and peak RSS (VmHWM, or GNU time's max RSS). */
async function runBuildSft(kb: string, out: string, extraArgs: readonly string[] = []): Promise<Run> {
  const args = [HARNESS_BIN, "build-sft", "--kb", kb, "--recipe", RECIPE, "--out", out, "--data", intentionqaDir(), ...extraArgs];
  const useGnuTime = existsSync("/usr/bin/time");
  const timeFile = join(out, "..", `time-${Date.now()}.txt`);
  const loadAtStart = loadavg()[0]!;
  const started = performance.now();
  const child = useGnuTime
    ? spawn("/usr/bin/time", ["-v", "-o", timeFile, process.execPath, ...args], { stdio: ["ignore", "ignore", "inherit"] })
    : spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] });
  let polledKb = 0;
  const poll = useGnuTime
    ? null
    : setInterval(() => {
        readFile(`/proc/${child.pid}/status`, "utf8")
          .then((status) => {
            const match = /VmHWM:\s+(\d+)/.exec(status);
            if (match) polledKb = Math.max(polledKb, Number(match[1]));
          })
          .catch(() => {});
      }, 50);
  const [code] = (await once(child, "exit")) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  if (poll) clearInterval(poll);
  if (code !== 0) throw new Error(`build-sft exited with ${code}`);
  if (useGnuTime) {
    const report = await readFile(timeFile, "utf8");
    const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
    const cpu = (label: string) => Number(new RegExp(`${label} time \\(seconds\\): ([\\d.]+)`).exec(report)?.[1] ?? 0);
    return {
      seconds,
      cpuSeconds: cpu("User") + cpu("System"),
      peakRssMb: Number(match?.[1] ?? 0) / 1024,
      how: "GNU time max RSS",
      loadAtStart,
    };
  }
  return { seconds, peakRssMb: polledKb / 1024, how: "polled /proc VmHWM", loadAtStart };
}

const dir = await mkdtemp(join(tmpdir(), "bench-build-sft-"));
try {
  const tenthRows = Math.round(FULL_ROWS / 10);
  process.stderr.write(`generating ${FULL_ROWS} and ${tenthRows} KB rows in ${dir} ...\n`);
  const fullBytes = await generateKb(join(dir, "full.csv"), FULL_ROWS);
  const tenthBytes = await generateKb(join(dir, "tenth.csv"), tenthRows);

  const tenth = await runBuildSft(join(dir, "tenth.csv"), join(dir, "out-tenth"));
  await rm(join(dir, "out-tenth"), { recursive: true, force: true });
  const full = await runBuildSft(join(dir, "full.csv"), join(dir, "out-full"));
  const kept = (JSON.parse(await readFile(join(dir, "out-full", `${DATASET_KEY}.stats.json`), "utf8")) as { rows: { kept: number } }).rows
    .kept;
  await rm(join(dir, "out-full"), { recursive: true, force: true });
  // The opt-in worker-thread parse, on the same input: does it pay on this machine?
  const fullWorker = await runBuildSft(join(dir, "full.csv"), join(dir, "out-worker"), ["--parse-worker"]);

  const mb = (bytes: number) => bytes / 1e6;
  const line = (label: string, value: string) => console.log(`${label.padEnd(40)} ${value}`);
  const describe = (run: Run, bytes: number) =>
    `${run.seconds.toFixed(1)} s, ${(mb(bytes) / run.seconds).toFixed(1)} MB/s, peak RSS ${run.peakRssMb.toFixed(0)} MB` +
    `${run.cpuSeconds ? `, ${run.cpuSeconds.toFixed(1)} CPU s` : ""} (load ${run.loadAtStart.toFixed(1)} on ${cpus().length} cores at start)`;
  console.log(`harness build-sft --recipe ${RECIPE}, benchmark pairs counted, not dropped (child process; peak RSS by ${full.how})`);
  line(`full:  ${FULL_ROWS} rows, ${mb(fullBytes).toFixed(0)} MB`, `${describe(full, fullBytes)}, ${kept} records kept`);
  line(`tenth: ${tenthRows} rows, ${mb(tenthBytes).toFixed(0)} MB`, describe(tenth, tenthBytes));
  line("peak RSS full / tenth", `${(full.peakRssMb / tenth.peakRssMb).toFixed(2)}x`);
  line("full with --parse-worker", describe(fullWorker, fullBytes));
  line("goals", ">= 50 MB/s on the full input, peak RSS <= 300 MB, full/tenth <= 1.2x");
} finally {
  await rm(dir, { recursive: true, force: true });
}
