import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { cacheRoot, requestCacheDir } from "../util/cache-root.ts";
import { renderText } from "../render/text-table.ts";
import { describeIdentity, listCaches, parseAge, removeCache, selectCaches, type CacheSummary } from "../requests/cache-admin.ts";
import { commandGroup } from "./group.ts";

interface StatsArgs {
  cacheDir?: string;
  json: boolean;
}

interface ClearArgs {
  ids: string[];
  cacheDir?: string;
  model?: string;
  olderThan?: string;
  all: boolean;
  dryRun: boolean;
}

const requestsDir = (cacheDir: string | undefined) => requestCacheDir(cacheDir ?? cacheRoot());
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const daysAgo = (date: Date, now = Date.now()) => {
  const days = (now - date.getTime()) / 86_400_000;
  return days < 1 ? "today" : `${Math.floor(days)} day${Math.floor(days) === 1 ? "" : "s"} ago`;
};

function statsTable(caches: readonly CacheSummary[]): string {
  return renderText({
    headers: ["id", "identity", "entries", "size", "last used"],
    rows: caches.map((c) => [
      c.id,
      describeIdentity(c.identity),
      c.entries.toLocaleString("en-US"),
      megabytes(c.bytes),
      daysAgo(c.lastUsed),
    ]),
    align: ["left", "left", "right", "right", "left"],
  });
}

const cacheDirOption = {
  type: "string",
  describe: "Cache root (default $HARNESS_CACHE_DIR or ~/.cache/intentionqa-harness); its requests/ folder holds the answers",
} as const;

function printStats(args: ArgumentsCamelCase<StatsArgs>): void {
  const dir = requestsDir(args.cacheDir);
  const caches = listCaches(dir);
  if (args.json) {
    const rows = caches.map((c) => ({
      id: c.id,
      identity: c.identity,
      entries: c.entries,
      bytes: c.bytes,
      lastUsed: c.lastUsed.toISOString(),
    }));
    process.stdout.write(`${JSON.stringify({ dir, caches: rows }, null, 2)}\n`);
    return;
  }
  if (caches.length === 0) {
    process.stdout.write(`no request cache in ${dir}\n`);
    return;
  }
  const total = caches.reduce((a, c) => ({ entries: a.entries + c.entries, bytes: a.bytes + c.bytes }), { entries: 0, bytes: 0 });
  process.stdout.write(
    `${statsTable(caches)}\n\n${caches.length} identit${caches.length === 1 ? "y" : "ies"}, ${total.entries.toLocaleString("en-US")} entries, ${megabytes(total.bytes)} in ${dir}\n`,
  );
}

function clearCaches(args: ArgumentsCamelCase<ClearArgs>): void {
  const dir = requestsDir(args.cacheDir);
  const chosen = selectCaches(listCaches(dir), {
    ids: args.ids.map(String),
    ...(args.model !== undefined ? { model: args.model } : {}),
    ...(args.olderThan !== undefined ? { olderThanMs: parseAge(args.olderThan) } : {}),
    all: args.all,
  });
  if (chosen.length === 0) {
    process.stdout.write(`nothing to clear: no cache in ${dir} matches (see \`harness cache stats\`)\n`);
    return;
  }
  if (!args.dryRun) for (const cache of chosen) removeCache(cache);
  const entries = chosen.reduce((a, c) => a + c.entries, 0);
  const bytes = chosen.reduce((a, c) => a + c.bytes, 0);
  const verb = args.dryRun ? "would remove" : "removed";
  process.stdout.write(`${verb} ${chosen.length} cache(s), ${entries.toLocaleString("en-US")} entries, ${megabytes(bytes)} from ${dir}:\n`);
  for (const c of chosen)
    process.stdout.write(
      `  ${c.id}  ${describeIdentity(c.identity)}  ${c.entries.toLocaleString("en-US")} entries, ${megabytes(c.bytes)}, last used ${daysAgo(c.lastUsed)}\n`,
    );
}

const statsCommand: CommandModule<object, StatsArgs> = {
  command: "stats",
  describe: "Entries, size and last use of each identity's cache",
  builder: (yy) =>
    yy
      .option("cache-dir", cacheDirOption)
      .option("json", { type: "boolean", default: false, describe: "Print JSON instead of a table" })
      .example("$0 cache stats", "one line per model/server identity") as Argv<StatsArgs>,
  handler: printStats,
};

const clearCommand: CommandModule<object, ClearArgs> = {
  command: "clear [ids..]",
  describe: "Remove whole identity caches: by id, by model, by age (last use), or all; every criterion given must hold",
  builder: (yy) =>
    yy
      .positional("ids", {
        type: "string",
        array: true,
        default: [],
        describe: "Cache ids (or unique prefixes) from `harness cache stats`",
      })
      .option("cache-dir", cacheDirOption)
      .option("model", { type: "string", describe: "Only caches of this model (any server)" })
      .option("older-than", { type: "string", describe: "Only caches not used for this long: 12h, 30d, 8w" })
      .option("all", { type: "boolean", default: false, describe: "Every cache (alone, or to confirm no other criterion is wanted)" })
      .option("dry-run", { type: "boolean", default: false, describe: "List what would be removed, remove nothing" })
      .example("$0 cache clear --older-than 30d", "caches no run opened in 30 days")
      .example("$0 cache clear 3f2a9c", "one identity's cache, by the id `cache stats` prints")
      .example("$0 cache clear --model my-model --dry-run", "what clearing a model's caches would remove") as unknown as Argv<ClearArgs>,
  handler: clearCaches,
};

export const cacheCommand = commandGroup({
  command: "cache <action>",
  describe: "See or clear the request cache (answers of eval and distill, one cache per model/server identity)",
  subcommands: [statsCommand, clearCommand],
});
