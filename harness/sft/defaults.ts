import { DEFAULT_CRITIC_COLUMN, type KbFormat } from "../kb/schema.ts";

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
  /** The summary runBuildSft prints: the stats as JSON instead of the tables. */
  json: boolean;
}

/**
 * build-sft's defaults, once: the CLI's flags, ablate's config schema, the critic's summary and the
 * bench all read this object. Its own module, so `harness build-sft --help` reads it without
 * loading the KB readers or the benchmark.
 */
export const BUILD_SFT_DEFAULTS = {
  recipes: ["mind"],
  /** LLaMA-Factory's dataset_dir: the JSONL files, their stats and dataset_info.json. */
  out: "datasets/sft",
  criticThreshold: 0.8,
  criticColumn: DEFAULT_CRITIC_COLUMN,
  /** The paper trained on all MIND intentions: benchmark pairs are kept unless asked otherwise. */
  decontaminate: false,
  /** Only ablate, which evaluates anyway, downloads IntentionQA for the overlap counts. */
  download: false,
  skipBadRows: false,
  /** Off: on a 2-core machine the worker thread cost more CPU than it saved in wall time. */
  parseInWorker: false,
  json: false,
} as const satisfies Partial<BuildSftConfig>;
