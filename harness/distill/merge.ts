/**
 * `harness distill merge`: the shard folders of one sharded distill (a `--slurm` array folder, or
 * `--shard i/n` folders run by hand) as one KB, exactly as an unsharded run writes it: the rows in
 * the records file's order, one stats file, the Table-1 view. Every shard is read and checked
 * before anything is written.
 */
import { createReadStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import { KB_CSV, KB_JSONL, KB_META, KbWriter } from "../kb/write.ts";
import type { KbExtras, KbRow } from "../kb/schema.ts";
import { paperTable1 } from "../published/table1.ts";
import { CompactStringSet } from "../util/compact-set.ts";
import { usageError } from "../util/errors.ts";
import { processIo, type Io } from "../util/io.ts";
import { checkWritableDir } from "../util/paths.ts";
import { RUN_LOCK_FILE, withRunLock } from "../util/run-lock.ts";
import { readArrayManifest, shardDir } from "./array.ts";
import type { DistillMergeConfig } from "./defaults.ts";
import { checkNotEmpty, printSummary, SHARD_ROWS_FILE, writeDistillOutputs, type DistillRecord, type RequestCounts } from "./outputs.ts";
import { parseShard } from "./records.ts";
import { reasonKind, type DistillStats, type RelationStats, type SkippedRecord } from "./stats.ts";

const tally = { generated: z.number(), kept: z.number(), rejected: z.number(), unparsed: z.number() };

/** What merge reads of a shard's stats.json: its settings and its counts. */
const shardStatsSchema = z.object({
  schema: z.literal("intentionqa-harness/distill-stats@1"),
  harness: z.object({ protocolVersion: z.string() }),
  config: z.object({
    model: z.string(),
    records: z.string(),
    recordsLayout: z.enum(["folkscope-csv", "records-csv", "records-jsonl"]),
    shard: z.string().nullable(),
    unit: z.enum(["row", "fan-out"]),
    relations: z.array(z.string()).nullable(),
    rowRelationFilter: z.array(z.string()).nullable(),
    promptSet: z.enum(["multimodal", "text-only", "text-only-image-phrased"]),
    textOnly: z.boolean(),
    imageLayout: z.enum(["stacked", "pair"]),
    padImages: z.boolean(),
    temperature: z.number(),
    maxTokens: z.number(),
    maxImageBytes: z.number(),
    concurrency: z.number(),
    concurrencyMode: z.enum(["adaptive", "fixed"]),
    servers: z.number(),
    ingestedBatch: z.string().nullable(),
    stage2Prompt: z.string(),
  }),
  requests: z.object({ sent: z.number(), cacheHits: z.number(), retries: z.number(), failures: z.number() }),
  records: z.object({ total: z.number(), distilled: z.number(), skipped: z.number() }),
  intentions: z.object(tally),
  relations: z.array(z.object({ relation: z.string(), input: z.number(), skipped: z.number(), ...tally })),
  skipped: z.array(z.object({ line: z.number(), pair_id: z.string(), id_a: z.string(), id_b: z.string(), reason: z.string() })),
});
type ShardStats = z.infer<typeof shardStatsSchema>;

/** The settings that decide a shard's rows: shards that differ in one of them are not parts of one run. */
const SAME_SETTINGS = [
  "model",
  "records",
  "recordsLayout",
  "unit",
  "relations",
  "rowRelationFilter",
  "promptSet",
  "textOnly",
  "imageLayout",
  "padImages",
  "temperature",
  "maxTokens",
  "maxImageBytes",
  "stage2Prompt",
] as const;

interface Shard {
  dir: string;
  index: number;
  count: number;
  stats: ShardStats;
  /** [line, rows] per distilled record, in the shard's KB order. */
  order: Array<[number, number]>;
}

/** Phase 1: the folders to merge, an array folder standing for its n shard folders. */
async function shardFolders(inputs: readonly string[]): Promise<string[]> {
  const folders: string[] = [];
  for (const input of inputs) {
    const dir = resolve(input);
    const manifest = await readArrayManifest(dir);
    if (manifest) for (let i = 1; i <= manifest.shards; i++) folders.push(shardDir(dir, i, manifest.shards));
    else folders.push(dir);
  }
  return folders;
}

/** `[line, rows]` lines of shard_rows.jsonl; a usage error naming the file and line for anything else. */
function parseOrder(text: string, file: string): Array<[number, number]> {
  const order: Array<[number, number]> = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]!);
    } catch {
      value = null;
    }
    const ok = Array.isArray(value) && value.length === 2 && value.every((n) => Number.isSafeInteger(n) && n >= 0);
    if (!ok) throw usageError(`${file}:${i + 1}: expected [line, rows] (two whole numbers); the shard folder is damaged: rerun the shard`);
    order.push(value as [number, number]);
  }
  return order;
}

/** Why a folder is not a finished shard, or null. A running shard holds the run lock; a finished one has its KB. */
function unfinished(dir: string): string | null {
  if (!existsSync(dir)) return "no such folder: the shard has not run yet (queued, or failed before distill started), or the path is wrong";
  if (existsSync(join(dir, RUN_LOCK_FILE)))
    return `a distill run holds ${RUN_LOCK_FILE}: the shard is still running (or died: rerun it, the cache answers what it asked)`;
  const missing = [KB_CSV, KB_JSONL, KB_META, "stats.json", "skipped.jsonl"].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0)
    return `no finished KB (missing ${missing.join(", ")}): the shard is still running, failed, or never ran; see \`harness status\` on its array folder`;
  return null;
}

/** Phase 2: one shard folder read and checked on its own. */
async function readShard(dir: string): Promise<Shard> {
  const problem = unfinished(dir);
  if (problem) throw usageError(`distill merge: ${dir}: ${problem}`);
  let stats: ShardStats;
  try {
    stats = shardStatsSchema.parse(JSON.parse(await readFile(join(dir, "stats.json"), "utf8")));
  } catch (error) {
    throw usageError(`distill merge: ${join(dir, "stats.json")}: not a distill stats file (${(error as Error).message.split("\n")[0]})`);
  }
  if (stats.config.shard === null) throw usageError(`distill merge: ${dir}: not a shard (written by a distill run without --shard)`);
  const shard = parseShard(stats.config.shard);
  const orderFile = join(dir, SHARD_ROWS_FILE);
  if (!existsSync(orderFile))
    throw usageError(`distill merge: ${dir}: no ${SHARD_ROWS_FILE} (written by an older harness): rerun the shard, the cache answers it`);
  const order = parseOrder(await readFile(orderFile, "utf8"), orderFile);
  const rows = order.reduce((n, [, r]) => n + r, 0);
  const meta = await readFile(join(dir, KB_META), "utf8")
    .then((text) => JSON.parse(text) as { rows?: unknown })
    .catch(() => ({ rows: "unreadable" }));
  if (meta.rows !== rows)
    throw usageError(
      `distill merge: ${dir}: ${SHARD_ROWS_FILE} counts ${rows} row(s), ${KB_META} ${String(meta.rows)}: the folder is damaged`,
    );
  return { dir, index: shard!.index + 1, count: shard!.count, stats, order };
}

/** Phase 3: the shards are the n parts of one run: one n, each index once, none missing, the same settings. */
export function checkShardSet(shards: readonly Shard[]): void {
  const first = shards[0]!;
  const byIndex = new Map<number, Shard>();
  for (const shard of shards) {
    if (shard.count !== first.count)
      throw usageError(
        `distill merge: mixed shard counts: ${first.dir} is shard ${first.index}/${first.count}, ${shard.dir} is ${shard.index}/${shard.count}`,
      );
    const twin = byIndex.get(shard.index);
    if (twin)
      throw usageError(`distill merge: overlapping shards: ${twin.dir} and ${shard.dir} are both shard ${shard.index}/${shard.count}`);
    byIndex.set(shard.index, shard);
    for (const key of SAME_SETTINGS) {
      const [a, b] = [JSON.stringify(first.stats.config[key]), JSON.stringify(shard.stats.config[key])];
      if (a !== b) throw usageError(`distill merge: ${shard.dir} was distilled with ${key} ${b}, ${first.dir} with ${a}: not one run`);
    }
    const [pa, pb] = [first.stats.harness.protocolVersion, shard.stats.harness.protocolVersion];
    if (pa !== pb) throw usageError(`distill merge: ${shard.dir} used prompt protocol ${pb}, ${first.dir} ${pa}: not one run`);
  }
  const missing = Array.from({ length: first.count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  if (missing.length > 0)
    throw usageError(
      `distill merge: missing shard(s) ${missing.map((i) => `${i}/${first.count}`).join(", ")}: give every shard folder of the run (or its array folder)`,
    );
}

/** The merged counts: every count summed, preserve rates from the sums, the skipped records in file order. */
export function mergeStats(shards: readonly ShardStats[], products: number, unit: DistillStats["unit"]): DistillStats {
  const table1 = paperTable1();
  const rate = (kept: number, generated: number) => (generated > 0 ? kept / generated : null);
  const sum = <K extends string>(items: ReadonlyArray<Record<K, number>>, key: K) => items.reduce((n, item) => n + item[key], 0);
  const relations: RelationStats[] = table1.rows.flatMap((t) => {
    const parts = shards.flatMap((s) => s.relations.filter((r) => r.relation === t.relation));
    if (parts.length === 0) return [];
    const counts = {
      generated: sum(parts, "generated"),
      kept: sum(parts, "kept"),
      rejected: sum(parts, "rejected"),
      unparsed: sum(parts, "unparsed"),
    };
    return [
      {
        relation: t.relation,
        label: t.label,
        input: sum(parts, "input"),
        skipped: sum(parts, "skipped"),
        ...counts,
        preserveRate: rate(counts.kept, counts.generated),
        paperKept: t.keptIntentions,
      },
    ];
  });
  const skipped: SkippedRecord[] = shards.flatMap((s) => s.skipped).sort((a, b) => a.line - b.line);
  const skippedReasons: Record<string, number> = {};
  for (const s of skipped) skippedReasons[reasonKind(s.reason)] = (skippedReasons[reasonKind(s.reason)] ?? 0) + 1;
  const intentions = shards.map((s) => s.intentions);
  const kept = sum(intentions, "kept");
  const generated = sum(intentions, "generated");
  const records = shards.map((s) => s.records);
  return {
    unit,
    records: { total: sum(records, "total"), distilled: sum(records, "distilled"), skipped: sum(records, "skipped") },
    products,
    intentions: {
      generated,
      kept,
      rejected: sum(intentions, "rejected"),
      unparsed: sum(intentions, "unparsed"),
      preserveRate: rate(kept, generated),
    },
    relations,
    skippedReasons,
    skipped,
    paperTable1: { printedTotal: table1.total.keptIntentions, rowSum: table1.keptSum, note: table1.totalMismatch },
  };
}

/** The order of an unsharded run: every shard's records by their line in the records file; a line in two shards is refused. */
function mergedOrder(shards: readonly Shard[]): Array<{ shard: number; line: number; rows: number }> {
  const order = shards.flatMap((s, shard) => s.order.map(([line, rows]) => ({ shard, line, rows })));
  order.sort((a, b) => a.line - b.line);
  for (let i = 1; i < order.length; i++) {
    const [a, b] = [order[i - 1]!, order[i]!];
    if (a.line === b.line)
      throw usageError(
        `distill merge: overlapping shards: line ${a.line} of the records is in ${shards[a.shard]!.dir} and ${shards[b.shard]!.dir}`,
      );
  }
  return order;
}

type KbLine = KbRow & KbExtras;

function parseKbLine(text: string, file: string): KbLine {
  try {
    const row = JSON.parse(text) as KbLine;
    if (typeof row.id_a === "string" && typeof row.id_b === "string") return row;
  } catch {
    // Said below, naming the file.
  }
  throw usageError(`distill merge: ${file}: a line that is not a KB row (${JSON.stringify(text.slice(0, 80))}): the folder is damaged`);
}

/** Phase 4: the rows streamed shard by shard in the merged order into the KB's staged files; returns the products seen. */
async function copyRows(shards: readonly Shard[], kb: KbWriter): Promise<number> {
  const readers = shards.map((s) =>
    createInterface({ input: createReadStream(join(s.dir, KB_JSONL)), crlfDelay: Infinity })[Symbol.asyncIterator](),
  );
  const products = new CompactStringSet();
  try {
    for (const { shard, line, rows } of mergedOrder(shards)) {
      const batch: KbLine[] = [];
      for (let i = 0; i < rows; i++) {
        const next = await readers[shard]!.next();
        if (next.done)
          throw usageError(
            `distill merge: ${join(shards[shard]!.dir, KB_JSONL)} ends before the rows of records line ${line}: the folder is damaged`,
          );
        const row = parseKbLine(next.value, join(shards[shard]!.dir, KB_JSONL));
        products.add(row.id_a);
        products.add(row.id_b);
        batch.push(row);
      }
      kb.append(batch);
    }
    return products.size;
  } finally {
    for (const reader of readers) await reader.return?.();
  }
}

/** The merged run as the meta and stats record it: the shards' settings, no shard. */
function mergedRecord(first: ShardStats, shards: readonly ShardStats[]): { record: DistillRecord; requests: RequestCounts } {
  const c = first.config;
  const record = { ...c, shard: null } as DistillRecord;
  const requests: RequestCounts = { sent: 0, cacheHits: 0, retries: 0, failures: 0 };
  for (const s of shards) for (const key of Object.keys(requests) as Array<keyof RequestCounts>) requests[key] += s.requests[key];
  return { record, requests };
}

export interface MergeOutcome {
  shards: number;
  rows: number;
  stats: DistillStats;
}

/** The whole `harness distill merge`. */
export async function runDistillMerge(config: DistillMergeConfig, io: Io = processIo()): Promise<MergeOutcome> {
  if (config.inputs.length === 0) throw usageError("distill merge: name the shard folders, or the array folder of `distill --slurm`");
  const out = resolve(config.out);
  await checkWritableDir("--out", out);
  const folders = await shardFolders(config.inputs);
  if (folders.includes(out)) throw usageError(`--out ${out}: that is one of the shard folders; merge into a folder of its own`);
  const shards: Shard[] = [];
  for (const dir of folders) shards.push(await readShard(dir));
  checkShardSet(shards);
  shards.sort((a, b) => a.index - b.index);
  return withRunLock("--out", out, "distill merge", async () => {
    const kb = await KbWriter.open(out);
    try {
      const products = await copyRows(shards, kb);
      const all = shards.map((s) => s.stats);
      const stats = mergeStats(all, products, all[0]!.config.unit);
      checkNotEmpty(stats);
      const { record, requests } = mergedRecord(all[0]!, all);
      const written = await writeDistillOutputs(out, record, stats, requests, kb);
      io.stderr.write(`distill merge: ${shards.length} shard(s), ${kb.rows} row(s) in the records file's order\n`);
      printSummary(io, stats, written.csv);
      return { shards: shards.length, rows: kb.rows, stats };
    } catch (error) {
      kb.abandon();
      throw error;
    }
  });
}
