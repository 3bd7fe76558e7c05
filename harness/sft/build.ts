/**
 * The whole `harness build-sft` as a function: stream the KB once through every requested recipe,
 * write one alpaca JSONL + stats per recipe, then register them in dataset_info.json. Also used by
 * `harness ablate`. Nothing is registered unless everything succeeded; a failure leaves no temp files.
 */
import { mkdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { TASKS } from "../benchmark/tasks.ts";
import { defaultCacheRoot, resolveDataDir } from "../benchmark/store.ts";
import {
  assertKbReadable,
  detectKbFormat,
  readKb,
  readKbMeta,
  type BadRow,
  type KbFormat,
  type KbMeta,
  type KbRecord,
} from "../kb/read.ts";
import { filterAccepted, type KbRow } from "../kb/schema.ts";
import { EXIT, HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { refuseOutputOverInput } from "../util/paths.ts";
import { withRunLock } from "../util/run-lock.ts";
import { StagedLineWriter } from "../util/staged-output.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { loadCriticSideFile, type CriticLookup } from "./critic.ts";
import {
  DATASET_INFO_FILE,
  alpacaEntry,
  mergeDatasetInfo,
  readDatasetInfo,
  validateDatasetKey,
  writeDatasetInfo,
  type AlpacaDatasetEntry,
} from "./dataset-info.ts";
import { type ContaminationIndex, describeOverlap, loadContaminationIndex, OverlapCounter, type OverlapTask } from "./decontaminate.ts";
import { BUILD_SFT_DEFAULTS } from "./defaults.ts";
import { FingerprintTable, fingerprint } from "./fingerprint.ts";
import { parseRecipes, type Recipe, type RecipeContext } from "./recipes.ts";
import { emptyDrops, rate, SFT_STATS_SCHEMA, type DropReason, type RelationStats, type SftStats } from "./stats.ts";
import { alpacaRecord } from "./template.ts";

export { BUILD_SFT_DEFAULTS };

const MAX_BAD_ROW_EXAMPLES = 20;

/**
 * Everything one build needs, in the stage's own units. The CLI maps its flags onto it
 * (harness/commands/build-sft.ts); `ablate` builds it from BUILD_SFT_DEFAULTS.
 */
export interface BuildSftConfig {
  /** The knowledge base: MIND CSV layout or distill's JSONL. */
  kb: string;
  /** Overrides the format the KB's extension says. */
  format?: KbFormat;
  /** Recipe names (RECIPE_NAMES), in order; checked before anything is read. */
  recipes: readonly string[];
  /** Output folder: the JSONL files, stats and dataset_info.json (LLaMA-Factory's dataset_dir). */
  out: string;
  /** Dataset key; default intentionqa_<recipe>. With several recipes it is a prefix: <name>_<recipe>. */
  name?: string;
  /** critic recipe: keep rows whose score is >= this, in 0..1. */
  criticThreshold: number;
  /** critic recipe: the KB column / JSONL key (or side-file column) holding the score. */
  criticColumn: string;
  /** critic recipe: a side file of scores (CSV/JSONL) keyed by id_a,id_b,Relation,Intention or by row. */
  criticFile?: string;
  /**
   * Drop rows whose product pair is an IntentionQA question. The paper trained on all MIND
   * intentions (off by default); either way the stats count the scored questions whose pair was kept.
   */
  decontaminate: boolean;
  /** IntentionQA folder for decontamination and the overlap counts (else INTENTIONQA_DIR, then the download cache). */
  data?: string;
  /** Download IntentionQA into the cache when it is not found (ablate, which evaluates anyway). */
  download: boolean;
  /** Cache root holding downloaded IntentionQA (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness). */
  cacheDir?: string;
  /** Count and skip malformed rows instead of failing on the first. */
  skipBadRows: boolean;
  /** Parse a CSV KB on a worker thread (see ReadKbOptions.parseInWorker). */
  parseInWorker: boolean;
}

/** What a build reports to and hears from around it. */
export interface BuildSftIo {
  /** Progress and warnings, a line at a time. */
  log: (line: string) => void;
  /** Aborting stops the pass; the temp files are removed and nothing is registered. */
  signal?: AbortSignal;
  /** Where INTENTIONQA_DIR and HARNESS_CACHE_DIR are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface BuiltDataset {
  key: string;
  file: string;
  statsFile: string;
  stats: SftStats;
}

export interface BuildSftResult {
  outDir: string;
  datasetInfoFile: string;
  datasets: BuiltDataset[];
}

export function datasetKeys(recipes: readonly Recipe[], name: string | undefined): string[] {
  const keys = recipes.map((recipe) =>
    name === undefined ? `intentionqa_${recipe.name}` : recipes.length === 1 ? name : `${name}_${recipe.name}`,
  );
  for (const key of keys) validateDatasetKey(key);
  return keys;
}

/** Every build setting the recipes and keys do not cover, checked before any data is read; errors name the flag. */
export function validateBuildSftConfig(config: BuildSftConfig): void {
  const threshold = config.criticThreshold;
  if (!(threshold >= 0 && threshold <= 1))
    throw new HarnessError(`--critic-threshold must be in 0..1, got ${threshold}`, { exitCode: EXIT.usage });
}

/** The whole `harness build-sft`: see the module comment. */
export async function runBuildSft(config: BuildSftConfig, io: BuildSftIo = { log: () => {} }): Promise<BuildSftResult> {
  const started = Date.now();
  const plan = await planBuild(config);
  // The dataset folder has one writer: a second build-sft into the same --out stops here.
  return withRunLock("--out", plan.outDir, "build-sft", () => build(config, plan, io, started));
}

async function build(config: BuildSftConfig, plan: BuildPlan, io: BuildSftIo, started: number): Promise<BuildSftResult> {
  const benchmark = await loadBenchmarkPairs(config, io);
  const critic = await loadCriticScores(config, plan, io.log);
  const sinks = await openSinks(plan, benchmark.index);
  const tally = await commitOrAbort(plan.outDir, sinks, () => streamKb(config, plan, { sinks, benchmark, critic }, io.signal));
  const madeWith = creditKbMeta(tally.madeWith, await readKbMeta(config.kb));
  const seconds = (Date.now() - started) / 1000;
  const datasets = await writeStats(sinks, { config, plan, tally, madeWith, benchmark, critic, seconds });
  logSummary(plan, tally, datasets, io.log);
  await registerDatasets(plan.outDir, plan.keys);
  return { outDir: plan.outDir, datasetInfoFile: join(plan.outDir, "dataset_info.json"), datasets };
}

/** What the settings resolve to before the pass: every usage error and a broken registry are raised here. */
interface BuildPlan {
  recipes: Recipe[];
  keys: string[];
  format: KbFormat;
  outDir: string;
  kbBytes: number;
  usesCritic: boolean;
}

async function planBuild(config: BuildSftConfig): Promise<BuildPlan> {
  const recipes = parseRecipes(config.recipes.join(","));
  const format = detectKbFormat(config.kb, config.format);
  const outDir = resolve(config.out);
  const keys = datasetKeys(recipes, config.name);
  validateBuildSftConfig(config);
  await assertKbReadable(config.kb);
  await refuseOutputOverInput(
    { label: "--out", path: config.out, writes: [...keys.flatMap((key) => [`${key}.jsonl`, `${key}.stats.json`]), DATASET_INFO_FILE] },
    [{ label: "--kb", path: config.kb }, config.criticFile ? { label: "--critic-file", path: config.criticFile } : undefined],
  );
  const kbBytes = (await stat(config.kb)).size;
  // Fail on a broken registry before the long pass, not after it.
  await readDatasetInfo(outDir);
  return { recipes, keys, format, outDir, kbBytes, usesCritic: recipes.some((recipe) => recipe.needs.criticScores) };
}

/** The benchmark's pairs, or why they could not be had. */
interface BenchmarkPairs {
  index: ContaminationIndex | null;
  dataDir?: string;
  unavailable?: string;
}

/**
 * The benchmark's pairs: to drop them (--decontaminate) and, always, to count the scored
 * questions whose pair is trained on. Without the data only the count is given up, loudly.
 */
async function loadBenchmarkPairs(config: BuildSftConfig, io: BuildSftIo): Promise<BenchmarkPairs> {
  let dataDir: string;
  try {
    const location = await resolveDataDir({
      ...(config.data ? { dataFlag: config.data } : {}),
      env: io.env ?? process.env,
      cacheRoot: config.cacheDir ?? defaultCacheRoot(io.env),
      tasks: TASKS,
      download: config.download,
      log: io.log,
    });
    dataDir = location.dir;
  } catch (error) {
    if (!(error instanceof HarnessError)) throw error;
    if (config.decontaminate)
      throw new HarnessError(
        `--decontaminate needs the IntentionQA questions: ${error.message} Or leave out --decontaminate (the paper's setting).`,
      );
    const unavailable = `IntentionQA not found, so the benchmark questions in the training data were not counted: ${error.message}`;
    io.log(`warning: ${unavailable}`);
    return { index: null, unavailable };
  }
  const index = await loadContaminationIndex(dataDir);
  io.log(
    `${config.decontaminate ? "decontaminating against" : "counting (not dropping) the benchmark pairs of"} IntentionQA in ${dataDir} ` +
      `(${index.size.idPairs} id pairs, ${index.size.namePairs} name pairs)`,
  );
  return { index, dataDir };
}

interface CriticScores {
  /** The row's score, looked up once per row however many recipes ask for it. */
  score: CriticLookup;
  /** Where the scores come from, for the stats. */
  source: string;
}

async function loadCriticScores(config: BuildSftConfig, plan: BuildPlan, log: (line: string) => void): Promise<CriticScores> {
  if (!(plan.usesCritic && config.criticFile))
    return { score: onePerRow((record) => record.critic_score), source: `KB column ${config.criticColumn}` };
  const side = await loadCriticSideFile(config.criticFile, config.criticColumn);
  const source = `${config.criticFile} (${side.entries} scores keyed by ${side.keyedBy})`;
  log(`critic scores: ${source}`);
  return { score: onePerRow(side.lookup), source };
}

/** `lookup`, remembering the last row's answer: the recipes of one row ask in turn. */
function onePerRow(lookup: CriticLookup): CriticLookup {
  let scoredIndex = -1;
  let score: number | undefined;
  return (record, rowIndex) => {
    if (rowIndex !== scoredIndex) {
      scoredIndex = rowIndex;
      score = lookup(record, rowIndex);
    }
    return score;
  };
}

/** One recipe's output while the KB streams through: its staged file, dedup table and counts. */
class RecipeSink {
  readonly seen = new FingerprintTable();
  readonly drops = emptyDrops();
  readonly keptByRelation = new Map<string, number>();
  kept = 0;
  /** The writer's buffer is full: flush it before the next row. */
  flushDue = false;

  constructor(
    readonly recipe: Recipe,
    readonly key: string,
    readonly writer: StagedLineWriter,
    readonly overlap: OverlapCounter | null,
  ) {}

  keep(line: string, relation: string): void {
    this.kept += 1;
    this.keptByRelation.set(relation, (this.keptByRelation.get(relation) ?? 0) + 1);
    if (this.writer.push(line)) this.flushDue = true;
  }

  async flushIfDue(): Promise<void> {
    if (!this.flushDue) return;
    this.flushDue = false;
    await this.writer.flush();
  }
}

async function openSinks(plan: BuildPlan, index: ContaminationIndex | null): Promise<RecipeSink[]> {
  try {
    await mkdir(plan.outDir, { recursive: true });
  } catch (error) {
    throw new HarnessError(`cannot create --out ${plan.outDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return plan.recipes.map((recipe, i) => {
    const key = plan.keys[i]!;
    return new RecipeSink(recipe, key, new StagedLineWriter(join(plan.outDir, `${key}.jsonl`)), index ? new OverlapCounter(index) : null);
  });
}

/** How the KB's rows were made: rows per prompt set and per unit ("unknown" where a row does not say). */
type KbMadeWith = NonNullable<SftStats["kbMadeWith"]>;

/** What the pass counts over the whole KB, whatever each recipe keeps. */
class KbTally {
  readonly relations = new Map<string, { read: number; filterAccepted: number }>();
  readonly textOnly = { yes: 0, no: 0, unknown: 0 };
  readonly madeWith: KbMadeWith = { promptSets: {}, units: {} };
  readonly badRowExamples: string[] = [];
  badRows = 0;
  validRows = 0;
  /** Rows with a critic score (counted only when a recipe needs them). */
  scoredRows = 0;
  /** Rows --decontaminate dropped for at least one recipe. */
  contaminatedRows = 0;

  readonly onBadRow = (bad: BadRow): void => {
    this.badRows += 1;
    if (this.badRowExamples.length < MAX_BAD_ROW_EXAMPLES) this.badRowExamples.push(`${bad.file}:${bad.line}: ${bad.reason}`);
  };

  /** Counts one valid row and returns its row index: bad rows the reader skipped take one too (--critic-file keyed by row). */
  count(record: KbRecord): number {
    const rowIndex = this.validRows + this.badRows;
    this.validRows += 1;
    const row = record.row;
    const relation = this.relations.get(row.Relation) ?? { read: 0, filterAccepted: 0 };
    if (relation.read === 0) this.relations.set(row.Relation, relation);
    relation.read += 1;
    if (filterAccepted(row.Agreement)) relation.filterAccepted += 1;
    if (record.text_only === true) this.textOnly.yes += 1;
    else if (record.text_only === false) this.textOnly.no += 1;
    else this.textOnly.unknown += 1;
    const promptSet = record.prompt_set ?? "unknown";
    const unit = record.unit ?? "unknown";
    this.madeWith.promptSets[promptSet] = (this.madeWith.promptSets[promptSet] ?? 0) + 1;
    this.madeWith.units[unit] = (this.madeWith.units[unit] ?? 0) + 1;
    return rowIndex;
  }
}

/** What every row of the pass is checked against. */
interface PassInputs {
  sinks: readonly RecipeSink[];
  benchmark: BenchmarkPairs;
  critic: CriticScores;
}

/** Reads the KB once, handing each row to every recipe's sink; fails on a KB that yields nothing usable. */
async function streamKb(config: BuildSftConfig, plan: BuildPlan, inputs: PassInputs, signal: AbortSignal | undefined): Promise<KbTally> {
  const tally = new KbTally();
  const rules: RowRules = {
    recipe: { criticThreshold: config.criticThreshold, criticScore: inputs.critic.score },
    benchmark: inputs.benchmark.index,
    decontaminate: config.decontaminate,
  };
  const needsColumn = plan.usesCritic && !config.criticFile;
  const rows = readKb(config.kb, {
    format: plan.format,
    criticColumn: config.criticColumn,
    readCriticScores: needsColumn,
    parseInWorker: config.parseInWorker,
    skipBadRows: config.skipBadRows,
    onBadRow: tally.onBadRow,
    onHeader: (columns) => {
      if (needsColumn && !columns.includes(config.criticColumn))
        throw new HarnessError(
          `${config.kb}:1: the critic recipe needs critic scores: the header has no column "${config.criticColumn}"; name the column with --critic-column or give --critic-file`,
        );
    },
  });
  for await (const record of rows) {
    if (signal?.aborted) throw new HarnessError("interrupted: nothing was registered", { exitCode: EXIT.interrupted });
    const rowIndex = tally.count(record);
    if (plan.usesCritic && rules.recipe.criticScore(record, rowIndex) !== undefined) tally.scoredRows += 1;
    if (routeRow(record, rowIndex, inputs.sinks, rules)) tally.contaminatedRows += 1;
    for (const sink of inputs.sinks) await sink.flushIfDue();
  }
  checkTally(config, plan, tally);
  return tally;
}

function checkTally(config: BuildSftConfig, plan: BuildPlan, tally: KbTally): void {
  if (plan.usesCritic && tally.validRows > 0 && tally.scoredRows === 0) {
    throw new HarnessError(
      `${config.kb}: no row has a critic score (${config.criticFile ? `none matched ${config.criticFile}` : `no "${config.criticColumn}" values`}); give scores with --critic-column or --critic-file`,
    );
  }
  if (tally.validRows === 0)
    throw new HarnessError(`${config.kb}: no KB rows${tally.badRows > 0 ? ` (all ${tally.badRows} rows were bad)` : ""}`);
}

/** Empty fields drop a row for every recipe, before any recipe judges it. */
function emptyFieldDrop(row: KbRow): DropReason | null {
  if (row.Intention.trim() === "") return "emptyIntention";
  if (row.Product_a.trim() === "" || row.Product_b.trim() === "") return "emptyProductName";
  return null;
}

/** What each row is judged by. */
interface RowRules {
  recipe: RecipeContext;
  /** The benchmark's pairs: dropped with --decontaminate, counted always; null without the data. */
  benchmark: ContaminationIndex | null;
  decontaminate: boolean;
}

/**
 * Offers one row to every sink: each drop is counted where it happens, the alpaca line and the
 * benchmark look-ups are made at most once. True when --decontaminate dropped it as a benchmark pair.
 */
function routeRow(record: KbRecord, rowIndex: number, sinks: readonly RecipeSink[], rules: RowRules): boolean {
  const row = record.row;
  const rowDrop = emptyFieldDrop(row);
  let contaminated: boolean | null = null;
  let benchmarkQuestions: Array<{ task: OverlapTask; id: string }> | null = null;
  let line: string | null = null;
  let print: { hi: number; lo: number } | null = null;
  for (const sink of sinks) {
    const drop = rowDrop ?? sink.recipe.judge(record, rowIndex, rules.recipe);
    if (drop !== null) {
      sink.drops[drop] += 1;
      continue;
    }
    if (rules.decontaminate && rules.benchmark !== null) {
      contaminated ??= rules.benchmark.isContaminated(row.id_a, row.id_b, row.Product_a, row.Product_b);
      if (contaminated) {
        sink.drops.contaminated += 1;
        continue;
      }
    }
    if (line === null) {
      const alpaca = alpacaRecord(row.Product_a, row.Product_b, row.Intention);
      line = JSON.stringify(alpaca);
      print = fingerprint(`${alpaca.instruction}\u0000${alpaca.output}`);
    }
    if (!sink.seen.add(print!)) {
      sink.drops.duplicate += 1;
      continue;
    }
    if (sink.overlap)
      sink.overlap.add((benchmarkQuestions ??= rules.benchmark!.scoredQuestions(row.id_a, row.id_b, row.Product_a, row.Product_b)));
    sink.keep(line, row.Relation);
  }
  return contaminated === true;
}

/** Runs the pass, then renames every sink's file into place; on any failure removes them all. */
async function commitOrAbort<T>(outDir: string, sinks: readonly RecipeSink[], pass: () => Promise<T>): Promise<T> {
  try {
    const result = await pass();
    for (const sink of sinks) await sink.writer.commit();
    return result;
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.writer.abort()));
    const code = (error as NodeJS.ErrnoException).code;
    // A failed write (disk full, permissions) is the user's to fix, not a bug.
    if (!(error instanceof HarnessError) && typeof code === "string")
      throw new HarnessError(`writing the SFT data in ${outDir} failed: ${code}; nothing was registered`, { cause: error });
    throw error;
  }
}

/** A CSV KB carries no per-row extras: its meta file (mind_kb.meta.json) says how its rows were made. */
function creditKbMeta(madeWith: KbMadeWith, meta: KbMeta | null): KbMadeWith {
  return { promptSets: creditUnknown(madeWith.promptSets, meta?.promptSet), units: creditUnknown(madeWith.units, meta?.unit) };
}

/** Moves the "unknown" count to `known`, when the meta file knows it. */
function creditUnknown(counts: Record<string, number>, known: string | undefined): Record<string, number> {
  const unknown = counts["unknown"] ?? 0;
  if (!known || unknown === 0) return counts;
  const { unknown: _unknown, ...rest } = counts;
  return { ...rest, [known]: (rest[known] ?? 0) + unknown };
}

/** What every dataset's stats are made from. */
interface StatsInputs {
  config: BuildSftConfig;
  plan: BuildPlan;
  tally: KbTally;
  madeWith: KbMadeWith;
  benchmark: BenchmarkPairs;
  critic: CriticScores;
  seconds: number;
}

async function writeStats(sinks: readonly RecipeSink[], inputs: StatsInputs): Promise<BuiltDataset[]> {
  const harness = { version: harnessVersion(), commit: gitCommit() };
  const datasets: BuiltDataset[] = [];
  for (const sink of sinks) {
    const stats = datasetStats(sink, inputs, harness);
    const statsFile = join(inputs.plan.outDir, `${sink.key}.stats.json`);
    await writeFileAtomic(statsFile, `${JSON.stringify(stats, null, 2)}\n`);
    datasets.push({ key: sink.key, file: sink.writer.target, statsFile, stats });
  }
  return datasets;
}

/** One recipe's stats file: what was read, kept and dropped, per relation, and the benchmark overlap. */
function datasetStats(sink: RecipeSink, inputs: StatsInputs, harness: SftStats["harness"]): SftStats {
  const { config, plan, tally, benchmark } = inputs;
  const { perRelation, accepted } = relationStats(tally, sink);
  return {
    schema: SFT_STATS_SCHEMA,
    dataset: sink.key,
    recipe: sink.recipe.name,
    description: sink.recipe.description,
    ...(sink.recipe.expects ? { expects: sink.recipe.expects } : {}),
    file: sink.writer.target,
    kb: { path: resolve(config.kb), format: plan.format, bytes: plan.kbBytes },
    options: {
      decontaminate: config.decontaminate,
      skipBadRows: config.skipBadRows,
      ...(sink.recipe.needs.criticScores ? { criticThreshold: config.criticThreshold, criticSource: inputs.critic.source } : {}),
    },
    rows: { read: tally.validRows + tally.badRows, kept: sink.kept, dropped: { ...sink.drops, badRow: tally.badRows } },
    filterPreserveRate: rate(accepted, tally.validRows),
    perRelation,
    decontamination: {
      enabled: config.decontaminate,
      ...(benchmark.dataDir ? { dataDir: benchmark.dataDir } : {}),
      ...(benchmark.index ? { benchmarkPairs: benchmark.index.size } : {}),
      dropped: sink.drops.contaminated,
    },
    benchmarkOverlap: sink.overlap ? sink.overlap.result() : null,
    ...(benchmark.unavailable ? { benchmarkOverlapUnavailable: benchmark.unavailable } : {}),
    ...(sink.recipe.needs.kb === "unimodal_kb" ? { textOnly: tally.textOnly } : {}),
    kbMadeWith: inputs.madeWith,
    badRowExamples: tally.badRowExamples,
    harness,
    createdAt: new Date().toISOString(),
    seconds: inputs.seconds,
  };
}

/** The filter's preserve rate per relation (sorted by name), with the rows this recipe kept of each. */
function relationStats(tally: KbTally, sink: RecipeSink): { perRelation: Record<string, RelationStats>; accepted: number } {
  const perRelation: Record<string, RelationStats> = {};
  let accepted = 0;
  for (const [relation, counts] of [...tally.relations].sort(([a], [b]) => a.localeCompare(b))) {
    accepted += counts.filterAccepted;
    perRelation[relation] = {
      read: counts.read,
      filterAccepted: counts.filterAccepted,
      preserveRate: rate(counts.filterAccepted, counts.read),
      kept: sink.keptByRelation.get(relation) ?? 0,
    };
  }
  return { perRelation, accepted };
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
