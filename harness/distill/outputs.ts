/**
 * What a finished `harness distill` writes beside the KB: mind_kb.meta.json (how the KB was made),
 * stats.json / stats.md / preserve_rate.svg (+ .vl.json) (the paper's table 2 counts) and skipped.jsonl.
 * The builders are pure; writeDistillOutputs writes them and commits the KB last, so the KB's
 * final names appear only once everything beside it is written.
 */
import { join } from "node:path";
import { KB_CSV, KB_JSONL, KB_META, type KbWriter } from "../kb/write.ts";
import { MIND_PROTOCOL_VERSION, type MindPromptSetName, type RelationName } from "../prompts/mind.ts";
import { renderText } from "../render/text-table.ts";
import { HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import type { Io } from "../util/io.ts";
import { gitCommit, harnessVersion } from "../util/version.ts";
import type { ImageLayout } from "./defaults.ts";
import { PAD_COLOUR } from "./images.ts";
import type { RecordLayout } from "./records.ts";
import {
  distillRelationTable,
  paperTotalNote,
  preserveRateChart,
  preserveRateVegaLite,
  renderStatsMarkdown,
  type DistillStats,
  type DistillUnit,
  type StatsContext,
} from "./stats.ts";
import type { ConcurrencyMode } from "../util/request-flags.ts";

/** The run's settings and what the records survey found, as the meta and stats files record them. */
export interface DistillRecord {
  model: string;
  /** --records as given. */
  records: string;
  recordsLayout: RecordLayout;
  shard: string | null;
  unit: DistillUnit;
  /** fan-out: the relations every pair was asked under; row: null (each row's own). */
  relations: RelationName[] | null;
  /** row: the --relations filter, if any. */
  rowRelationFilter: RelationName[] | null;
  promptSet: MindPromptSetName;
  textOnly: boolean;
  imageLayout: ImageLayout;
  padImages: boolean;
  temperature: number;
  maxTokens: number;
  maxImageBytes: number;
  concurrency: number;
  /** adaptive: `concurrency` was the ceiling; fixed: the level. */
  concurrencyMode: ConcurrencyMode;
  /** Live servers asked (0: answers from the cache or a batch). */
  servers: number;
  ingestedBatch: string | null;
  stage2Prompt: string;
}

export type RequestCounts = { sent: number; cacheHits: number; retries: number; failures: number };

const harnessStamp = () => ({ version: harnessVersion(), gitCommit: gitCommit(), protocolVersion: MIND_PROTOCOL_VERSION });

function statsContext(run: DistillRecord): StatsContext {
  return {
    model: run.model,
    promptSet: run.promptSet,
    imageLayout: run.imageLayout,
    padImages: run.padImages,
    shard: run.shard,
    records: run.records,
  };
}

/** mind_kb.meta.json: how the KB's rows were made. */
export function kbMeta(run: DistillRecord, rows: number) {
  return {
    schema: "intentionqa-harness/mind-kb-meta@1",
    createdAt: new Date().toISOString(),
    harness: harnessStamp(),
    model: run.model,
    records: { file: run.records, layout: run.recordsLayout, shard: run.shard },
    unit: run.unit,
    relations: run.relations,
    rowRelationFilter: run.rowRelationFilter,
    promptSet: run.promptSet,
    textOnly: run.textOnly,
    images:
      run.promptSet === "multimodal"
        ? {
            layout: run.imageLayout,
            paddedToSquare: run.padImages,
            padColour: run.padImages ? [PAD_COLOUR.r, PAD_COLOUR.g, PAD_COLOUR.b] : null,
          }
        : null,
    sampling: { temperature: run.temperature, maxTokens: run.maxTokens },
    rows,
  };
}

/** stats.json: the counts, with every setting that shaped them and the requests made. */
export function statsDocument(run: DistillRecord, stats: DistillStats, requests: RequestCounts) {
  return {
    schema: "intentionqa-harness/distill-stats@1",
    createdAt: new Date().toISOString(),
    harness: harnessStamp(),
    config: {
      ...statsContext(run),
      textOnly: run.textOnly,
      recordsLayout: run.recordsLayout,
      unit: run.unit,
      relations: run.relations,
      rowRelationFilter: run.rowRelationFilter,
      temperature: run.temperature,
      maxTokens: run.maxTokens,
      maxImageBytes: run.maxImageBytes,
      concurrency: run.concurrency,
      concurrencyMode: run.concurrencyMode,
      servers: run.servers,
      ingestedBatch: run.ingestedBatch,
      stage2Prompt: run.stage2Prompt,
    },
    requests,
    ...stats,
  };
}

/**
 * A shard's record order (`--shard i/n` only): one `[line, rows]` per distilled record, in KB order.
 * `distill merge` interleaves the shards' rows by these lines into the order of an unsharded run.
 */
export const SHARD_ROWS_FILE = "shard_rows.jsonl";
export type ShardRows = ReadonlyArray<readonly [line: number, rows: number]>;

/** Every file distill writes into --out: none of them may be one of its inputs. */
export const DISTILL_OUTPUT_FILES = [
  SHARD_ROWS_FILE,
  KB_CSV,
  KB_JSONL,
  KB_META,
  "skipped.jsonl",
  "stats.json",
  "stats.md",
  "preserve_rate.svg",
  "preserve_rate.vl.json",
] as const;

/** Writes the stats and the meta into `out`, then commits the KB; returns the KB's file names. */
export async function writeDistillOutputs(
  out: string,
  run: DistillRecord,
  stats: DistillStats,
  requests: RequestCounts,
  kb: KbWriter,
  shardRows: ShardRows | null = null,
): Promise<{ csv: string; jsonl: string }> {
  const meta = kbMeta(run, kb.rows);
  if (shardRows) await writeFileAtomic(join(out, SHARD_ROWS_FILE), shardRows.map((r) => `${JSON.stringify(r)}\n`).join(""));
  await writeFileAtomic(join(out, "skipped.jsonl"), stats.skipped.map((s) => `${JSON.stringify(s)}\n`).join(""));
  await writeFileAtomic(join(out, "stats.json"), `${JSON.stringify(statsDocument(run, stats, requests), null, 2)}\n`);
  await writeFileAtomic(join(out, "stats.md"), renderStatsMarkdown(stats, statsContext(run)));
  await writeFileAtomic(join(out, "preserve_rate.svg"), preserveRateChart(stats));
  await writeFileAtomic(join(out, "preserve_rate.vl.json"), preserveRateVegaLite(stats));
  await writeFileAtomic(join(out, KB_META), `${JSON.stringify(meta, null, 2)}\n`);
  return kb.commit();
}

/** An empty KB must not look like a finished one. */
export function checkNotEmpty(stats: DistillStats): void {
  if (stats.records.distilled === 0) {
    const reasons = Object.entries(stats.skippedReasons)
      .map(([reason, n]) => `${n} x ${reason}`)
      .join(", ");
    throw new HarnessError(
      `every one of the ${stats.records.total} record(s) was skipped${reasons ? ` (${reasons})` : ""}; no KB was written. Check --images and the records' image paths, or use --text-only`,
    );
  }
  if (stats.intentions.kept === 0) {
    throw new HarnessError(
      `no intention was kept: ${stats.intentions.generated} generated, ${stats.intentions.rejected} rejected by the filter, ${stats.intentions.unparsed} unreadable; no KB was written`,
    );
  }
}

/** The Table-1 view and the totals on stdout, then where the KB is. */
export function printSummary(io: Io, stats: DistillStats, kbCsv: string): void {
  const note = paperTotalNote(stats);
  io.stdout.write(`${renderText(distillRelationTable(stats))}\n${note ? `${note}\n` : ""}\n`);
  io.stdout.write(
    `${stats.intentions.generated} intention(s) from ${stats.records.distilled} record(s), ${stats.intentions.kept} kept; ${stats.records.skipped} record(s) skipped\n`,
  );
  io.stdout.write(`kb: ${kbCsv}\n`);
}
