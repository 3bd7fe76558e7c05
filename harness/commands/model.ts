import { redact } from "../util/redact.ts";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { fetchModelSnapshot } from "../hub/fetch.ts";
import { checkWritableDir } from "../util/paths.ts";
import { checkHttpUrl, envHttpUrl } from "../util/validate.ts";
import { DEFAULT_KEY_VARIABLE } from "../backends/types.ts";

interface FetchArgs {
  repo: string;
  revision: string;
  cacheDir?: string;
  hubUrl?: string;
  verify: boolean;
}

export const modelCommand: CommandModule = {
  command: "model <action>",
  describe: "Prefetch a model or adapter from the Hugging Face Hub into its cache (for GPU nodes without network)",
  builder: (y: Argv) =>
    y
      .command<FetchArgs>({
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
            .example(
              "HF_HUB_OFFLINE=1 $0 finetune --config configs/mistral.yaml --recipe mind",
              "then on the compute node",
            ) as Argv<FetchArgs>,
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
      })
      .demandCommand(1),
  handler: () => {},
};
