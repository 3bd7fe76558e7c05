import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { DISTILL_ARRAY_DEFAULTS, DISTILL_DEFAULTS, IMAGE_LAYOUTS, TEXT_PROMPTS } from "../distill/defaults.ts";
import type { DistillArrayConfig, DistillConfig, DistillMergeConfig } from "../distill/defaults.ts";
import { RELATION_NAMES, STAGE2_PROMPTS } from "../prompts/mind.ts";
import { usageError } from "../util/errors.ts";
import { notASubcommand, subcommandName } from "./group.ts";
import { type RequestFlagValues, requestFlags, requestSettingsFromFlags } from "../util/request-flags.ts";

/** `harness distill`'s flags: DistillConfig's settings in the CLI's units. */
export interface DistillFlags
  extends Omit<DistillConfig, "timeoutMs" | "preflightTimeoutMs" | "textPrompts" | "concurrency" | "concurrencyMode" | "retries">,
    RequestFlagValues {
  /** Only with --text-only (no yargs default, so that a stray --text-prompts is caught). */
  textPrompts?: DistillConfig["textPrompts"];
  /** --slurm N: submit the run as an array job of N shards. */
  slurm?: number;
  slurmDirective?: string[];
  serverCommand?: string;
  serverPort?: number;
  /** Seconds. */
  serverTimeout?: number;
}

/** The array flags, which only mean something with --slurm. */
const ARRAY_FLAGS = ["slurmDirective", "serverCommand", "serverPort", "serverTimeout"] as const;
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** --slurm N and its flags as the array's config; the rest is the run every task makes. */
export function distillArrayConfigFromFlags(flags: DistillFlags & { slurm: number }): DistillArrayConfig {
  const { slurm, slurmDirective, serverCommand, serverPort, serverTimeout, ...run } = flags;
  return {
    distill: distillConfigFromFlags(run),
    shards: slurm,
    ...(slurmDirective !== undefined ? { slurmDirectives: slurmDirective } : {}),
    ...(serverCommand !== undefined ? { serverCommand } : {}),
    serverPort: serverPort ?? DISTILL_ARRAY_DEFAULTS.serverPort,
    serverTimeoutMs: serverTimeout !== undefined ? serverTimeout * 1000 : DISTILL_ARRAY_DEFAULTS.serverTimeoutMs,
  };
}

/**
 * The flags as the stage's config: seconds to milliseconds, --text-prompts checked against
 * --text-only, and what has no flag from DISTILL_DEFAULTS.
 */
export function distillConfigFromFlags(flags: DistillFlags): DistillConfig {
  for (const name of ARRAY_FLAGS)
    if (flags[name] !== undefined) throw usageError(`--${kebab(name)} belongs to an array job: add --slurm N, or leave it out`);
  const { timeout: _timeout, concurrency: _concurrency, textPrompts, slurm: _slurm, ...rest } = flags;
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

/** --slurm N: the run as an array job of N shards, each task with its own server if asked. */
function slurmOptions(y: Argv): Argv {
  return y
    .option("slurm", {
      type: "number",
      describe:
        "Submit the run as a SLURM array of N shards: task i runs --shard i/N into OUT/shards/i-of-N/ through the shared cache; follow with `harness status OUT`, combine with `harness distill merge OUT`",
    })
    .option("slurm-directive", {
      type: "string",
      array: true,
      describe: "With --slurm: extra #SBATCH directive, e.g. --partition=gpu (repeatable)",
    })
    .option("server-command", {
      type: "string",
      describe:
        "With --slurm: each task starts this on its node, listening on $PORT (e.g. 'vllm serve llava-hf/llava-1.5-13b-hf --port $PORT'), waits for its /v1/models, asks it, and stops it at the end",
    })
    .option("server-port", {
      type: "number",
      describe: `With --server-command: $PORT of task i is this + i - 1 (default ${DISTILL_ARRAY_DEFAULTS.serverPort})`,
    })
    .option("server-timeout", {
      type: "number",
      describe: `With --server-command: seconds a task waits for its server to answer (default ${DISTILL_ARRAY_DEFAULTS.serverTimeoutMs / 1000})`,
    });
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
    )
    .example(
      "$0 distill --records folkscope.csv --images images/ --model llava-hf/llava-1.5-13b-hf --out distill-run/ --slurm 16 --slurm-directive=--gres=gpu:1 --server-command 'vllm serve llava-hf/llava-1.5-13b-hf --port $PORT'",
      "16 shards on a SLURM cluster, each task with its own vLLM server",
    )
    .example("$0 distill merge distill-run/ --out kb/", "the shards of an array as one KB");
}

interface MergeArgs {
  shards: string[];
  out: string;
}

/** `harness distill merge`: shard folders, or an array folder, into one KB. */
const mergeCommand: CommandModule<object, MergeArgs> = {
  command: "merge <shards..>",
  describe: "Combine the shard folders of one sharded run (or the array folder of `distill --slurm`) into one KB, stats and Table-1 view",
  builder: (y: Argv) =>
    y
      .positional("shards", {
        type: "string",
        array: true,
        demandOption: true,
        describe: "Shard folders (--shard i/n runs), or a `distill --slurm` folder",
      })
      .option("out", { type: "string", demandOption: true, describe: "Folder of the merged KB (the files an unsharded run writes)" })
      .example("$0 distill merge distill-run/ --out kb/", "every shard of the array")
      .example("$0 distill merge kb-1of2/ kb-2of2/ --out kb/", "--shard 1/2 and 2/2 run by hand") as unknown as Argv<MergeArgs>,
  handler: async (args: ArgumentsCamelCase<MergeArgs>) => {
    const { runDistillMerge } = await import("../distill/merge.ts");
    const config: DistillMergeConfig = { inputs: args.shards, out: args.out };
    await runDistillMerge(config);
  },
};

/** The run itself: `harness distill --records ...` (the default of `distill`'s subcommands). */
const runCommand: CommandModule<object, DistillFlags> = {
  command: "$0",
  describe: "Distill a KB",
  builder: (y: Argv) =>
    examples(slurmOptions(runOptions(promptOptions(inputOptions(y)))))
      // Before yargs's own checks: a mistyped subcommand ("mrege") lands here as a stray word, and
      // "Missing required arguments: records, model" would send the user the wrong way.
      .middleware((argv) => {
        const stray = argv._.slice(1);
        if (stray.length > 0)
          throw notASubcommand(
            "distill",
            stray[0],
            [subcommandName(mergeCommand)],
            " and a run takes no positional argument; see harness distill --help",
          );
      }, true) as unknown as Argv<DistillFlags>,
  handler: async (args: ArgumentsCamelCase<DistillFlags>) => {
    const { _: _positional, $0: _script, ...flags } = args;
    if (flags.slurm !== undefined) {
      // Loaded when it runs: submitting asks the scheduler through execa.
      const { submitDistillArray } = await import("../distill/submit.ts");
      await submitDistillArray(distillArrayConfigFromFlags({ ...flags, slurm: flags.slurm }));
      return;
    }
    // Loaded when it runs, not for --help: the run pulls in sharp and the OpenAI client.
    const { runDistill } = await import("../distill/run.ts");
    await runDistill(distillConfigFromFlags(flags));
  },
};

export const distillCommand: CommandModule<object, DistillFlags> = {
  command: "distill",
  describe:
    "MIND distillation: product features, one co-buy intention per FolkScope row (or per pair and relation) and the role-aware filter, from a vision-language model, into a KB",
  builder: (y: Argv) =>
    y.command(mergeCommand as unknown as CommandModule).command(runCommand as unknown as CommandModule) as unknown as Argv<DistillFlags>,
  handler: () => undefined,
};
