import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { JUDGE_SCORES } from "../critic/judge.ts";
import { CRITIC_DEFAULTS, CRITIC_KINDS } from "../critic/defaults.ts";
import { KB_FORMATS } from "../kb/schema.ts";
import type { CriticOptions } from "../critic/run.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";
import { requestFlags } from "../util/request-flags.ts";

/** The command's flags: the critic's options, with the timeout in seconds and the output choice. */
type CriticArgs = Omit<CriticOptions, "timeoutMs" | "skipBadRows" | "signal" | "log"> & {
  timeout: number;
  skipBadRows: boolean;
  json: boolean;
};

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
      .option("skip-bad-rows", { type: "boolean", default: false, describe: "Skip malformed KB rows instead of failing on the first" })
      .option("json", { type: "boolean", default: false, describe: "Print the summary as JSON" })
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
    const { runCritic } = await import("../critic/run.ts");
    const interrupt = abortOnStopSignal({ reason: "abort" });
    const { timeout, json: _json, ...options } = args;
    const summary = await runCritic({
      ...options,
      timeoutMs: timeout * 1000,
      signal: interrupt.signal,
      log: (line) => process.stderr.write(`${line}\n`),
    }).finally(() => {
      interrupt.release();
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      return;
    }
    const r = summary.requests;
    process.stdout.write(
      `${summary.scored} of ${summary.unique} intention(s) scored (${summary.rows} KB rows; repeats scored once)` +
        `${summary.meanScore === null ? "" : `, mean ${summary.meanScore.toFixed(3)}, ${summary.atOrAboveThreshold} at or above ${summary.threshold}`}\n` +
        `requests: ${r.sent} sent, ${r.cacheHits} from the cache, ${r.retries} retries\n`,
    );
    if (summary.unscored > 0) {
      process.stderr.write(
        `warning: ${summary.unscored} intention(s) got no score (left empty; build-sft --recipe critic counts them as "no critic score"):\n`,
      );
      for (const [reason, count] of Object.entries(summary.unscoredReasons)) process.stderr.write(`  ${count} x ${reason}\n`);
    }
    process.stdout.write(
      `side file: ${summary.file} (next: harness build-sft --kb ${args.kb} --recipe critic --critic-file ${args.out})\n`,
    );
  },
};
