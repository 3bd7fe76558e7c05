/**
 * The whole `harness build-sft` as a function: plan, check the outputs, read the benchmark pairs
 * and critic scores, stream the KB once through every requested recipe writing one alpaca JSONL
 * each, write their stats, register them in dataset_info.json, print the summary. Nothing is
 * registered unless everything succeeded; a failure leaves no temp files. `harness ablate` runs
 * the same build without the CLI's edges (buildSftDatasets).
 */
import { join } from "node:path";
import { readKbMeta } from "../kb/read.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { checkWritableDir } from "../util/paths.ts";
import { withRunLock } from "../util/run-lock.ts";
import { buildEachRecipe, creditKbMeta, writeStats, type BuiltDataset, type KbTally, type PassInputs } from "./build.ts";
import { alpacaEntry, mergeDatasetInfo, readDatasetInfo, writeDatasetInfo, type AlpacaDatasetEntry } from "./dataset-info.ts";
import { describeOverlap } from "./decontaminate.ts";
import type { BuildSftConfig } from "./defaults.ts";
import { loadBenchmarkPairs, loadCriticScores } from "./inputs.ts";
import { planBuild, type BuildPlan } from "./plan.ts";
import { renderStats } from "./stats.ts";

/** What a build reports to and hears from around it, when it runs inside another stage. */
export interface BuildSftHooks {
  /** Progress and warnings, a line at a time. */
  log: (line: string) => void;
  /** Aborting stops the pass; the temp files are removed and nothing is registered. */
  signal?: AbortSignal;
  /** Where INTENTIONQA_DIR and HARNESS_CACHE_DIR are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface BuildSftResult {
  outDir: string;
  datasetInfoFile: string;
  datasets: BuiltDataset[];
}

/** `harness build-sft`: see the module comment. Owns Ctrl-C and prints the summary to io.stdout. */
export async function runBuildSft(config: BuildSftConfig, io: Io = processIo()): Promise<BuildSftResult> {
  await checkWritableDir("--out", config.out);
  // Ctrl-C stops the pass cleanly: temp files removed, dataset_info.json untouched.
  const interrupt = abortOnStopSignal({ reason: "abort" });
  try {
    const result = await buildSftDatasets(config, { log: stderrLog(io), signal: interrupt.signal });
    printSummary(config, result, io);
    return result;
  } finally {
    interrupt.release();
  }
}

/** The build without the CLI's edges: no Ctrl-C of its own, no summary on stdout (what `harness ablate` runs). */
export async function buildSftDatasets(config: BuildSftConfig, hooks: BuildSftHooks = { log: () => {} }): Promise<BuildSftResult> {
  const started = Date.now();
  const plan = await planBuild(config);
  // The dataset folder has one writer: a second build-sft into the same --out stops here.
  return withRunLock("--out", plan.outDir, "build-sft", () => build(config, plan, hooks, started));
}

async function build(config: BuildSftConfig, plan: BuildPlan, hooks: BuildSftHooks, started: number): Promise<BuildSftResult> {
  const inputs = await readInputs(config, plan, hooks);
  const { sinks, tally } = await buildEachRecipe(config, plan, inputs, hooks.signal);
  const madeWith = creditKbMeta(tally.madeWith, await readKbMeta(config.kb));
  const seconds = (Date.now() - started) / 1000;
  const datasets = await writeStats(sinks, { config, plan, tally, madeWith, ...inputs, seconds });
  logSummary(plan, tally, datasets, hooks.log);
  await registerDatasets(plan.outDir, plan.keys);
  return { outDir: plan.outDir, datasetInfoFile: join(plan.outDir, "dataset_info.json"), datasets };
}

/** The benchmark's pairs, then the critic scores: both before the KB is read. */
async function readInputs(config: BuildSftConfig, plan: BuildPlan, hooks: BuildSftHooks): Promise<PassInputs> {
  const benchmark = await loadBenchmarkPairs(config, hooks.log, hooks.env);
  const critic = await loadCriticScores(config, plan.usesCritic, hooks.log);
  return { benchmark, critic };
}

function logSummary(plan: BuildPlan, tally: KbTally, datasets: readonly BuiltDataset[], log: (line: string) => void): void {
  if (plan.recipes.some((recipe) => recipe.needs.kb === "unimodal_kb") && tally.textOnly.no > 0)
    log(
      `warning: the unimodal recipe expects a text-only KB, but ${tally.textOnly.no} rows say they were generated with images (text_only: false)`,
    );
  if (tally.contaminatedRows > 0)
    log(`decontamination: dropped ${tally.contaminatedRows} rows whose product pair is an IntentionQA question`);
  for (const dataset of datasets) {
    if (dataset.stats.benchmarkOverlap)
      log(
        `${dataset.key}: scored IntentionQA questions whose product pair is in the training data: ${describeOverlap(dataset.stats.benchmarkOverlap)}`,
      );
  }
}

/** Registration last: LLaMA-Factory only sees datasets whose files are complete. */
async function registerDatasets(outDir: string, keys: readonly string[]): Promise<void> {
  const entries: Record<string, AlpacaDatasetEntry> = {};
  for (const key of keys) entries[key] = alpacaEntry(`${key}.jsonl`);
  // Re-read: another build may have registered its datasets meanwhile.
  await writeDatasetInfo(outDir, mergeDatasetInfo(await readDatasetInfo(outDir), entries));
}

/** Each dataset's stats, as JSON or as tables, and where they were registered. */
function printSummary(config: BuildSftConfig, result: BuildSftResult, io: Io): void {
  const stats = result.datasets.map((d) => d.stats);
  if (config.json) io.stdout.write(`${JSON.stringify(stats, null, 2)}\n`);
  else io.stdout.write(`${stats.map((s) => renderStats(s)).join("\n\n")}\nregistered in ${result.datasetInfoFile}\n`);
}
