import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { DISTILL_DEFAULTS, IMAGE_LAYOUTS, TEXT_PROMPTS } from "../distill/defaults.ts";
import type { DistillConfig } from "../distill/defaults.ts";
import { RELATION_NAMES, STAGE2_PROMPTS } from "../prompts/mind.ts";
import { usageError } from "../util/errors.ts";
import { type RequestFlagValues, requestFlags, requestSettingsFromFlags } from "../util/request-flags.ts";

/** `harness distill`'s flags: DistillConfig's settings in the CLI's units. */
export interface DistillFlags
  extends Omit<DistillConfig, "timeoutMs" | "preflightTimeoutMs" | "textPrompts" | "concurrency" | "concurrencyMode" | "retries">,
    RequestFlagValues {
  /** Only with --text-only (no yargs default, so that a stray --text-prompts is caught). */
  textPrompts?: DistillConfig["textPrompts"];
}

/**
 * The flags as the stage's config: seconds to milliseconds, --text-prompts checked against
 * --text-only, and what has no flag from DISTILL_DEFAULTS.
 */
export function distillConfigFromFlags(flags: DistillFlags): DistillConfig {
  const { timeout: _timeout, concurrency: _concurrency, textPrompts, ...rest } = flags;
  if (textPrompts !== undefined && !flags.textOnly) {
    throw usageError("--text-prompts chooses the wording of --text-only runs; add --text-only or leave it out");
  }
  return {
    ...rest,
    textPrompts: textPrompts ?? DISTILL_DEFAULTS.textPrompts,
    ...requestSettingsFromFlags(flags),
    preflightTimeoutMs: DISTILL_DEFAULTS.preflightTimeoutMs,
  };
}

/** What to distill, from which server, into which folder. */
function inputOptions(y: Argv): Argv {
  return y
    .option("records", {
      type: "string",
      demandOption: true,
      describe:
        "FolkScope co-buy CSV (item_a_id, item_b_id, item_a_name, item_b_name, relation, assertion), or records .jsonl/.csv (fields: docs/distill.md)",
    })
    .option("images", {
      type: "string",
      describe:
        "Folder of the images: <id>/ folders for FolkScope rows, relative image paths for records (default: the records file's folder)",
    })
    .option("model", {
      type: "string",
      demandOption: true,
      describe: "The model the server serves (e.g. llava-hf/llava-1.5-13b-hf); names the cache and batch bodies",
    })
    .option("base-url", {
      type: "string",
      array: true,
      describe: "OpenAI-compatible server (http://gpu-node:8000/v1); repeat it to use several servers as one pool",
    })
    .option("api-key-env", { type: "string", describe: "Environment variable holding the API key (default OPENAI_API_KEY)" })
    .option("out", {
      type: "string",
      demandOption: true,
      describe:
        "Output folder: mind_kb.csv, mind_kb.jsonl, mind_kb.meta.json, stats.json, stats.md, preserve_rate.svg, preserve_rate.vl.json, skipped.jsonl",
    })
    .option("relations", {
      type: "string",
      describe: `"all" or comma-separated: fan bare pairs out over these relations (required for them); with FolkScope rows, keep only rows of these relations. ${RELATION_NAMES.join(",")}`,
    });
}

/** How to ask: text-only or with images, the prompts' wording, the images' layout and the sampling. */
function promptOptions(y: Argv): Argv {
  return y
    .option("text-only", {
      type: "boolean",
      default: DISTILL_DEFAULTS.textOnly,
      describe: "Send no images (the unimodal ablation), with the spec's text-only prompts",
    })
    .option("text-prompts", {
      choices: TEXT_PROMPTS,
      describe: `With --text-only: text (default; no word about images) or image-phrased (the original's prompts, no image)`,
    })
    .option("stage2-prompt", {
      choices: STAGE2_PROMPTS,
      describe: "Stage-2 wording: original (default), or robustness (paper 5.4.4: no instructions to use the images, images still shown)",
    })
    .option("image-layout", {
      choices: IMAGE_LAYOUTS,
      default: DISTILL_DEFAULTS.imageLayout,
      describe: "stacked: one image, A above a 20-px black bar above B, left-aligned (the original); pair: two image parts",
    })
    .option("pad-images", {
      type: "boolean",
      default: DISTILL_DEFAULTS.padImages,
      describe:
        "Pad each image to a square filled with (122,116,104), as LLaVA's pad preprocessing did for the original; --no-pad-images for servers that pad themselves",
    })
    .option("max-image-bytes", {
      type: "number",
      default: DISTILL_DEFAULTS.maxImageBytes,
      describe: "Skip a record whose image (file or URL) is larger than this, or is not a regular file (at most 256 MiB)",
    })
    .option("temperature", {
      type: "number",
      default: DISTILL_DEFAULTS.temperature,
      describe: "Sampling temperature (the original's 0.2)",
    })
    .option("max-tokens", {
      type: "number",
      default: DISTILL_DEFAULTS.maxTokens,
      describe: "max_tokens per answer (the original's max_new_tokens 512)",
    });
}

/** How the requests run: concurrency and retries, sharding, batch files, the cache and the progress display. */
function runOptions(y: Argv): Argv {
  return y
    .options(requestFlags(DISTILL_DEFAULTS, "Requests in flight at once, across all servers"))
    .option("shard", { type: "string", describe: "i/n: only the records whose pair id hashes to shard i of n" })
    .option("emit-batch", { type: "string", describe: "Write the requests not answered yet as an OpenAI batch input file, then exit" })
    .option("ingest-batch", { type: "string", describe: "Read a batch output file into the cache first" })
    .option("cache-dir", { type: "string", describe: "Cache root (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness)" })
    .option("progress", { type: "boolean", describe: "Force the progress display on or off" });
}

function examples(y: Argv): Argv {
  return y
    .example(
      "$0 distill --records folkscope.csv --images images/ --base-url http://gpu-node:8000/v1 --model llava-hf/llava-1.5-13b-hf --out kb/",
      "the MIND KB: one intention per FolkScope row",
    )
    .example(
      "$0 distill --records folkscope.csv --images images/ --base-url http://gpu-node:8000/v1 --model llava-hf/llava-1.5-13b-hf --text-only --out kb-unimodal/",
      "the unimodal ablation",
    )
    .example(
      "$0 distill --records pairs.jsonl --images images/ --relations all --base-url http://gpu-node:8000/v1 --model llava-hf/llava-1.5-13b-hf --out kb/",
      "bare pairs, each under all 20 relations",
    )
    .example(
      "$0 distill --records folkscope.csv --images images/ --model llava-hf/llava-1.5-13b-hf --out kb/ --emit-batch stage.jsonl",
      "export the next stage for a batch engine",
    );
}

export const distillCommand: CommandModule<object, DistillFlags> = {
  command: "distill",
  describe:
    "MIND distillation: product features, one co-buy intention per FolkScope row (or per pair and relation) and the role-aware filter, from a vision-language model, into a KB",
  builder: (y: Argv) => examples(runOptions(promptOptions(inputOptions(y)))) as unknown as Argv<DistillFlags>,
  handler: async (args: ArgumentsCamelCase<DistillFlags>) => {
    // Loaded when it runs, not for --help: the run pulls in sharp and the OpenAI client.
    const { runDistill } = await import("../distill/run.ts");
    const { _: _positional, $0: _script, ...flags } = args;
    await runDistill(distillConfigFromFlags(flags));
  },
};
