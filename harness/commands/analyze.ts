import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { ROBUSTNESS_DEFAULTS, type RobustnessConfig } from "../analyze/defaults.ts";
import { IMAGE_LAYOUTS } from "../distill/defaults.ts";
import { KB_FORMATS } from "../kb/schema.ts";
import { type RequestFlagValues, requestFlags, requestSettingsFromFlags } from "../util/request-flags.ts";
import { commandGroup } from "./group.ts";

/** The command's flags: the analysis's config, with the timeout in seconds. */
type RobustnessArgs = Omit<RobustnessConfig, "timeoutMs" | "concurrency" | "concurrencyMode" | "retries"> & RequestFlagValues;

const robustnessCommand: CommandModule<object, RobustnessArgs> = {
  command: "robustness",
  describe:
    "Paper 5.4.4: regenerate sampled intentions with the stage-2 prompt that drops the image instructions, and report the mean cosine to the originals",
  builder: (y: Argv) =>
    y
      .option("kb", {
        type: "string",
        demandOption: true,
        describe: "The KB whose intentions are the originals (MIND CSV or distill JSONL)",
      })
      .option("records", { type: "string", describe: "distill's records file: the product images (required unless --text-only)" })
      .option("images", { type: "string", describe: "Folder relative image paths are read from (default: the records file's folder)" })
      .option("text-only", {
        type: "boolean",
        default: ROBUSTNESS_DEFAULTS.textOnly,
        describe: "Show no images (for a unimodal KB; the paper's check shows them)",
      })
      .option("image-layout", {
        choices: IMAGE_LAYOUTS,
        default: ROBUSTNESS_DEFAULTS.imageLayout,
        describe: "As distill's --image-layout: use the one the KB was made with",
      })
      .option("pad-images", {
        type: "boolean",
        default: ROBUSTNESS_DEFAULTS.padImages,
        describe: "As distill's --pad-images (--no-pad-images): use what the KB was made with",
      })
      .option("model", {
        type: "string",
        demandOption: true,
        describe: "The vision-language model the server serves (names the cache, shared with distill)",
      })
      .option("base-url", {
        type: "string",
        array: true,
        demandOption: true,
        describe: "OpenAI-compatible server(s) serving --model; repeat for a pool",
      })
      .option("api-key-env", { type: "string", describe: "Environment variable with the API key (default OPENAI_API_KEY)" })
      .option("embeddings", {
        type: "string",
        demandOption: true,
        describe: "Sentence-embedding model: openai:<model> (/v1/embeddings, e.g. a TEI or vLLM server) or hf:<model> (feature extraction)",
      })
      .option("embeddings-base-url", { type: "string", describe: "Server for --embeddings (default: OpenAI, or HF Inference for hf:)" })
      .option("embeddings-api-key-env", {
        type: "string",
        describe: "Environment variable with the embeddings key (default OPENAI_API_KEY / HF_TOKEN)",
      })
      .option("sample", { type: "number", default: ROBUSTNESS_DEFAULTS.sample, describe: "KB rows to regenerate (the paper: 100)" })
      .option("seed", { type: "number", default: ROBUSTNESS_DEFAULTS.seed, describe: "Sampling and bootstrap seed" })
      .option("rows", {
        choices: ["kept", "all"] as const,
        default: ROBUSTNESS_DEFAULTS.rows,
        describe: "Sample the intentions the filter kept (the KB the paper sampled), or all",
      })
      .option("temperature", { type: "number", default: ROBUSTNESS_DEFAULTS.temperature, describe: "Sampling temperature (distill's 0.2)" })
      .option("max-tokens", { type: "number", default: ROBUSTNESS_DEFAULTS.maxTokens, describe: "max_tokens per answer (distill's 512)" })
      .options(requestFlags(ROBUSTNESS_DEFAULTS))
      .option("cache-dir", { type: "string", describe: "Cache root (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness)" })
      .option("kb-format", { choices: KB_FORMATS, describe: "KB format, overriding the extension" })
      .option("out", {
        type: "string",
        demandOption: true,
        describe: "Output folder: summary.json, summary.md, histogram.svg (and its Vega-Lite spec histogram.vl.json), pairs.jsonl",
      })
      .option("json", { type: "boolean", default: ROBUSTNESS_DEFAULTS.json, describe: "Print summary.json instead of the text summary" })
      .example(
        "$0 analyze robustness --kb kb/mind_kb.jsonl --records cobuy.jsonl --images images/ --model llava-hf/llava-1.5-13b-hf --base-url http://gpu-node:8000/v1 --embeddings openai:sentence-transformers/all-mpnet-base-v2 --embeddings-base-url http://tei:8080/v1 --out analyses/robustness",
        "100 pairs, as the paper",
      ) as unknown as Argv<RobustnessArgs>,
  handler: async (args: ArgumentsCamelCase<RobustnessArgs>) => {
    // Loaded here, not at the top: `analyze --help` should not load the pipeline and sharp.
    const { runRobustness } = await import("../analyze/robustness.ts");
    await runRobustness(robustnessConfig(args));
  },
};

/** The flags as the analysis's config: --concurrency parsed, the timeout in milliseconds. */
function robustnessConfig(args: ArgumentsCamelCase<RobustnessArgs>): RobustnessConfig {
  const { timeout: _timeout, concurrency: _concurrency, _, $0, ...flags } = args;
  return { ...flags, ...requestSettingsFromFlags(args) };
}

export const analyzeCommand = commandGroup({
  command: "analyze <analysis>",
  describe: "The paper's analyses: robustness (section 5.4.4)",
  subcommands: [robustnessCommand],
});
