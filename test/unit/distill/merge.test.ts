import { existsSync, readdirSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { beforeEach, describe, expect, it } from "vitest";
import { runDistillMerge } from "../../../harness/distill/merge.ts";
import { SHARD_ROWS_FILE, writeDistillOutputs, type DistillRecord } from "../../../harness/distill/outputs.ts";
import type { RecordOutcome } from "../../../harness/distill/pipeline.ts";
import { shardOf, type CoBuyRecord } from "../../../harness/distill/records.ts";
import { StatsAccumulator } from "../../../harness/distill/stats.ts";
import { KbWriter } from "../../../harness/kb/write.ts";
import type { RelationName } from "../../../harness/prompts/mind.ts";
import type { Io } from "../../../harness/util/io.ts";
import { RUN_LOCK_FILE } from "../../../harness/util/run-lock.ts";

const RELATIONS: RelationName[] = ["usedFor", "isA", "open", "can"];

/** Twelve FolkScope-like rows from line 2 on: products repeat across pairs, every fifth row skipped for its image. */
function outcomes(): RecordOutcome[] {
  return Array.from({ length: 12 }, (_, i): RecordOutcome => {
    const [a, b] = [`P${i % 5}`, `P${(i * 3 + 1) % 7}`];
    const record: CoBuyRecord = {
      pairId: `${a}|${b}|${i}`,
      line: i + 2,
      a: { id: a, name: `Product ${a}`, description: "", image: `${a}/` },
      b: { id: b, name: `Product, "${b}"`, description: "", image: `${b}/` },
      tail: `tail ${i}\nwith a line break`,
      relation: RELATIONS[i % RELATIONS.length]!,
    };
    if (i % 5 === 4) return { status: "skipped", record, reason: `image folder /img/${a}/: no image file` };
    const verdict = i % 3 === 0 ? "no" : i % 7 === 0 ? "unparsed" : "yes";
    const row = {
      id_a: a,
      id_b: b,
      Product_a: record.a.name,
      Product_b: record.b.name,
      Relation: record.relation!,
      product_a_desc: `desc ${a}`,
      product_b_desc: `desc ${b}`,
      Intention: `intention ${i}, "quoted"`,
      tail: record.tail,
      Agreement: `${verdict} because`,
    };
    return { status: "done", record, rows: [{ row, verdict }] };
  });
}

const run = (shard: string | null): DistillRecord => ({
  model: "llava-test",
  records: "folkscope.csv",
  recordsLayout: "folkscope-csv",
  shard,
  unit: "row",
  relations: null,
  rowRelationFilter: null,
  promptSet: "multimodal",
  textOnly: false,
  imageLayout: "stacked",
  padImages: true,
  temperature: 0.2,
  maxTokens: 512,
  maxImageBytes: 1000,
  concurrency: 16,
  concurrencyMode: "adaptive",
  servers: 1,
  ingestedBatch: null,
  stage2Prompt: "original",
});

/** What `harness distill` writes for these outcomes (the ones of shard i/n with `shard`). */
async function writeRun(
  dir: string,
  all: readonly RecordOutcome[],
  shard: { index: number; count: number } | null,
  over: Partial<DistillRecord> = {},
) {
  const mine = shard ? all.filter((o) => shardOf(o.record.pairId, shard.count) === shard.index - 1) : all;
  const stats = new StatsAccumulator([], "row");
  const kb = await KbWriter.open(dir);
  const order: Array<[number, number]> = [];
  for (const outcome of mine) {
    stats.add(outcome);
    if (outcome.status !== "done") continue;
    kb.append(outcome.rows.map((r) => ({ ...r.row, verdict: r.verdict, text_only: false, prompt_set: "multimodal", unit: "row" })));
    order.push([outcome.record.line, outcome.rows.length]);
  }
  const record = { ...run(shard ? `${shard.index}/${shard.count}` : null), ...over };
  const requests = { sent: mine.length, cacheHits: 0, retries: 0, failures: 0 };
  await writeDistillOutputs(dir, record, stats.result(), requests, kb, shard ? order : null);
}

function capture(): { io: Io; out: () => string } {
  const stdout = new PassThrough();
  const chunks: string[] = [];
  stdout.on("data", (c) => chunks.push(String(c)));
  return { io: { stdout, stderr: new PassThrough() as unknown as NodeJS.WriteStream }, out: () => chunks.join("") };
}

let dir: string;
const at = (...parts: string[]) => join(dir, ...parts);
const text = (...parts: string[]) => readFile(join(...parts), "utf8");

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "distill-merge-"));
  const all = outcomes();
  await writeRun(at("full"), all, null);
  for (const index of [1, 2, 3]) await writeRun(at(`s${index}`), all, { index, count: 3 });
});

const merge = (inputs: string[], out = at("merged")) => runDistillMerge({ inputs, out }, capture().io);

describe("distill merge", () => {
  it("gives the unsharded run's KB, skipped records and stats: rows in the records' order, counts summed, products distinct", async () => {
    // The shards interleave (each holds records from all over the file), and one may be empty.
    const lines = await Promise.all([1, 2, 3].map(async (i) => (await text(at(`s${i}`), SHARD_ROWS_FILE)).split("\n").filter(Boolean)));
    expect(lines.map((l) => l.length).sort()).toEqual([0, 4, 6]);
    const [first, second] = lines.filter((l) => l.length > 0).map((l) => l.map((line) => JSON.parse(line)[0] as number));
    expect(Math.min(...first!) < Math.max(...second!) && Math.min(...second!) < Math.max(...first!)).toBe(true);
    const { io, out } = capture();
    const result = await runDistillMerge({ inputs: [at("s3"), at("s1"), at("s2")], out: at("merged") }, io);
    expect(result).toMatchObject({ shards: 3, rows: 10 });
    for (const file of ["mind_kb.csv", "mind_kb.jsonl", "skipped.jsonl", "stats.md", "preserve_rate.svg", "preserve_rate.vl.json"])
      expect(await text(at("merged"), file), file).toBe(await text(at("full"), file));
    const [merged, full] = [JSON.parse(await text(at("merged"), "stats.json")), JSON.parse(await text(at("full"), "stats.json"))];
    expect({ ...merged, createdAt: 0 }).toEqual({ ...full, createdAt: 0 });
    expect(merged.products).toBe(full.products);
    expect(merged.config.shard).toBeNull();
    const meta = JSON.parse(await text(at("merged"), "mind_kb.meta.json"));
    expect({ ...meta, createdAt: 0 }).toEqual({ ...JSON.parse(await text(at("full"), "mind_kb.meta.json")), createdAt: 0 });
    expect(existsSync(at("merged", SHARD_ROWS_FILE))).toBe(false);
    expect(out()).toMatch(/^Total +12 +2 +10 /m);
  });

  /** A refusal names the folder and the problem, and writes nothing. */
  async function refuses(inputs: string[], message: string | RegExp): Promise<void> {
    await expect(merge(inputs)).rejects.toThrow(message);
    expect(existsSync(at("merged")) ? readdirSync(at("merged")) : []).toEqual([]);
  }

  it("refuses a missing shard", async () => {
    await refuses([at("s1"), at("s3")], "distill merge: missing shard(s) 2/3: give every shard folder of the run");
  });

  it("refuses overlapping shards: the same shard twice", async () => {
    await cp(at("s2"), at("s2-again"), { recursive: true });
    await refuses(
      [at("s1"), at("s2"), at("s2-again"), at("s3")],
      `distill merge: overlapping shards: ${at("s2")} and ${at("s2-again")} are both shard 2/3`,
    );
  });

  it("refuses shards of different counts", async () => {
    await writeRun(at("h1"), outcomes(), { index: 1, count: 2 });
    await refuses([at("s1"), at("h1")], `distill merge: mixed shard counts: ${at("s1")} is shard 1/3, ${at("h1")} is 1/2`);
  });

  it("refuses shards distilled with other prompts, units or records", async () => {
    const cases: Array<[Partial<DistillRecord>, string]> = [
      [{ promptSet: "text-only", textOnly: true }, "promptSet"],
      [{ unit: "fan-out", relations: ["usedFor"] }, "unit"],
      [{ records: "other.csv" }, "records"],
    ];
    for (const [over, key] of cases) {
      await rm(at("s3"), { recursive: true });
      await writeRun(at("s3"), outcomes(), { index: 3, count: 3 }, over);
      await refuses(
        [at("s1"), at("s2"), at("s3")],
        new RegExp(`${at("s3")} was distilled with ${key} .*, ${at("s1")} with .*: not one run`),
      );
    }
  });

  it("refuses a shard still running (its run lock) or not finished (no KB), naming the folder", async () => {
    await writeFile(at("s2", RUN_LOCK_FILE), "{}");
    await refuses(
      [at("s1"), at("s2"), at("s3")],
      `distill merge: ${at("s2")}: a distill run holds ${RUN_LOCK_FILE}: the shard is still running`,
    );
    await rm(at("s2", RUN_LOCK_FILE));
    await rm(at("s2", "mind_kb.csv"));
    await refuses([at("s1"), at("s2"), at("s3")], `distill merge: ${at("s2")}: no finished KB (missing mind_kb.csv)`);
  });

  it("refuses a folder that is not a shard, or a shard without its record order", async () => {
    await refuses([at("full")], `distill merge: ${at("full")}: not a shard (written by a distill run without --shard)`);
    await rm(at("s1", SHARD_ROWS_FILE));
    await refuses([at("s1"), at("s2"), at("s3")], `distill merge: ${at("s1")}: no ${SHARD_ROWS_FILE}`);
  });

  it("refuses a damaged record order, and a KB over a shard folder", async () => {
    await writeFile(at("s1", SHARD_ROWS_FILE), "[2, 1]\nnot json\n");
    await refuses([at("s1"), at("s2"), at("s3")], `${at("s1", SHARD_ROWS_FILE)}:2: expected [line, rows]`);
    await expect(merge([at("s2"), at("s3")], at("s2"))).rejects.toThrow("that is one of the shard folders");
  });

  it("refuses a damaged KB line, writing nothing (the KB's files appear only when every row is copied)", async () => {
    const withRows = [];
    for (const i of [1, 2, 3]) if ((await text(at(`s${i}`, "mind_kb.jsonl"))) !== "") withRows.push(i);
    const kb = at(`s${withRows[0]}`, "mind_kb.jsonl");
    await writeFile(kb, (await text(kb)).replace(/^.*$/m, "{ truncated"));
    await refuses(
      [at("s1"), at("s2"), at("s3")],
      `distill merge: ${kb}: a line that is not a KB row ("{ truncated"): the folder is damaged`,
    );
  });
});
