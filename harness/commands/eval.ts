import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { allTasks, TASKS } from "../benchmark/tasks.ts";
import { DECODING_PRESETS } from "../eval/decoding.ts";
import { EVAL_DEFAULTS, type EvalConfig } from "../eval/defaults.ts";
import { MODES } from "../prompts/intentionqa.ts";
import { usageError } from "../util/errors.ts";
import { processIo } from "../util/io.ts";
import { type RequestFlagValues, requestFlags, requestSettingsFromFlags } from "../util/request-flags.ts";

/** `harness eval`'s flags: EvalConfig's settings in the CLI's units, and what only the CLI does. */
export interface EvalFlags
  extends Omit<EvalConfig, "timeoutMs" | "labels" | "servedFrom" | "training" | "concurrency" | "concurrencyMode" | "retries">,
    RequestFlagValues {
  label?: string[];
  /** Print the report JSON instead of the table. */
  json: boolean;
  /** A `harness finetune` run directory: serve its adapter, evaluate it, stop the server. */
  run?: string;
  /** A model folder served as it is, no adapter (zero-shot). */
  baseModel?: string;
  /** --base-model's LLaMA-Factory template (default: its provenance manifest). */
  template?: string;
}

/** --label key=value flags as the report's labels. */
export function parseLabels(labels: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const label of labels ?? []) {
    const eq = label.indexOf("=");
    if (eq <= 0) throw usageError(`--label "${label}": expected key=value`);
    out[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return out;
}

/** The flags as the stage's config: seconds to milliseconds, key=value labels parsed. */
export function evalConfigFromFlags(flags: EvalFlags): EvalConfig {
  const {
    timeout: _timeout,
    concurrency: _concurrency,
    label,
    json: _json,
    run: _run,
    baseModel: _base,
    template: _template,
    ...rest
  } = flags;
  // The official preset reads no generation config: a file given with it would be silently unused.
  if (flags.generationConfig !== undefined && (flags.decoding ?? EVAL_DEFAULTS.decoding) !== "model-default")
    throw usageError(
      `--generation-config is read only with --decoding model-default (--decoding is ${flags.decoding ?? EVAL_DEFAULTS.decoding}); add --decoding model-default or leave it out`,
    );
  return { ...rest, ...requestSettingsFromFlags(flags), labels: parseLabels(label) };
}

/** What to evaluate: the tasks, the model and its server. */
function modelOptions(y: Argv): Argv {
  return y
    .option("task", {
      type: "string",
      default: EVAL_DEFAULTS.task,
      describe: `${TASKS.join(", ")}, or all (= ${allTasks().join(",")}); comma-separated`,
    })
    .option("model", {
      type: "string",
      array: true,
      describe: "openai:<model>, hf:<model>, baseline:random, baseline:majority (repeatable; default: both baselines)",
    })
    .option("base-url", {
      type: "string",
      describe: "OpenAI-compatible server (http://host:8000/v1), or an HF Inference Endpoint URL for hf:",
    })
    .option("adapter", { type: "string", describe: "LoRA adapter name the server exposes (sent as the model; recorded in the report)" })
    .option("provider", { type: "string", describe: "hf: Inference Providers provider (default: the Hub chooses)" })
    .option("api-key-env", {
      type: "string",
      describe: "Environment variable holding the API key (default OPENAI_API_KEY; HF_TOKEN for hf:)",
    });
}

/** How to ask: the prompting mode and the decoding settings. */
function decodingOptions(y: Argv): Argv {
  return y
    .option("mode", { choices: MODES, default: EVAL_DEFAULTS.mode, describe: "Prompting mode" })
    .option("decoding", {
      choices: DECODING_PRESETS,
      default: EVAL_DEFAULTS.decoding,
      describe:
        "official: IntentionQA's settings (zero-shot temperature 0.1, top_p 1, 10 tokens); model-default: the model's generation_config.json, as the MIND paper evaluated (always sent explicitly)",
    })
    .option("generation-config", {
      type: "string",
      describe:
        "--decoding model-default: a model folder, its generation_config.json, a finetune run folder, or a Hub id in the HF cache (default: the served model)",
    })
    .option("max-tokens", { type: "number", describe: "Override max_tokens (official: zero-shot 10, cot 200, cot-sc 200)" })
    .option("temperature", { type: "number", describe: "Override temperature (official: zero-shot 0.1, cot 0.1, cot-sc 0.7)" })
    .option("top-p", { type: "number", describe: "Override top_p (official: 1)" })
    .option("samples", { type: "number", describe: "Override samples per question (cot-sc 5)" })
    .option("top-logprobs", {
      type: "number",
      default: EVAL_DEFAULTS.topLogprobs,
      describe: "Ask for this many token alternatives to read letter probabilities (0: off)",
    });
}

/** Where the questions and answers come from: the data, the cache, the requests, which questions, their levels. */
function questionOptions(y: Argv): Argv {
  return y
    .option("data", {
      type: "string",
      describe: "Folder with the IntentionQA JSONL files (or INTENTIONQA_DIR); default: the download cache",
    })
    .option("cache-dir", {
      type: "string",
      describe: "Cache root for downloads and answers (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness)",
    })
    .option("cache", {
      type: "boolean",
      default: EVAL_DEFAULTS.cache,
      describe: "Reuse and store answers (--no-cache asks everything again)",
    })
    .options(requestFlags(EVAL_DEFAULTS))
    .option("limit", { type: "number", describe: "Only the first N scored questions of each task" })
    .option("ids", { type: "string", describe: "Only these question ids: comma-separated, or @file with one id a line" })
    .option("permute-options", {
      type: "number",
      describe:
        "Show each question's options in an order seeded by this integer (>= 0), the gold letter moved with its text (default: the official order); `harness diff` against an official-order run tests the sensitivity",
    })
    .option("difficulty-file", { type: "string", describe: "Per-id similarity or level (CSV with id + similarity|level, or JSON)" })
    .option("allow-partial-difficulty", {
      type: "boolean",
      default: false,
      describe: "Accept a --difficulty-file that lacks some scored questions; the levels are marked partial",
    })
    .option("difficulty-embeddings", {
      type: "string",
      describe: "Approximate levels from product-name embeddings: openai:<model> or hf:<model>",
    })
    .option("embeddings-base-url", { type: "string", describe: "Server for --difficulty-embeddings (default: --base-url)" });
}

/** The statistics' seed and resamples, where the report goes and how it is shown, and --run. */
function reportOptions(y: Argv): Argv {
  return y
    .option("seed", { type: "number", default: EVAL_DEFAULTS.seed, describe: "Seeds every random draw (baseline:random)" })
    .option("bootstrap", {
      type: "number",
      default: EVAL_DEFAULTS.bootstrap,
      describe: "Recorded in the report only: accuracy intervals are Wilson score intervals (no resampling)",
      deprecated: "accuracy intervals are Wilson score intervals now; the flag has no effect",
    })
    .option("out", { type: "string", default: EVAL_DEFAULTS.out, describe: "Reports directory; each run writes <out>/<run-id>/" })
    .option("run-id", { type: "string", describe: "Name of the run's folder (default: time and model)" })
    .option("label", { type: "string", array: true, describe: "key=value labels stored in the report (e.g. backbone=mistral recipe=mind)" })
    .option("json", { type: "boolean", default: false, describe: "Print the report JSON instead of the table" })
    .option("progress", { type: "boolean", describe: "Force the progress display on or off" })
    .option("run", {
      type: "string",
      describe: "A `harness finetune` run directory: serve its adapter (LLaMA-Factory API), evaluate it, then stop the server",
    })
    .option("base-model", {
      type: "string",
      describe:
        "A model folder (e.g. from `harness model provision`): serve it with no adapter (LLaMA-Factory API), evaluate it, then stop the server",
    })
    .option("template", {
      type: "string",
      describe: "--base-model: LLaMA-Factory's chat template (default: the folder's provenance manifest)",
    });
}

export function evalOptions<T>(y: Argv<T>): Argv<T & EvalFlags> {
  return reportOptions(questionOptions(decodingOptions(modelOptions(y)))) as unknown as Argv<T & EvalFlags>;
}

export const evalCommand: CommandModule<object, EvalFlags> = {
  command: "eval",
  describe: `Zero-shot multiple-choice evaluation on IntentionQA (${TASKS.join(", ")})`,
  builder: (y) =>
    evalOptions(y)
      .example("$0 eval --task understanding", "the two baselines, no server needed")
      .example("$0 eval --task all --model openai:mistral-7b --base-url http://gpu-node:8000/v1", "a model behind vLLM / LLaMA-Factory")
      .example(
        "$0 eval --task all --model openai:mistral-7b --base-url http://gpu-node:8000/v1 --permute-options 1",
        "the same questions with their options reordered (seed 1)",
      )
      .example(
        "$0 eval --task all --base-model ~/.cache/intentionqa-harness/models/smollm2-135m --decoding model-default",
        "a base model with no adapter, served by LLaMA-Factory (zero-shot)",
      )
      .example(
        "$0 eval --task all --run runs/mistral-mind --decoding model-default",
        "the MIND paper's setting: the base model's generation_config.json",
      ) as Argv<EvalFlags>,
  handler: async (args: ArgumentsCamelCase<EvalFlags>) => {
    // Loaded when it runs, not for --help: the backends pull in the model SDKs.
    const { runEval, renderReportJson, renderReportText } = await import("../eval/run.ts");
    const { _: _positional, $0: _script, ...flags } = args;
    const config = evalConfigFromFlags(flags);
    const io = { ...processIo(), render: args.json ? renderReportJson : renderReportText };
    if (args.template !== undefined && args.baseModel === undefined)
      throw usageError("--template goes with --base-model (a --run uses its own run's template)");
    if (args.baseModel !== undefined) {
      if (args.run !== undefined) throw usageError("--run and --base-model both name what to serve: give one");
      const { evalOnBaseModel } = await import("../serve/eval-run.ts");
      await evalOnBaseModel(config, { baseModel: args.baseModel, ...(args.template ? { template: args.template } : {}) }, io);
      return;
    }
    if (args.run !== undefined) {
      // Loaded only when needed: it starts LLaMA-Factory or vLLM around runEval.
      const { evalOnRun } = await import("../serve/eval-run.ts");
      await evalOnRun(config, { run: args.run }, io);
      return;
    }
    await runEval(config, io);
  },
};
