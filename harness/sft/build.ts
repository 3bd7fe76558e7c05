import { mkdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { TASKS } from "../benchmark/intentionqa.ts";
import { defaultCacheRoot, resolveDataDir } from "../benchmark/store.ts";
import { DEFAULT_CRITIC_COLUMN, detectKbFormat, readKb, readKbMeta, type BadRow } from "../kb/read.ts";
import { filterAccepted } from "../kb/schema.ts";
import { HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import { loadCriticSideFile, type CriticLookup } from "./critic.ts";
import {
  alpacaEntry,
  mergeDatasetInfo,
  readDatasetInfo,
  validateDatasetKey,
  writeDatasetInfo,
  type AlpacaDatasetEntry,
} from "./dataset-info.ts";
import { type ContaminationIndex, describeOverlap, loadContaminationIndex, OverlapCounter, type OverlapTask } from "./decontaminate.ts";
import { FingerprintTable, fingerprint } from "./fingerprint.ts";
import { parseRecipes, type Recipe, type RecipeContext } from "./recipes.ts";
import { emptyDrops, rate, SFT_STATS_SCHEMA, type DropReason, type RelationStats, type SftStats } from "./stats.ts";
import { alpacaRecord } from "./template.ts";
import { StagedLineWriter } from "../util/staged-output.ts";

export const DEFAULT_SFT_OUT = "datasets/sft";
export const DEFAULT_CRITIC_THRESHOLD = 0.8;
/** The paper trained on all MIND intentions: benchmark pairs are kept unless asked otherwise. */
export const DEFAULT_DECONTAMINATE = false;
const MAX_BAD_ROW_EXAMPLES = 20;

export interface BuildSftOptions {
  /** The knowledge base: MIND CSV layout or distill's JSONL. */
  kb: string;
  /** "csv" | "jsonl"; default: from the extension. */
  format?: string;
  /** Recipe names, comma-separated ("mind,unfiltered") or a list. */
  recipes: string | readonly string[];
  /** Output folder: the JSONL files, stats and dataset_info.json (LLaMA-Factory's dataset_dir). */
  out?: string;
  /** Dataset key; default intentionqa_<recipe>. With several recipes it is a prefix: <name>_<recipe>. */
  name?: string;
  criticThreshold?: number;
  criticColumn?: string;
  criticFile?: string;
  /**
   * Drop rows whose product pair is an IntentionQA question. Default false: the paper trained on
   * all MIND intentions. Either way the stats count the scored questions whose pair was kept.
   */
  decontaminate?: boolean;
  /** IntentionQA folder for decontamination and the overlap counts (else INTENTIONQA_DIR, then the download cache). */
  data?: string;
  /** Download IntentionQA into the cache when it is not found (ablate, which evaluates anyway); default false. */
  download?: boolean;
  cacheRoot?: string;
  env?: NodeJS.ProcessEnv;
  skipBadRows?: boolean;
  log?: (line: string) => void;
  /** Parse a CSV KB on a worker thread (see ReadKbOptions.parseInWorker). */
  parseInWorker?: boolean;
  /** Aborting stops the pass; the temp files are removed and nothing is registered. */
  signal?: AbortSignal;
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

/** Per-recipe state while streaming. */
interface Sink {
  recipe: Recipe;
  key: string;
  writer: StagedLineWriter;
  seen: FingerprintTable;
  drops: Record<DropReason, number>;
  keptByRelation: Map<string, number>;
  kept: number;
  overlap: OverlapCounter | null;
}

export function datasetKeys(recipes: readonly Recipe[], name: string | undefined): string[] {
  const keys = recipes.map((recipe) =>
    name === undefined ? `intentionqa_${recipe.name}` : recipes.length === 1 ? name : `${name}_${recipe.name}`,
  );
  keys.forEach(validateDatasetKey);
  return keys;
}

/**
 * The whole `harness build-sft`: stream the KB once, apply every requested recipe, write one
 * alpaca JSONL + stats per recipe, then register them in dataset_info.json. Nothing is
 * registered unless everything succeeded; a failure leaves no temp files behind.
 */
export async function runBuildSft(options: BuildSftOptions): Promise<BuildSftResult> {
  const started = Date.now();
  const log = options.log ?? (() => {});
  const recipes = parseRecipes(typeof options.recipes === "string" ? options.recipes : options.recipes.join(","));
  const format = detectKbFormat(options.kb, options.format);
  const outDir = resolve(options.out ?? DEFAULT_SFT_OUT);
  const keys = datasetKeys(recipes, options.name);
  const criticThreshold = options.criticThreshold ?? DEFAULT_CRITIC_THRESHOLD;
  if (!(criticThreshold >= 0 && criticThreshold <= 1))
    throw new HarnessError(`--critic-threshold must be in 0..1, got ${criticThreshold}`, { exitCode: 2 });
  const criticColumn = options.criticColumn ?? DEFAULT_CRITIC_COLUMN;
  const usesCritic = recipes.some((recipe) => recipe.needs.criticScores);
  const decontaminate = options.decontaminate ?? DEFAULT_DECONTAMINATE;
  const skipBadRows = options.skipBadRows ?? false;

  let kbBytes: number;
  try {
    kbBytes = (await stat(options.kb)).size;
  } catch {
    throw new HarnessError(`cannot read KB ${options.kb}: no such file`);
  }
  // Fail on a broken registry before the long pass, not after it.
  await readDatasetInfo(outDir);

  // The benchmark's pairs: to drop them (--decontaminate) and, always, to count the scored
  // questions whose pair is trained on. Without the data only the count is given up, loudly.
  let contamination: ContaminationIndex | null = null;
  let dataDir: string | undefined;
  let overlapUnavailable: string | undefined;
  try {
    const location = await resolveDataDir({
      ...(options.data ? { dataFlag: options.data } : {}),
      env: options.env ?? process.env,
      cacheRoot: options.cacheRoot ?? defaultCacheRoot(options.env),
      tasks: TASKS,
      download: options.download ?? false,
      log,
    });
    dataDir = location.dir;
  } catch (error) {
    if (!(error instanceof HarnessError)) throw error;
    if (decontaminate)
      throw new HarnessError(
        `--decontaminate needs the IntentionQA questions: ${error.message} Or leave out --decontaminate (the paper's setting).`,
      );
    overlapUnavailable = `IntentionQA not found, so the benchmark questions in the training data were not counted: ${error.message}`;
    log(`warning: ${overlapUnavailable}`);
  }
  if (dataDir) {
    contamination = await loadContaminationIndex(dataDir);
    log(
      `${decontaminate ? "decontaminating against" : "counting (not dropping) the benchmark pairs of"} IntentionQA in ${dataDir} ` +
        `(${contamination.size.idPairs} id pairs, ${contamination.size.namePairs} name pairs)`,
    );
  }

  let criticLookup: CriticLookup = (record) => record.critic_score;
  let criticSource = `KB column ${criticColumn}`;
  if (usesCritic && options.criticFile) {
    const side = await loadCriticSideFile(options.criticFile, criticColumn);
    criticLookup = side.lookup;
    criticSource = `${options.criticFile} (${side.entries} scores keyed by ${side.keyedBy})`;
    log(`critic scores: ${criticSource}`);
  }
  // The score is looked up once per row, however many recipes ask for it.
  let scoredIndex = -1;
  let score: number | undefined;
  const criticScore: CriticLookup = (record, rowIndex) => {
    if (rowIndex !== scoredIndex) {
      scoredIndex = rowIndex;
      score = criticLookup(record, rowIndex);
    }
    return score;
  };
  const context: RecipeContext = { criticThreshold, criticScore };

  try {
    await mkdir(outDir, { recursive: true });
  } catch (error) {
    throw new HarnessError(`cannot create --out ${outDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const sinks: Sink[] = recipes.map((recipe, i) => ({
    recipe,
    key: keys[i]!,
    writer: new StagedLineWriter(join(outDir, `${keys[i]!}.jsonl`)),
    seen: new FingerprintTable(),
    drops: emptyDrops(),
    keptByRelation: new Map(),
    kept: 0,
    overlap: contamination ? new OverlapCounter(contamination) : null,
  }));

  const relations = new Map<string, { read: number; filterAccepted: number }>();
  const textOnly = { yes: 0, no: 0, unknown: 0 };
  const madeWith = { promptSets: {} as Record<string, number>, units: {} as Record<string, number> };
  const badRowExamples: string[] = [];
  let badRows = 0;
  let validRows = 0;
  let contaminatedRows = 0;
  let scoredRows = 0;
  const onBadRow = (bad: BadRow) => {
    badRows += 1;
    if (badRowExamples.length < MAX_BAD_ROW_EXAMPLES) badRowExamples.push(`${bad.file}:${bad.line}: ${bad.reason}`);
  };

  try {
    const rows = readKb(options.kb, {
      format,
      criticColumn,
      readCriticScores: usesCritic && !options.criticFile,
      parseInWorker: options.parseInWorker ?? false,
      skipBadRows,
      onBadRow,
      onHeader: (columns) => {
        if (usesCritic && !options.criticFile && !columns.includes(criticColumn)) {
          throw new HarnessError(
            `${options.kb}:1: the critic recipe needs critic scores: the header has no column "${criticColumn}"; name the column with --critic-column or give --critic-file`,
          );
        }
      },
    });
    for await (const record of rows) {
      if (options.signal?.aborted) throw new HarnessError("interrupted: nothing was registered", { exitCode: 130 });
      // Bad rows skipped by the reader still take a row index (for --critic-file keyed by row).
      const rowIndex = validRows + badRows;
      validRows += 1;
      const row = record.row;
      const relationStats = relations.get(row.Relation) ?? { read: 0, filterAccepted: 0 };
      if (relationStats.read === 0) relations.set(row.Relation, relationStats);
      relationStats.read += 1;
      if (filterAccepted(row.Agreement)) relationStats.filterAccepted += 1;
      if (record.text_only === true) textOnly.yes += 1;
      else if (record.text_only === false) textOnly.no += 1;
      else textOnly.unknown += 1;
      madeWith.promptSets[record.prompt_set ?? "unknown"] = (madeWith.promptSets[record.prompt_set ?? "unknown"] ?? 0) + 1;
      madeWith.units[record.unit ?? "unknown"] = (madeWith.units[record.unit ?? "unknown"] ?? 0) + 1;
      if (usesCritic && criticScore(record, rowIndex) !== undefined) scoredRows += 1;

      const rowDrop: DropReason | null =
        row.Intention.trim() === ""
          ? "emptyIntention"
          : row.Product_a.trim() === "" || row.Product_b.trim() === ""
            ? "emptyProductName"
            : null;
      let contaminated: boolean | null = null;
      let benchmarkQuestions: Array<{ task: OverlapTask; id: string }> | null = null;
      let line: string | null = null;
      let print: { hi: number; lo: number } | null = null;
      for (const sink of sinks) {
        const drop = rowDrop ?? sink.recipe.judge(record, rowIndex, context);
        if (drop !== null) {
          sink.drops[drop] += 1;
          continue;
        }
        if (decontaminate && contamination !== null) {
          contaminated ??= contamination.isContaminated(row.id_a, row.id_b, row.Product_a, row.Product_b);
          if (contaminated) {
            sink.drops.contaminated += 1;
            continue;
          }
        }
        if (line === null) {
          const record = alpacaRecord(row.Product_a, row.Product_b, row.Intention);
          line = JSON.stringify(record);
          print = fingerprint(`${record.instruction}\u0000${record.output}`);
        }
        if (!sink.seen.add(print!)) {
          sink.drops.duplicate += 1;
          continue;
        }
        sink.kept += 1;
        if (sink.overlap)
          sink.overlap.add((benchmarkQuestions ??= contamination!.scoredQuestions(row.id_a, row.id_b, row.Product_a, row.Product_b)));
        sink.keptByRelation.set(row.Relation, (sink.keptByRelation.get(row.Relation) ?? 0) + 1);
        if (sink.writer.push(line)) await sink.writer.flush();
      }
      if (contaminated) contaminatedRows += 1;
    }
    if (usesCritic && validRows > 0 && scoredRows === 0) {
      throw new HarnessError(
        `${options.kb}: no row has a critic score (${options.criticFile ? `none matched ${options.criticFile}` : `no "${criticColumn}" values`}); give scores with --critic-column or --critic-file`,
      );
    }
    if (validRows === 0) throw new HarnessError(`${options.kb}: no KB rows${badRows > 0 ? ` (all ${badRows} rows were bad)` : ""}`);
    for (const sink of sinks) await sink.writer.commit();
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.writer.abort()));
    const code = (error as NodeJS.ErrnoException).code;
    // A failed write (disk full, permissions) is the user's to fix, not a bug.
    if (!(error instanceof HarnessError) && typeof code === "string")
      throw new HarnessError(`writing the SFT data in ${outDir} failed: ${code}; nothing was registered`, { cause: error });
    throw error;
  }

  // A CSV KB carries no per-row extras: its meta file (mind_kb.meta.json) says how it was made.
  const kbMeta = await readKbMeta(options.kb);
  const unknownRows = madeWith.promptSets["unknown"] ?? 0;
  if (kbMeta?.promptSet && unknownRows > 0) {
    delete madeWith.promptSets["unknown"];
    madeWith.promptSets[kbMeta.promptSet] = (madeWith.promptSets[kbMeta.promptSet] ?? 0) + unknownRows;
  }
  if (kbMeta?.unit && (madeWith.units["unknown"] ?? 0) > 0) {
    madeWith.units[kbMeta.unit] = (madeWith.units[kbMeta.unit] ?? 0) + madeWith.units["unknown"]!;
    delete madeWith.units["unknown"];
  }

  const version = harnessVersion();
  const commit = gitCommit();
  const seconds = (Date.now() - started) / 1000;
  const datasets: BuiltDataset[] = [];
  for (const sink of sinks) {
    sink.drops.badRow = badRows;
    const perRelation: Record<string, RelationStats> = {};
    let accepted = 0;
    for (const [relation, r] of [...relations].sort(([a], [b]) => a.localeCompare(b))) {
      accepted += r.filterAccepted;
      perRelation[relation] = {
        read: r.read,
        filterAccepted: r.filterAccepted,
        preserveRate: rate(r.filterAccepted, r.read),
        kept: sink.keptByRelation.get(relation) ?? 0,
      };
    }
    const stats: SftStats = {
      schema: SFT_STATS_SCHEMA,
      dataset: sink.key,
      recipe: sink.recipe.name,
      description: sink.recipe.description,
      ...(sink.recipe.expects ? { expects: sink.recipe.expects } : {}),
      file: sink.writer.target,
      kb: { path: resolve(options.kb), format, bytes: kbBytes },
      options: {
        decontaminate,
        skipBadRows,
        ...(sink.recipe.needs.criticScores ? { criticThreshold, criticSource } : {}),
      },
      rows: { read: validRows + badRows, kept: sink.kept, dropped: sink.drops },
      filterPreserveRate: rate(accepted, validRows),
      perRelation,
      decontamination: {
        enabled: decontaminate,
        ...(dataDir ? { dataDir } : {}),
        ...(contamination ? { benchmarkPairs: contamination.size } : {}),
        dropped: sink.drops.contaminated,
      },
      benchmarkOverlap: sink.overlap ? sink.overlap.result() : null,
      ...(overlapUnavailable ? { benchmarkOverlapUnavailable: overlapUnavailable } : {}),
      ...(sink.recipe.needs.kb === "unimodal_kb" ? { textOnly } : {}),
      kbMadeWith: madeWith,
      badRowExamples,
      harness: { version, commit },
      createdAt: new Date().toISOString(),
      seconds,
    };
    const statsFile = join(outDir, `${sink.key}.stats.json`);
    await writeFileAtomic(statsFile, `${JSON.stringify(stats, null, 2)}\n`);
    datasets.push({ key: sink.key, file: sink.writer.target, statsFile, stats });
  }
  if (recipes.some((recipe) => recipe.needs.kb === "unimodal_kb") && textOnly.no > 0) {
    log(
      `warning: the unimodal recipe expects a text-only KB, but ${textOnly.no} rows say they were generated with images (text_only: false)`,
    );
  }
  if (contaminatedRows > 0) log(`decontamination: dropped ${contaminatedRows} rows whose product pair is an IntentionQA question`);
  for (const dataset of datasets) {
    if (dataset.stats.benchmarkOverlap)
      log(
        `${dataset.key}: scored IntentionQA questions whose product pair is in the training data: ${describeOverlap(dataset.stats.benchmarkOverlap)}`,
      );
  }

  // Registration last: LLaMA-Factory only sees datasets whose files are complete.
  const entries: Record<string, AlpacaDatasetEntry> = {};
  for (const sink of sinks) entries[sink.key] = alpacaEntry(`${sink.key}.jsonl`);
  // Re-read: another build may have registered its datasets meanwhile.
  await writeDatasetInfo(outDir, mergeDatasetInfo(await readDatasetInfo(outDir), entries));
  return { outDir, datasetInfoFile: join(outDir, "dataset_info.json"), datasets };
}
