import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { fetchIntentionQA } from "../benchmark/store.ts";
import { cacheRoot } from "../util/cache-root.ts";
import { checkWritableDir } from "../util/paths.ts";
import { checkHttpUrl, envHttpUrl } from "../util/validate.ts";
import { INTENTIONQA_COMMIT, INTENTIONQA_REPO } from "../benchmark/sources.ts";
import { commandGroup } from "./group.ts";

interface FetchArgs {
  name: string;
  cacheDir?: string;
  source?: string;
}

/** `harness data fetch intentionqa`. */
const fetchCommand: CommandModule<object, FetchArgs> = {
  command: "fetch <name>",
  describe: `Download the IntentionQA files from ${INTENTIONQA_REPO} at commit ${INTENTIONQA_COMMIT.slice(0, 7)} and verify their sha256`,
  builder: (yy) =>
    yy
      .positional("name", { type: "string", choices: ["intentionqa"], demandOption: true })
      .option("cache-dir", { type: "string", describe: "Cache root (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness)" })
      .option("source", {
        type: "string",
        describe: "Base URL to download from instead of GitHub (a mirror); or INTENTIONQA_SOURCE_URL",
      })
      .example("$0 data fetch intentionqa", "download into the cache; later runs find it there") as Argv<FetchArgs>,
  handler: async (args: ArgumentsCamelCase<FetchArgs>) => {
    checkHttpUrl("source", args.source);
    if (args.source === undefined) envHttpUrl("INTENTIONQA_SOURCE_URL", process.env, "source");
    await checkWritableDir(args.cacheDir ? "--cache-dir" : "cache directory (HARNESS_CACHE_DIR)", args.cacheDir ?? cacheRoot());
    const dir = await fetchIntentionQA({
      cacheRoot: args.cacheDir ?? cacheRoot(),
      ...(args.source ? { sourceUrl: args.source } : {}),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${dir}\n`);
  },
};

export const dataCommand = commandGroup({
  command: "data <action>",
  describe: "Manage benchmark data (harness data fetch intentionqa)",
  subcommands: [fetchCommand],
});
