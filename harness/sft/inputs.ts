/** What every row of the pass is checked against besides the recipes: the benchmark's pairs and the critic scores. */
import { TASKS } from "../benchmark/tasks.ts";
import { resolveDataDir } from "../benchmark/store.ts";
import { cacheRoot } from "../util/cache-root.ts";
import { HarnessError } from "../util/errors.ts";
import { loadCriticSideFile, type CriticLookup } from "./critic.ts";
import { type ContaminationIndex, loadContaminationIndex } from "./decontaminate.ts";
import type { BuildSftConfig } from "./defaults.ts";

/** The benchmark's pairs, or why they could not be had. */
export interface BenchmarkPairs {
  index: ContaminationIndex | null;
  dataDir?: string;
  unavailable?: string;
}

/**
 * The benchmark's pairs: to drop them (--decontaminate) and, always, to count the scored
 * questions whose pair is trained on. Without the data only the count is given up, loudly.
 */
export async function loadBenchmarkPairs(
  config: BuildSftConfig,
  log: (line: string) => void,
  env: NodeJS.ProcessEnv | undefined,
): Promise<BenchmarkPairs> {
  let dataDir: string;
  try {
    const location = await resolveDataDir({
      ...(config.data ? { dataFlag: config.data } : {}),
      env: env ?? process.env,
      cacheRoot: config.cacheDir ?? cacheRoot(undefined, env),
      tasks: TASKS,
      download: config.download,
      log,
    });
    dataDir = location.dir;
  } catch (error) {
    if (!(error instanceof HarnessError)) throw error;
    if (config.decontaminate)
      throw new HarnessError(
        `--decontaminate needs the IntentionQA questions: ${error.message} Or leave out --decontaminate (the paper's setting).`,
      );
    const unavailable = `IntentionQA not found, so the benchmark questions in the training data were not counted: ${error.message}`;
    log(`warning: ${unavailable}`);
    return { index: null, unavailable };
  }
  const index = await loadContaminationIndex(dataDir);
  log(
    `${config.decontaminate ? "decontaminating against" : "counting (not dropping) the benchmark pairs of"} IntentionQA in ${dataDir} ` +
      `(${index.size.idPairs} id pairs, ${index.size.namePairs} name pairs)`,
  );
  return { index, dataDir };
}

export interface CriticScores {
  /** The row's score, looked up once per row however many recipes ask for it. */
  score: CriticLookup;
  /** Where the scores come from, for the stats. */
  source: string;
}

/** From the side file when a recipe needs scores and --critic-file gives them, else from the KB's column. */
export async function loadCriticScores(config: BuildSftConfig, usesCritic: boolean, log: (line: string) => void): Promise<CriticScores> {
  if (!(usesCritic && config.criticFile))
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
