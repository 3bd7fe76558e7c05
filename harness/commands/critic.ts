import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { JUDGE_SCORES } from "../critic/judge.ts";
import { CRITIC_DEFAULTS, CRITIC_KINDS, type CriticConfig } from "../critic/defaults.ts";
import { KB_FORMATS } from "../kb/schema.ts";
import { type RequestFlagValues, requestFlags, requestSettingsFromFlags } from "../util/request-flags.ts";

/** The command's flags: the critic's config, with --concurrency as typed and the timeout in seconds. */
type CriticArgs = Omit<CriticConfig, "timeoutMs" | "concurrency" | "concurrencyMode" | "retries"> & RequestFlagValues;

/** The flags as the stage's config: seconds to milliseconds. */
export function criticConfigFromFlags(flags: CriticArgs): CriticConfig {
  const { timeout: _timeout, concurrency: _concurrency, ...rest } = flags;
  return { ...rest, ...requestSettingsFromFlags(flags) };
}

export const criticCommand: CommandModule<object, CriticArgs> = {
  command: "critic",
  describe:
    "Score a KB's intentions with a typicality critic (a text classifier or an LLM judge) into the side file build-sft --recipe critic reads",
  builder: (y: Argv) =>
    y
      .option("kb", { type: "string", demandOption: true, describe: "Knowledge base: MIND CSV (.csv) or distill JSONL (.jsonl)" })
      .option("out", {
        type: "string",
        demandOption: true,
        describe: "The side file to write (CSV: id_a,id_b,Relation,Intention,critic_score)",
      })
      .option("kind", {
        choices: CRITIC_KINDS,
        default: CRITIC_DEFAULTS.kind,
        describe: "judge: an OpenAI-compatible chat model; classifier: a text-classification endpoint (TEI /predict, HF Inference)",
      })
      .option("model", {
        type: "string",
        demandOption: true,
        describe: "The model name (judge: sent to the server; classifier: names the cache)",
      })
      .option("base-url", {
        type: "string",
        describe: 'judge: the OpenAI-compatible base URL (default OpenAI); classifier: the URL to POST {"inputs": text} to',
      })
      .option("api-key-env", {
        type: "string",
        describe: "Environment variable with the key (default OPENAI_API_KEY for judge, HF_TOKEN for classifier)",
      })
      .option("judge-score", {
        choices: JUDGE_SCORES,
        default: CRITIC_DEFAULTS.judgeScore,
        describe: "logprobs: P(Yes)/(P(Yes)+P(No)) of a Yes/No answer; number: the model writes a 0-1 score",
      })
      .option("label", { type: "string", describe: "classifier: the label whose score is the critic score (default: the only label)" })
      .option("input-template", {
        type: "string",
        default: CRITIC_DEFAULTS.inputTemplate,
        describe: "classifier: the text sent, with {product_a}, {product_b}, {intention}, {relation}",
      })
      .options(requestFlags(CRITIC_DEFAULTS))
      .option("cache-dir", { type: "string", describe: "Cache root (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness)" })
      .option("kb-format", { choices: KB_FORMATS, describe: "KB format, overriding the extension" })
      .option("skip-bad-rows", {
        type: "boolean",
        default: CRITIC_DEFAULTS.skipBadRows,
        describe: "Skip malformed KB rows instead of failing on the first",
      })
      .option("json", { type: "boolean", default: CRITIC_DEFAULTS.json, describe: "Print the summary as JSON" })
      .example(
        "$0 critic --kb kb/mind_kb.jsonl --model Qwen/Qwen2.5-7B-Instruct --base-url http://gpu-node:8000/v1 --out kb/critic.csv",
        "an LLM judge, score from the Yes/No logprobs",
      )
      .example(
        "$0 critic --kb kb/mind_kb.csv --kind classifier --model my-critic --base-url http://tei:8080/predict --out kb/critic.csv",
        "a text-classification model served by TEI",
      )
      .example(
        "$0 build-sft --kb kb/mind_kb.csv --recipe critic --critic-file kb/critic.csv",
        "then: the w. critic filter training set",
      ) as unknown as Argv<CriticArgs>,
  handler: async (args: ArgumentsCamelCase<CriticArgs>) => {
    // Loaded when it runs, not for --help: the run pulls in the backends.
    const { runCritic } = await import("../critic/run.ts");
    const { _: _positional, $0: _script, ...flags } = args;
    await runCritic(criticConfigFromFlags(flags));
  },
};
