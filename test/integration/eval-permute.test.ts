import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isScored, loadQuestions, type Question } from "../../harness/benchmark/intentionqa.ts";
import { INTENTIONQA_FILES, type TaskName } from "../../harness/benchmark/tasks.ts";
import { buildPrompt } from "../../harness/prompts/intentionqa.ts";
import type { ReportDiff } from "../../harness/reports/diff.ts";
import { reportSchema, type EvalReport } from "../../harness/reports/schema.ts";
import { evalAgainst, runHarness } from "../helpers/cli.ts";
import { promptOf, startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";
import { intentionqaDir } from "../helpers/paths.ts";

/**
 * `eval --permute-options SEED` against a server that reads the options' texts: an oracle that
 * always picks the gold text stays at 100 % whatever the order, a model that always says "A" does
 * not, and `harness diff` of the official order against the permuted run pairs every question.
 */

const LIMIT = 150;
const TASKS: TaskName[] = ["understanding", "utilization"];

/** The prompt before its options (each stem ends where "A. " starts a line). */
const stemOf = (prompt: string) => prompt.slice(0, prompt.indexOf("\nA. ") + 1);
/** The options block split into letter -> text (no option text in the data holds a line break). */
function optionsOf(prompt: string): Array<[string, string]> {
  const block = prompt.slice(stemOf(prompt).length, prompt.lastIndexOf("\nAnswer "));
  return block.split("\n").map((line) => {
    const match = /^([A-Z])\. (.*)$/.exec(line);
    if (!match) throw new Error(`not an option line: ${line}`);
    return [match[1]!, match[2]!];
  });
}
/** A question known by its stem and its set of option texts, in whatever order they are shown. */
const keyOf = (prompt: string) =>
  `${stemOf(prompt)}\u0000${optionsOf(prompt)
    .map(([, text]) => text)
    .sort()
    .join("\u0000")}`;

let goldText: Map<string, string>;
let official: Map<TaskName, Question[]>;
let oracle: TestServer;
let saysA: TestServer;
let out: string;
let cache: string;

beforeAll(async () => {
  goldText = new Map();
  official = new Map();
  for (const task of TASKS) {
    const questions = (await loadQuestions(join(intentionqaDir(), INTENTIONQA_FILES[task].fileName), task)).filter(isScored);
    official.set(task, questions);
    for (const q of questions) goldText.set(keyOf(buildPrompt(q, "zero-shot")), q.options.find(([l]) => l === q.gold)![1]);
  }
  oracle = await startOpenAIServer({
    chat: (body) => {
      const prompt = promptOf(body);
      const gold = goldText.get(keyOf(prompt));
      return optionsOf(prompt).find(([, text]) => text === gold)?.[0] ?? "?";
    },
  });
  saysA = await startOpenAIServer({ chat: () => "A" });
  out = await mkdtemp(join(tmpdir(), "harness-permute-"));
  cache = await mkdtemp(join(tmpdir(), "harness-permute-cache-"));
});

afterAll(async () => {
  await oracle?.close();
  await saysA?.close();
});

const evalRun = async (server: TestServer, runId: string, extra: string[] = []): Promise<EvalReport> => {
  const result = await runHarness([
    ...evalAgainst(server.url, out, cache),
    ...["--task", "all", "--limit", String(LIMIT), "--run-id", runId, "--json", ...extra],
  ]);
  expect(result.exitCode, result.stderr).toBe(0);
  return reportSchema.parse(JSON.parse(result.stdout));
};

interface Sample {
  task: TaskName;
  id: string;
  gold: string;
  letters: string[];
  permutation?: string[];
  messages: Array<{ content: string }>;
}
const samplesOf = async (runId: string): Promise<Sample[]> =>
  (await readFile(join(out, runId, "samples.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Sample);

/** `harness diff --format json` of two runs; with `text`, the terminal rendering too. */
const diff = async (base: string, head: string, text = false) => {
  const json = await runHarness(["diff", join(out, base), join(out, head), "--format", "json"]);
  const rendered = text ? await runHarness(["diff", join(out, base), join(out, head)]) : null;
  return { exitCode: json.exitCode, diff: JSON.parse(json.stdout) as ReportDiff, stdout: rendered?.stdout ?? "" };
};

/** Each test runs the CLI several times over a few hundred questions: minutes on a loaded machine. */
const SLOW = 300_000;

describe("eval --permute-options", () => {
  it(
    "an oracle stays at 100 % under permutation; the report and samples record the seed and each permutation",
    async () => {
      const base = await evalRun(oracle, "official");
      const permuted = await evalRun(oracle, "permuted", ["--permute-options", "7"]);
      for (const report of [base, permuted])
        expect(report.results.map((r) => [r.task, r.splits.avg!.n, r.splits.avg!.parses["official"]!.accuracy])).toEqual([
          ["understanding", LIMIT, 100],
          ["utilization", LIMIT, 100],
        ]);
      expect(base.config).not.toHaveProperty("permuteOptions");
      expect(permuted.config.permuteOptions).toBe(7);

      const officialSamples = await samplesOf("official");
      const permutedSamples = await samplesOf("permuted");
      expect(officialSamples.every((s) => s.permutation === undefined)).toBe(true);
      // The official order's prompts are the benchmark's, byte for byte.
      for (const sample of officialSamples) {
        const question = official.get(sample.task)!.find((q) => q.id === sample.id)!;
        expect(sample.messages[0]!.content).toBe(buildPrompt(question, "zero-shot"));
        expect(sample.gold).toBe(question.gold);
      }
      let reordered = 0;
      for (const sample of permutedSamples) {
        const question = official.get(sample.task)!.find((q) => q.id === sample.id)!;
        // The permutation maps the shown gold letter back to the file's, and every shown option to its text.
        expect(sample.permutation![sample.letters.indexOf(sample.gold)]).toBe(question.gold);
        const shown = optionsOf(sample.messages[0]!.content);
        expect(shown.map(([, text]) => text)).toEqual(
          sample.permutation!.map((letter) => question.options.find(([l]) => l === letter)![1]),
        );
        if (sample.messages[0]!.content !== buildPrompt(question, "zero-shot")) reordered++;
      }
      expect(reordered).toBeGreaterThan(0.9 * permutedSamples.length);

      // Paired by question id: every question in both, none flipped, and the diff says what differs.
      const compared = await diff("official", "permuted", true);
      expect(compared.exitCode).toBe(0);
      for (const task of compared.diff.tasks) {
        expect(task.onlyInBase).toEqual([]);
        expect(task.onlyInHead).toEqual([]);
        expect(task.splits.find((s) => s.split === "avg")!.paired).toMatchObject({ n: LIMIT, baseOnly: 0, headOnly: 0 });
      }
      expect(compared.diff.changes).toContainEqual({ what: "option order", base: "official", head: "permuted (seed 7)" });
      expect(compared.stdout).toContain("option order: official -> permuted (seed 7)");

      // A rerun with the same seed asks nothing again (the permuted prompts are cached under their own keys).
      const rerun = await runHarness([
        ...evalAgainst(oracle.url, out, cache),
        ...["--task", "all", "--limit", String(LIMIT), "--run-id", "permuted-again", "--json", "--permute-options", "7"],
      ]);
      expect(reportSchema.parse(JSON.parse(rerun.stdout)).requests).toMatchObject({ sent: 0, cacheHits: 2 * LIMIT });
    },
    SLOW,
  );

  it(
    "a model that always says A: its accuracy follows the gold letters, and diff pairs the questions that flipped",
    async () => {
      const base = await evalRun(saysA, "a-official");
      const permuted = await evalRun(saysA, "a-permuted", ["--permute-options", "7"]);
      const compared = await diff("a-official", "a-permuted");
      for (const task of TASKS) {
        const goldA = (samples: Sample[]) => samples.filter((s) => s.task === task && s.gold === "A").map((s) => s.id);
        const before = new Set(goldA(await samplesOf("a-official")));
        const after = new Set(goldA(await samplesOf("a-permuted")));
        const correct = (r: EvalReport) => r.results.find((x) => x.task === task)!.splits.avg!.parses["official"]!.correct;
        expect(correct(base)).toBe(before.size);
        expect(correct(permuted)).toBe(after.size);
        const avg = compared.diff.tasks.find((t) => t.task === task)!.splits.find((s) => s.split === "avg")!;
        expect(avg.paired).toMatchObject({
          n: LIMIT,
          baseOnly: [...before].filter((id) => !after.has(id)).length,
          headOnly: [...after].filter((id) => !before.has(id)).length,
        });
        expect(avg.paired.baseOnly + avg.paired.headOnly).toBeGreaterThan(0);
      }
    },
    SLOW,
  );

  it(
    "refuses a seed that is not an integer >= 0, naming the flag",
    async () => {
      for (const bad of ["-1", "1.5", "seven"]) {
        const result = await runHarness([
          "eval",
          "--task",
          "understanding",
          "--data",
          intentionqaDir(),
          "--out",
          out,
          "--permute-options",
          bad,
        ]);
        expect(result.exitCode, bad).toBe(2);
        expect(result.stderr).toMatch(/--permute-options (must be an integer >= 0|expects a number)/);
      }
    },
    SLOW,
  );
});
