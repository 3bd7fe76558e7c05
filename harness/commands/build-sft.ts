import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { KB_FORMATS } from "../kb/schema.ts";
import { BUILD_SFT_DEFAULTS, type BuildSftConfig } from "../sft/defaults.ts";
import { RECIPE_NAMES } from "../sft/recipes.ts";

/** `harness build-sft`'s flags: BuildSftConfig's settings as the CLI spells them. */
export interface BuildSftFlags extends Omit<BuildSftConfig, "recipes" | "parseInWorker" | "download"> {
  /** Recipe names, comma-separated. */
  recipe: string;
  parseWorker: boolean;
}

/** The flags as the stage's config: --recipe split into names; the CLI never downloads the benchmark. */
export function buildSftConfigFromFlags(flags: BuildSftFlags): BuildSftConfig {
  const { recipe, parseWorker, ...rest } = flags;
  return { ...rest, recipes: recipe.split(","), parseInWorker: parseWorker, download: BUILD_SFT_DEFAULTS.download };
}

export const buildSftCommand: CommandModule<object, BuildSftFlags> = {
  command: "build-sft",
  describe: "Turn an intention KB (MIND CSV or distill JSONL) into LLaMA-Factory alpaca SFT data, one dataset per recipe",
  builder: (y: Argv) =>
    y
      .option("kb", {
        type: "string",
        demandOption: true,
        describe: "Knowledge base: released MIND CSV layout (.csv) or harness distill JSONL (.jsonl)",
      })
      .option("recipe", {
        type: "string",
        default: BUILD_SFT_DEFAULTS.recipes.join(","),
        describe: `Recipe(s), comma-separated: ${RECIPE_NAMES.join(", ")}`,
      })
      .option("out", {
        type: "string",
        default: BUILD_SFT_DEFAULTS.out,
        describe: "Output folder (LLaMA-Factory dataset_dir): <key>.jsonl, <key>.stats.json, dataset_info.json",
      })
      .option("name", {
        type: "string",
        describe: "Dataset key (default intentionqa_<recipe>); with several recipes a prefix: <name>_<recipe>",
      })
      .option("format", { type: "string", choices: KB_FORMATS, describe: "KB format, overriding the extension" })
      .option("critic-threshold", {
        type: "number",
        default: BUILD_SFT_DEFAULTS.criticThreshold,
        describe: "critic recipe: keep rows with score >= this",
      })
      .option("critic-column", {
        type: "string",
        default: BUILD_SFT_DEFAULTS.criticColumn,
        describe: "critic recipe: the KB column / JSONL key (or side-file column) with the score",
      })
      .option("critic-file", {
        type: "string",
        describe: "critic recipe: side file (CSV/JSONL) keyed by id_a,id_b,Relation,Intention or by row (0-based)",
      })
      .option("decontaminate", {
        type: "boolean",
        default: BUILD_SFT_DEFAULTS.decontaminate,
        describe:
          "Drop rows whose product pair is an IntentionQA question (off by default: the paper trained on all intentions; the stats count such questions either way)",
      })
      .option("data", {
        type: "string",
        describe: "IntentionQA folder for decontamination and the overlap counts (or INTENTIONQA_DIR; default: the download cache)",
      })
      .option("cache-dir", {
        type: "string",
        describe: "Cache root holding downloaded IntentionQA (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness)",
      })
      .option("skip-bad-rows", {
        type: "boolean",
        default: BUILD_SFT_DEFAULTS.skipBadRows,
        describe: "Count and skip malformed rows instead of failing on the first",
      })
      .option("parse-worker", {
        type: "boolean",
        default: BUILD_SFT_DEFAULTS.parseInWorker,
        describe: "Parse a CSV KB on a worker thread: faster only with spare CPU cores",
      })
      .option("json", { type: "boolean", default: BUILD_SFT_DEFAULTS.json, describe: "Print the stats as JSON instead of the table" })
      .example(
        "$0 build-sft --kb mind_kb.csv --recipe mind --out datasets/sft",
        "the MIND-distilled training set, registered in datasets/sft/dataset_info.json",
      )
      .example("$0 build-sft --kb kb.jsonl --recipe mind,unfiltered,critic", "three ablation datasets from one pass")
      .example(
        "$0 build-sft --kb mind_kb.csv --recipe mind --decontaminate",
        "without the IntentionQA questions' product pairs (not the paper's setting)",
      ) as unknown as Argv<BuildSftFlags>,
  handler: async (args: ArgumentsCamelCase<BuildSftFlags>) => {
    const { _: _positional, $0: _script, ...flags } = args;
    // Loaded when it runs, not for --help: the KB readers, the benchmark loader and the registry.
    const { runBuildSft } = await import("../sft/run.ts");
    await runBuildSft(buildSftConfigFromFlags(flags));
  },
};
