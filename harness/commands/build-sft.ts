import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { DEFAULT_CRITIC_COLUMN, KB_FORMATS } from "../kb/read.ts";
import { DEFAULT_CRITIC_THRESHOLD, DEFAULT_DECONTAMINATE, DEFAULT_SFT_OUT, runBuildSft } from "../sft/build.ts";
import { RECIPE_NAMES } from "../sft/recipes.ts";
import { renderStats } from "../sft/stats.ts";
import { checkWritableDir } from "../util/paths.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";

interface BuildSftArgs {
  kb: string;
  recipe: string;
  out: string;
  name?: string;
  format?: string;
  criticThreshold: number;
  criticColumn: string;
  criticFile?: string;
  decontaminate: boolean;
  data?: string;
  cacheDir?: string;
  skipBadRows: boolean;
  parseWorker: boolean;
  json: boolean;
}

export const buildSftCommand: CommandModule<object, BuildSftArgs> = {
  command: "build-sft",
  describe: "Turn an intention KB (MIND CSV or distill JSONL) into LLaMA-Factory alpaca SFT data, one dataset per recipe",
  builder: (y: Argv) =>
    y
      .option("kb", {
        type: "string",
        demandOption: true,
        describe: "Knowledge base: released MIND CSV layout (.csv) or harness distill JSONL (.jsonl)",
      })
      .option("recipe", { type: "string", default: "mind", describe: `Recipe(s), comma-separated: ${RECIPE_NAMES.join(", ")}` })
      .option("out", {
        type: "string",
        default: DEFAULT_SFT_OUT,
        describe: "Output folder (LLaMA-Factory dataset_dir): <key>.jsonl, <key>.stats.json, dataset_info.json",
      })
      .option("name", {
        type: "string",
        describe: "Dataset key (default intentionqa_<recipe>); with several recipes a prefix: <name>_<recipe>",
      })
      .option("format", { type: "string", choices: KB_FORMATS, describe: "KB format, overriding the extension" })
      .option("critic-threshold", {
        type: "number",
        default: DEFAULT_CRITIC_THRESHOLD,
        describe: "critic recipe: keep rows with score >= this",
      })
      .option("critic-column", {
        type: "string",
        default: DEFAULT_CRITIC_COLUMN,
        describe: "critic recipe: the KB column / JSONL key (or side-file column) with the score",
      })
      .option("critic-file", {
        type: "string",
        describe: "critic recipe: side file (CSV/JSONL) keyed by id_a,id_b,Relation,Intention or by row (0-based)",
      })
      .option("decontaminate", {
        type: "boolean",
        default: DEFAULT_DECONTAMINATE,
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
        default: false,
        describe: "Count and skip malformed rows instead of failing on the first",
      })
      .option("parse-worker", {
        type: "boolean",
        default: false,
        describe: "Parse a CSV KB on a worker thread: faster only with spare CPU cores",
      })
      .option("json", { type: "boolean", default: false, describe: "Print the stats as JSON instead of the table" })
      .example(
        "$0 build-sft --kb mind_kb.csv --recipe mind --out datasets/sft",
        "the MIND-distilled training set, registered in datasets/sft/dataset_info.json",
      )
      .example("$0 build-sft --kb kb.jsonl --recipe mind,unfiltered,critic", "three ablation datasets from one pass")
      .example(
        "$0 build-sft --kb mind_kb.csv --recipe mind --decontaminate",
        "without the IntentionQA questions' product pairs (not the paper's setting)",
      ) as unknown as Argv<BuildSftArgs>,
  handler: async (args: ArgumentsCamelCase<BuildSftArgs>) => {
    await checkWritableDir("--out", args.out);
    // Ctrl-C stops the pass cleanly: temp files removed, dataset_info.json untouched.
    const interrupt = abortOnStopSignal({ reason: "abort" });
    const result = await runBuildSft({
      signal: interrupt.signal,
      kb: args.kb,
      recipes: args.recipe,
      out: args.out,
      ...(args.name !== undefined ? { name: args.name } : {}),
      ...(args.format !== undefined ? { format: args.format } : {}),
      criticThreshold: args.criticThreshold,
      criticColumn: args.criticColumn,
      ...(args.criticFile !== undefined ? { criticFile: args.criticFile } : {}),
      decontaminate: args.decontaminate,
      ...(args.data !== undefined ? { data: args.data } : {}),
      ...(args.cacheDir !== undefined ? { cacheRoot: args.cacheDir } : {}),
      skipBadRows: args.skipBadRows,
      parseInWorker: args.parseWorker,
      log: (line) => process.stderr.write(`${line}\n`),
    }).finally(() => {
      interrupt.release();
    });
    if (args.json)
      process.stdout.write(
        `${JSON.stringify(
          result.datasets.map((d) => d.stats),
          null,
          2,
        )}\n`,
      );
    else
      process.stdout.write(`${result.datasets.map((d) => renderStats(d.stats)).join("\n\n")}\nregistered in ${result.datasetInfoFile}\n`);
  },
};
