import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { KbRecord } from "../../../harness/kb/read.ts";
import { KB_COLUMNS, type KbRow } from "../../../harness/kb/schema.ts";
import { BUILD_SFT_DEFAULTS, type BuildSftConfig } from "../../../harness/sft/defaults.ts";
import { buildSftDatasets, runBuildSft, type BuildSftHooks } from "../../../harness/sft/run.ts";
import { alpacaEntry, mergeDatasetInfo, readDatasetInfo } from "../../../harness/sft/dataset-info.ts";
import { ContaminationIndex, loadContaminationIndex, normaliseProductName, OverlapCounter } from "../../../harness/sft/decontaminate.ts";
import { isScored, loadQuestions } from "../../../harness/benchmark/intentionqa.ts";
import { INTENTIONQA_FILES } from "../../../harness/benchmark/tasks.ts";
import { FingerprintTable, fingerprint } from "../../../harness/sft/fingerprint.ts";
import { parseRecipes, RECIPES, type RecipeContext } from "../../../harness/sft/recipes.ts";
import type { SftStats } from "../../../harness/sft/stats.ts";
import { alpacaRecord, sftInstruction, sftOutput } from "../../../harness/sft/template.ts";
import type { Io } from "../../../harness/util/io.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";
import { intentionqaDir } from "../../helpers/paths.ts";

const FIXTURES = join(PROJECT_ROOT, "test", "fixtures", "kb");
const fixture = (name: string) => join(FIXTURES, name);
const tempDir = () => mkdtemp(join(tmpdir(), "build-sft-"));

function record(overrides: Partial<KbRow> = {}, extras: Partial<KbRecord> = {}): KbRecord {
  const row = Object.fromEntries(KB_COLUMNS.map((c) => [c, `${c} value`])) as KbRow;
  return { line: 2, row: { ...row, ...overrides }, ...extras };
}

function readJsonl(file: string): Array<Record<string, string>> {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, string>);
}

/** build-sft on the fixture KB with the real benchmark files, its defaults otherwise. */
async function build(config: Partial<BuildSftConfig> & { out: string }, hooks: Partial<BuildSftHooks> = {}) {
  return buildSftDatasets(
    { ...BUILD_SFT_DEFAULTS, kb: fixture("mind_small.csv"), data: intentionqaDir(), ...config },
    { log: () => {}, ...hooks },
  );
}

/** build-sft where no IntentionQA can be found: no --data, an empty environment and cache. */
async function buildWithoutBenchmark(config: Partial<BuildSftConfig> & { out: string }, log: (line: string) => void = () => {}) {
  return buildSftDatasets({ ...BUILD_SFT_DEFAULTS, kb: fixture("mind_small.csv"), cacheDir: await tempDir(), ...config }, { log, env: {} });
}

describe("appendix D template", () => {
  it("the question is the paper's, with the two product names", () => {
    expect(sftInstruction(" Yoga Mat ", "Water Bottle")).toBe(
      "Q: customer buys Yoga Mat and Water Bottle. What is the most likely intention for buying them?",
    );
  });

  it("the answer is the intention with a closing period, never a doubled one", () => {
    expect(sftOutput("they both can keep a commuter connected")).toBe("they both can keep a commuter connected.");
    expect(sftOutput("they are both used for travel. ")).toBe("they are both used for travel.");
    expect(sftOutput("a long, hilly trail race!")).toBe("a long, hilly trail race!");
    expect(sftOutput('they are both "gifts."')).toBe('they are both "gifts."');
    expect(sftOutput("they both are a type of U.S.B")).toBe("they both are a type of U.S.B.");
  });

  it("alpaca record: instruction, empty input, output", () => {
    expect(alpacaRecord("A", "B", "x")).toEqual({ instruction: sftInstruction("A", "B"), input: "", output: "x." });
  });
});

describe("recipes", () => {
  const context: RecipeContext = { criticThreshold: 0.8, criticScore: (r) => r.critic_score };

  it("several recipes, in order, without repeats; an unknown one lists the recipes", () => {
    expect(parseRecipes("mind, unfiltered,mind").map((r) => r.name)).toEqual(["mind", "unfiltered"]);
    expect(() => parseRecipes("mind,best")).toThrow(/--recipe "best" is not a recipe: expected mind, unfiltered, unimodal, critic/);
    expect(() => parseRecipes(" , ")).toThrow(/--recipe is empty/);
  });

  it("mind and unimodal keep what the role-aware filter accepted; unfiltered keeps everything", () => {
    const yes = record({ Agreement: "**Yes**, both are trail gear." });
    const no = record({ Agreement: "No, yes-men would not buy them." });
    for (const recipe of [RECIPES.mind, RECIPES.unimodal]) {
      expect(recipe.judge(yes, 0, context)).toBeNull();
      expect(recipe.judge(no, 0, context)).toBe("filterRejected");
    }
    expect(RECIPES.unfiltered.judge(no, 0, context)).toBeNull();
    expect(RECIPES.unimodal.expects).toMatch(/text-only KB/);
  });

  it("critic keeps scores at or above the threshold, whatever the filter said", () => {
    expect(RECIPES.critic.judge(record({ Agreement: "No" }, { critic_score: 0.8 }), 0, context)).toBeNull();
    expect(RECIPES.critic.judge(record({}, { critic_score: 0.79 }), 0, context)).toBe("belowCriticThreshold");
    expect(RECIPES.critic.judge(record(), 0, context)).toBe("missingCriticScore");
  });
});

describe("fingerprint table (dedup)", () => {
  it("add says whether the key is new, across growth, with values kept", () => {
    const table = new FingerprintTable({ withValues: true });
    for (let i = 0; i < 50_000; i++) expect(table.add(fingerprint(`record ${i}`), i)).toBe(true);
    for (let i = 0; i < 50_000; i += 997) {
      expect(table.add(fingerprint(`record ${i}`))).toBe(false);
      expect(table.get(fingerprint(`record ${i}`))).toBe(i);
    }
    expect(table.has(fingerprint("record 50000"))).toBe(false);
    expect(table.size).toBe(50_000);
  });

  it("the all-zero fingerprint is a key like any other", () => {
    const table = new FingerprintTable();
    expect(table.add({ hi: 0, lo: 0 })).toBe(true);
    expect(table.has({ hi: 0, lo: 0 })).toBe(true);
    expect(table.add({ hi: 0, lo: 0 })).toBe(false);
  });
});

describe("decontamination", () => {
  it("names are compared lower-cased, without punctuation, entities or extra spaces", () => {
    expect(normaliseProductName("Pioneer TS-A1686R A-Series 6.5&quot; 350-Watt  4-Way Speakers")).toBe(
      "pioneer ts a1686r a series 6 5 350 watt 4 way speakers",
    );
    expect(normaliseProductName('PIONEER TS-A1686R A-Series 6.5" 350-Watt 4-Way  Speakers')).toBe(
      "pioneer ts a1686r a series 6 5 350 watt 4 way speakers",
    );
  });

  it("a pair is contaminated by item ids or by names, in either order", () => {
    const index = new ContaminationIndex([{ itemAId: "A1", itemBId: "B1", itemAName: "Red Mug", itemBName: "Tea, Green" }]);
    expect(index.isContaminated("B1", "A1", "x", "y")).toBe(true);
    expect(index.isContaminated("Z1", "Z2", "tea green", "RED  MUG")).toBe(true);
    expect(index.isContaminated("A1", "Z2", "Red Mug", "Coffee")).toBe(false);
  });

  it("the overlap counts distinct scored questions per task, not rows or pairs", () => {
    const index = new ContaminationIndex([
      { itemAId: "A1", itemBId: "B1", itemAName: "Red Mug", itemBName: "Tea", scoredIn: { task: "understanding", id: "FS_1" } },
      { itemAId: "A1", itemBId: "B1", itemAName: "Red Mug", itemBName: "Tea", scoredIn: { task: "understanding", id: "FS_2" } },
      { itemAId: "A1", itemBId: "B1", itemAName: "Red Mug", itemBName: "Tea", scoredIn: { task: "utilization", id: "FS_1" } },
      // Unscored (fewer than 4 options) or by-relation: dropped by --decontaminate, never counted.
      { itemAId: "C1", itemBId: "D1", itemAName: "Pen", itemBName: "Ink" },
    ]);
    expect(index.scoredTotals).toEqual({ understanding: 2, utilization: 1 });
    const counter = new OverlapCounter(index);
    counter.add(index.scoredQuestions("B1", "A1", "", ""));
    counter.add(index.scoredQuestions("Z", "Z", "tea", "red mug")); // the same questions again, by name
    counter.add(index.scoredQuestions("C1", "D1", "Pen", "Ink"));
    expect(index.isContaminated("C1", "D1", "", "")).toBe(true);
    expect(counter.result()).toEqual({ understanding: { questions: 2, scored: 2 }, utilization: { questions: 1, scored: 1 } });
  });

  it("the real IntentionQA files: all three are loaded, and their pairs are found", async () => {
    const index = await loadContaminationIndex(intentionqaDir());
    expect(index.size.idPairs).toBeGreaterThan(1300);
    // "n of 2245" / "n of 2143": the scored questions of the two tasks (intentionqa.md).
    expect(index.scoredTotals).toEqual({ understanding: 2245, utilization: 2143 });
    expect(index.isContaminated("B00N9HRTFU", "B00000J1U8", "", "")).toBe(true);
    // Only in the by-relation file, with an HTML entity in the released name.
    expect(
      index.isContaminated(
        "X1",
        "X2",
        'PIONEER TS-A1686R A-Series 6.5" 350-Watt 4-Way Speakers',
        "Pioneer TS-SW2002D2 8-inch Shallow-Mount Subwoofer with 600 Watts Max Power",
      ),
    ).toBe(true);
  });
});

describe("dataset_info.json", () => {
  it("merging keeps other datasets and replaces our own entry", () => {
    const merged = mergeDatasetInfo(
      { alpaca_en: { file_name: "alpaca.json" }, intentionqa_mind: { file_name: "old.jsonl" } },
      { intentionqa_mind: alpacaEntry("intentionqa_mind.jsonl") },
    );
    expect(merged).toEqual({
      alpaca_en: { file_name: "alpaca.json" },
      intentionqa_mind: {
        file_name: "intentionqa_mind.jsonl",
        formatting: "alpaca",
        columns: { prompt: "instruction", query: "input", response: "output" },
      },
    });
  });

  it("an invalid registry is an error and is left alone", async () => {
    const dir = await tempDir();
    writeFileSync(join(dir, "dataset_info.json"), "{ not json");
    await expect(readDatasetInfo(dir)).rejects.toThrow(/dataset_info\.json is not valid JSON/);
    await expect(build({ out: dir })).rejects.toThrow(/not valid JSON/);
    expect(readFileSync(join(dir, "dataset_info.json"), "utf8")).toBe("{ not json");
    expect(readdirSync(dir)).toEqual(["dataset_info.json"]);
  });
});

describe("buildSftDatasets on the fixture KB", () => {
  it("mind: filter, decontamination (ids and names), dedup and empty intentions, with stats per relation", async () => {
    const out = await tempDir();
    const result = await build({ out, decontaminate: true });
    const [built] = result.datasets;
    expect(built!.key).toBe("intentionqa_mind");
    const records = readJsonl(join(out, "intentionqa_mind.jsonl"));
    expect(records).toEqual([
      {
        instruction:
          "Q: customer buys Sony WH-1000XM4 Headphones, Black and Anker 60W USB-C Charger. What is the most likely intention for buying them?",
        input: "",
        output: 'the potential co-buy intention could be they are both used for "travel" listening, charging on the go.',
      },
      {
        instruction:
          "Q: customer buys Sony WH-1000XM4 Headphones, Black and Anker 60W USB-C Charger. What is the most likely intention for buying them?",
        input: "",
        output: "the potential co-buy intention could be they both can keep a commuter connected.",
      },
      {
        instruction: "Q: customer buys Trail Running Shoes and Hydration Vest, 5L. What is the most likely intention for buying them?",
        input: "",
        output: "the potential co-buy intention could be\ngetting ready for a long, hilly trail race!",
      },
    ]);
    const stats = JSON.parse(readFileSync(join(out, "intentionqa_mind.stats.json"), "utf8")) as SftStats;
    expect(stats.rows.read).toBe(8);
    expect(stats.rows.kept).toBe(3);
    expect(stats.rows.dropped).toMatchObject({ contaminated: 2, duplicate: 1, filterRejected: 1, emptyIntention: 1, badRow: 0 });
    expect(stats.decontamination).toMatchObject({ enabled: true, dropped: 2 });
    expect(stats.benchmarkOverlap).toEqual({ understanding: { questions: 0, scored: 2245 }, utilization: { questions: 0, scored: 2143 } });
    expect(stats.perRelation["open"]).toEqual({ read: 2, filterAccepted: 1, preserveRate: 0.5, kept: 1 });
    expect(stats.perRelation["isA"]).toEqual({ read: 2, filterAccepted: 2, preserveRate: 1, kept: 0 });
    expect(stats.filterPreserveRate).toBeCloseTo(7 / 8);
    const info = JSON.parse(readFileSync(join(out, "dataset_info.json"), "utf8")) as Record<string, unknown>;
    expect(info).toEqual({ intentionqa_mind: alpacaEntry("intentionqa_mind.jsonl") });
  });

  it("several recipes in one pass, --name as a prefix, other registry keys kept", async () => {
    const out = await tempDir();
    writeFileSync(join(out, "dataset_info.json"), JSON.stringify({ alpaca_en: { file_name: "alpaca.json" } }));
    const result = await build({ out, recipes: ["mind", "unfiltered"], name: "kb1", decontaminate: true });
    expect(result.datasets.map((d) => [d.key, d.stats.rows.kept])).toEqual([
      ["kb1_mind", 3],
      ["kb1_unfiltered", 4],
    ]);
    expect(result.datasets[1]!.stats.rows.dropped).toMatchObject({ filterRejected: 0, contaminated: 2, duplicate: 1, emptyIntention: 1 });
    const info = JSON.parse(readFileSync(join(out, "dataset_info.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys(info)).toEqual(["alpaca_en", "kb1_mind", "kb1_unfiltered"]);
  });

  it("by default (the paper's setting) the benchmark pairs are kept, and the scored questions they make are counted", async () => {
    const out = await tempDir();
    const result = await build({ out });
    const stats = result.datasets[0]!.stats;
    expect(stats.rows.kept).toBe(5);
    expect(stats.decontamination).toMatchObject({ enabled: false, dropped: 0 });
    // Counted from the files here, independently: the fixture's two benchmark pairs (one by ids,
    // one by names only) are the pairs of these scored questions.
    const expected = async (task: "understanding" | "utilization") => {
      const questions = (await loadQuestions(join(intentionqaDir(), INTENTIONQA_FILES[task].fileName), task)).filter(isScored);
      const hits = questions.filter(
        (q) =>
          [q.itemAId, q.itemBId].sort().join() === "B00000J1U8,B00N9HRTFU" ||
          (/TS-A1686R/.test(q.itemAName + q.itemBName) && /TS-SW2002D2/.test(q.itemAName + q.itemBName)),
      );
      return { questions: new Set(hits.map((q) => q.id)).size, scored: questions.length };
    };
    expect(stats.benchmarkOverlap).toEqual({ understanding: await expected("understanding"), utilization: await expected("utilization") });
    expect(stats.benchmarkOverlap!.understanding.questions).toBeGreaterThan(0);
  });

  it("the count is per recipe: rows a recipe drops do not count", async () => {
    const dir = await tempDir();
    const kb = join(dir, "kb.csv");
    // The benchmark pair FS_1 (ids) with an intention the role-aware filter rejected.
    writeFileSync(
      kb,
      `${KB_COLUMNS.join(",")}\nB00N9HRTFU,B00000J1U8,Cable,Cable,isA,d,d,the potential co-buy intention could be cables.,t,"No, not really."\n`,
    );
    const result = await build({ out: join(dir, "out"), kb, recipes: ["mind", "unfiltered"] });
    const [mind, unfiltered] = result.datasets.map((d) => d.stats.benchmarkOverlap!);
    expect(mind!.understanding.questions).toBe(0);
    expect(unfiltered!.understanding.questions).toBe(3);
    expect(unfiltered!.utilization.questions).toBe(3);
  });

  it("without the benchmark data a build still succeeds, saying the overlap was not counted", async () => {
    const lines: string[] = [];
    const result = await buildWithoutBenchmark({ out: await tempDir() }, (l) => lines.push(l));
    const stats = result.datasets[0]!.stats;
    expect(stats.benchmarkOverlap).toBeNull();
    expect(stats.benchmarkOverlapUnavailable).toMatch(/IntentionQA not found/);
    expect(lines.join("\n")).toMatch(/warning: IntentionQA not found.*harness data fetch intentionqa/s);
  });

  it("critic scores from a side file keyed by content, or by row index", async () => {
    const byContent = await build({
      out: await tempDir(),
      recipes: ["critic"],
      criticFile: fixture("critic_side.csv"),
      decontaminate: true,
    });
    const stats = byContent.datasets[0]!.stats;
    expect(stats.rows.kept).toBe(2);
    expect(stats.rows.dropped).toMatchObject({ missingCriticScore: 4, belowCriticThreshold: 1, emptyIntention: 1 });
    expect(stats.options.criticSource).toMatch(/keyed by content/);
    const byRow = await build({ out: await tempDir(), recipes: ["critic"], criticFile: fixture("critic_by_row.csv"), decontaminate: true });
    expect(byRow.datasets[0]!.stats.rows.dropped).toMatchObject({ missingCriticScore: 3, belowCriticThreshold: 2, emptyIntention: 1 });
    expect(readJsonl(byRow.datasets[0]!.file).map((r) => r["output"])).toEqual([
      'the potential co-buy intention could be they are both used for "travel" listening, charging on the go.',
      "the potential co-buy intention could be they both can keep a commuter connected.",
    ]);
  });

  it("critic scores from the JSONL KB, with the threshold as given; unimodal records text_only counts", async () => {
    const out = await tempDir();
    const result = await build({
      out,
      kb: fixture("mind_small.jsonl"),
      recipes: ["critic", "unimodal"],
      criticThreshold: 0.85,
      decontaminate: false,
    });
    const [critic, unimodal] = result.datasets;
    expect(critic!.stats.rows.kept).toBe(2);
    expect(critic!.stats.rows.dropped).toMatchObject({ belowCriticThreshold: 1, missingCriticScore: 1 });
    expect(unimodal!.stats.textOnly).toEqual({ yes: 3, no: 0, unknown: 1 });
    expect(unimodal!.stats.expects).toMatch(/text-only/);
  });

  it("a critic column is read only for the critic recipe, where a bad score names its line", async () => {
    const dir = await tempDir();
    const kb = join(dir, "kb.csv");
    writeFileSync(
      kb,
      `${KB_COLUMNS.join(",")},critic_score\nA1,B1,Mug,Tea,isA,d,d,the potential co-buy intention could be tea time.,t,"Yes, tea.",n/a\n`,
    );
    const mind = await build({ out: join(dir, "out"), kb, decontaminate: false });
    expect(mind.datasets[0]!.stats.rows.kept).toBe(1);
    await expect(build({ out: join(dir, "out"), kb, recipes: ["critic"], decontaminate: false })).rejects.toThrow(
      /kb\.csv:2: column critic_score: critic score "n\/a" is not a number in 0\.\.1/,
    );
  });

  it("the critic recipe without any scores is an error", async () => {
    const out = await tempDir();
    await expect(build({ out, recipes: ["critic"] })).rejects.toThrow(/header has no column "critic_score"/);
    expect(existsSync(join(out, "dataset_info.json"))).toBe(false);
  });

  it("a failure mid-file registers nothing and leaves no temp files", async () => {
    const out = await tempDir();
    writeFileSync(join(out, "dataset_info.json"), '{"alpaca_en":{"file_name":"alpaca.json"}}');
    await expect(build({ out, kb: fixture("wrong_column_count.csv") })).rejects.toThrow(/wrong_column_count\.csv:4/);
    expect(readdirSync(out)).toEqual(["dataset_info.json"]);
    expect(readFileSync(join(out, "dataset_info.json"), "utf8")).toBe('{"alpaca_en":{"file_name":"alpaca.json"}}');
  });

  it("an aborted build (Ctrl-C) removes its temp files and registers nothing", async () => {
    const out = await tempDir();
    await expect(build({ out }, { signal: AbortSignal.abort() })).rejects.toThrow(/interrupted/);
    expect(readdirSync(out)).toEqual([]);
  });

  it("with skipBadRows the bad rows are counted and shown", async () => {
    const result = await build({ out: await tempDir(), kb: fixture("wrong_column_count.csv"), skipBadRows: true, decontaminate: false });
    const stats = result.datasets[0]!.stats;
    expect(stats.rows).toMatchObject({ read: 3, kept: 2 });
    expect(stats.rows.dropped.badRow).toBe(1);
    expect(stats.badRowExamples).toEqual([expect.stringMatching(/wrong_column_count\.csv:4: expected 10 columns/)]);
  });

  it("--decontaminate without the benchmark data: the error says how to get it or to leave the flag out", async () => {
    const out = await tempDir();
    await expect(buildWithoutBenchmark({ out, decontaminate: true })).rejects.toThrow(
      /harness data fetch intentionqa.*leave out --decontaminate/s,
    );
  });
});

/** An Io whose two streams are kept as text. */
function capturedIo(): { io: Io; stdout: () => string; stderr: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { stdout: "", stderr: "" };
  stdout.on("data", (chunk: Buffer) => (text.stdout += chunk.toString()));
  stderr.on("data", (chunk: Buffer) => (text.stderr += chunk.toString()));
  return { io: { stdout, stderr: stderr as unknown as NodeJS.WriteStream }, stdout: () => text.stdout, stderr: () => text.stderr };
}

describe("runBuildSft(config, io) without the CLI", () => {
  it("prints the summary to io.stdout and the progress to io.stderr, and gives Ctrl-C back", async () => {
    const out = await tempDir();
    const sigintListeners = process.listenerCount("SIGINT");
    const captured = capturedIo();
    const config = { ...BUILD_SFT_DEFAULTS, kb: fixture("mind_small.csv"), data: intentionqaDir(), out };
    const result = await runBuildSft(config, captured.io);
    expect(result.datasets.map((d) => d.key)).toEqual(["intentionqa_mind"]);
    expect(captured.stdout()).toMatch(/^intentionqa_mind \(mind\): 5 of 8 rows kept -> /);
    expect(captured.stdout().endsWith(`\nregistered in ${join(out, "dataset_info.json")}\n`)).toBe(true);
    expect(captured.stderr()).toMatch(/^counting \(not dropping\) the benchmark pairs of IntentionQA in /);
    expect(process.listenerCount("SIGINT")).toBe(sigintListeners);

    const json = capturedIo();
    const again = await runBuildSft({ ...config, out: await tempDir(), json: true }, json.io);
    expect(JSON.parse(json.stdout())).toEqual(again.datasets.map((d) => d.stats));
  });
});
