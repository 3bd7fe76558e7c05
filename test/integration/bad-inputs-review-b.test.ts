/**
 * The bad-input table of the second hostile review (issue 17, acceptance): cases no other table
 * lists, found by running the real CLI against odd flags, odd report.json files and odd servers.
 * Each row is a case that was wrong before the review (a crash, a hang, a misleading message or a
 * silent wrong number) or a neighbour of one that shows the fix holds across commands.
 *
 * Reports edited here are real ones written by `harness eval` (the majority baseline, --limit 40),
 * named *.json rather than report.json so that the table's "no finished report left" check looks
 * only at what a run wrote.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { EvalReport } from "../../harness/reports/schema.ts";
import { type BadInputCase, badInputTable } from "../helpers/bad-input-table.ts";
import { runHarness } from "../helpers/cli.ts";
import { evalBaselines } from "../helpers/reports.ts";

let made: Promise<string> | undefined;

/** The majority baseline's report over both tasks, --limit 40, made once. */
function majorityReport(): Promise<string> {
  made ??= (async () => (await evalBaselines(await mkdtemp(join(tmpdir(), "harness-review-b-")), { limit: 40 })).majority)();
  return made;
}

/** The real report after `change`: what a hand edit leaves. */
function edited(change: (report: EvalReport) => void): () => Promise<string> {
  return async () => {
    const report = JSON.parse(await readFile(await majorityReport(), "utf8")) as EvalReport;
    change(report);
    return `${JSON.stringify(report, null, 2)}\n`;
  };
}

/** A request cache folder whose one identity's log is a FIFO: opening it to read waits for a writer forever. */
const FIFO_CACHE = mkdtempSync(join(tmpdir(), "harness-review-b-fifo-"));
mkdirSync(join(FIFO_CACHE, "requests"));
execFileSync("mkfifo", [join(FIFO_CACHE, "requests", "bbbbbbbbbbbbbbbbbbbb.jsonl")]);

const EVAL =
  "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --model baseline:majority";

const CASES: Record<string, BadInputCase> = {
  // Number flags: yargs reads "" as 0 and "0x10" as 16; only a decimal number is taken.
  "eval --limit 0x10 (hex) is not a decimal number": {
    args: `${EVAL} --limit 0x10`,
    exit: 2,
    message: '--limit expects a number, got "0x10"',
  },
  "eval --seed 0b11 (binary) is not a decimal number": {
    args: `${EVAL} --seed 0b11`,
    exit: 2,
    message: '--seed expects a number, got "0b11"',
  },
  "eval --concurrency Infinity is not a number": {
    args: `${EVAL} --concurrency Infinity`,
    exit: 2,
    message: '--concurrency "Infinity": expected N',
  },
  "distill --concurrency 0o20 (octal) is not a decimal number": {
    args: "distill --records {file} --base-url {url} --model test-model --out {dir}/kb --concurrency 0o20",
    exit: 2,
    message: '--concurrency "0o20": expected N',
  },
  "diff --max-drop 0x1 is not a decimal number": {
    args: "diff {dir}/a.json {dir}/a.json --max-drop 0x1",
    exit: 2,
    message: '--max-drop expects a number, got "0x1"',
    files: { "a.json": edited(() => {}) },
  },
  "eval --ids given a file's path without @ says how a file is given (it read as one unknown id)": {
    args: `${EVAL} --ids {dir}/ids.txt`,
    exit: 2,
    message: "ids.txt (to read ids from a file, write --ids @PATH)",
    files: { "ids.txt": "FS_1\n" },
  },
  "diff --alpha 1 is inside the range the flag states (it was refused as 'between 0 and 1' after '<= 1' was accepted)": {
    args: "diff {dir}/a.json {dir}/a.json --alpha 1",
    exit: 0,
    message: "",
    files: { "a.json": edited(() => {}) },
  },
  "diff --alpha 1.5 names the flag's one range": {
    args: "diff {dir}/a.json {dir}/a.json --alpha 1.5",
    exit: 2,
    message: "--alpha must be a number > 0 and <= 1, got 1.5",
    files: { "a.json": edited(() => {}) },
  },
  "eval --run-id with an escape sequence (it became a folder name with ESC in it)": {
    args: `${EVAL} --limit 2 --run-id a\u001b[2Jb`,
    exit: 2,
    message: '--run-id "a\\u001b[2Jb": expected a folder name (no / or \\, no control characters)',
  },
  "model fetch ../../etc is not a repo id (the client library's 'Too many slashes', exit 1)": {
    args: "model fetch ../../etc --cache-dir {dir}/hf --hub-url {authRoot}",
    exit: 2,
    message: 'model fetch "../../etc": expected a Hub repo id such as org/name',
  },

  // Numbers inside files, read as a person means them (Number() read "0x1" as 1).
  "build-sft: a critic score written 0x1 is not a score (it was 1, and the row kept)": {
    args: "build-sft --kb {dir}/kb.jsonl --out {dir}/sft --no-decontaminate --recipe critic --critic-file {dir}/critic.csv",
    exit: 1,
    message: 'critic score "0x1" is not a number in 0..1',
    files: {
      "kb.jsonl": `${JSON.stringify({ id_a: "A1", id_b: "B1", Product_a: "Shoe", Product_b: "Sock", Relation: "usedFor", product_a_desc: "a shoe", product_b_desc: "a sock", Intention: "they are both used for running", tail: "because", Agreement: "Yes" })}\n`,
      "critic.csv": "row,critic_score\n0,0x1\n",
    },
  },
  "eval: a difficulty file whose similarity is 0x0 is not a similarity": {
    args: `${EVAL} --limit 2 --difficulty-file {dir}/levels.csv`,
    exit: 1,
    message: 'expected a similarity (a number) or a level (easy, medium, hard), got "0x0"',
    files: { "levels.csv": "id,similarity\nFS_1,0x0\n" },
  },

  // Reports: a task cut out of results while config.tasks still lists it.
  "report: a report whose results were emptied is refused, not shown as a complete empty run": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "config.tasks lists understanding, utilization but results have no such task",
    files: { "r.json": edited((r) => void (r.results = [])) },
  },
  "diff: a head with one task cut out names the cut, not a lost task": {
    args: "diff {dir}/a.json {dir}/b.json --allow-partial",
    exit: 2,
    message: "{dir}/b.json: config.tasks lists utilization but results have no such task",
    files: {
      "a.json": edited(() => {}),
      "b.json": edited((r) => void (r.results = r.results.filter((t) => t.task !== "utilization"))),
    },
  },

  // Server answers far longer than asked for (max_tokens ignored), under the body cap.
  "eval: a 20 MiB answer is scored, and the run's samples stay readable by report (they were a 20 MiB line it refused)": {
    args: `${EVAL.replace("baseline:majority", "openai:huge")} --base-url {url} --limit 2 --run-id h`,
    exit: 0,
    message: "",
    check: async (_r, { dir }) => {
      expect((await stat(join(dir, "reports", "h", "samples.jsonl"))).size).toBeLessThan(4 * 1024 * 1024);
      const report = await runHarness(["report", join(dir, "reports", "h", "report.json")]);
      expect(report.stderr).toBe("");
      expect(report.exitCode).toBe(0);
    },
  },
  "distill: a 20 MiB stage answer fails its record by cause instead of writing a KB build-sft cannot read": {
    args: "distill --records {dir}/pairs.jsonl --relations usedFor --text-only --base-url {url} --model huge-gen --retries 0 --cache-dir {dir}/cache --out {dir}/kb --progress false",
    exit: 3,
    message: "no KB was written",
    files: { "pairs.jsonl": `${JSON.stringify({ id_a: "A1", id_b: "B1", name_a: "Shoe", name_b: "Sock" })}\n` },
    check: (r) => expect(r.stderr).toContain("more than the 262144 a KB cell takes"),
  },
  "analyze robustness: a 20 MiB regenerated intention fails its row by cause (it was embedded as 'Invalid string length')": {
    args: "analyze robustness --kb {dir}/kb.jsonl --text-only --model huge --base-url {url} --embeddings openai:e --embeddings-base-url {url} --out {dir}/a --sample 2 --retries 0 --cache-dir {dir}/cache",
    exit: 3,
    message: "could not be regenerated",
    files: {
      "kb.jsonl": [1, 2, 3]
        .map(
          (i) =>
            `${JSON.stringify({ id_a: `A${i}`, id_b: `B${i}`, Product_a: "Shoe", Product_b: "Sock", Relation: "usedFor", product_a_desc: "a", product_b_desc: "b", Intention: "wear them", tail: "", Agreement: "Yes, ok" })}\n`,
        )
        .join(""),
    },
    check: (r) => expect(r.stderr).toContain("more than the 262144 a KB cell takes"),
  },

  // The request cache's own files, when something else stands in their place.
  "cache stats: a folder named like a cache log (was exit 70, EISDIR)": {
    args: "cache stats --cache-dir {dir}/cache",
    exit: 1,
    message: "{dir}/cache/requests/aaaaaaaaaaaaaaaaaaaa.jsonl: is a directory, expected a regular file",
    files: { "cache/requests/aaaaaaaaaaaaaaaaaaaa.jsonl/x": "" },
  },
  "cache clear --all: a cache meta file that is a folder (was exit 70 after removing half the cache)": {
    args: "cache clear --all --cache-dir {dir}/cache",
    exit: 1,
    message: "aaaaaaaaaaaaaaaaaaaa.meta.json: is a directory, expected a regular file",
    files: { "cache/requests/aaaaaaaaaaaaaaaaaaaa.jsonl": "", "cache/requests/aaaaaaaaaaaaaaaaaaaa.meta.json/x": "" },
  },
  "cache stats: a cache log that is a FIFO (was a hang)": {
    args: `cache stats --cache-dir ${FIFO_CACHE}`,
    exit: 1,
    message: "bbbbbbbbbbbbbbbbbbbb.jsonl: is a FIFO, expected a regular file",
  },

  // Configs.
  "ablate: a recipe listed twice (was the same cell, folder and key planned twice)": {
    args: "ablate --config {dir}/ablation.yaml --dry-run",
    exit: 2,
    message: "recipes: a recipe is listed twice",
    files: {
      "ablation.yaml":
        "backbones:\n  tiny: {root}/configs/tiny-cpu.yaml\nrecipes: [zero-shot, zero-shot]\nwork_dir: {dir}/runs\nreports_dir: {dir}/reports\n",
    },
  },
};

/** 20 MiB of text: under the 64 MiB body cap, over the 16 MiB a line of samples.jsonl or a KB may be. */
const HUGE = `A${"x".repeat(20 * 1024 * 1024)}`;

badInputTable("bad inputs: second hostile review (inputs, servers, reports)", CASES, {
  models: ["huge", "huge-gen"],
  chat: (body) => {
    if (body["model"] === "huge") return HUGE;
    if (body["model"] === "huge-gen") return /output yes or no/.test(JSON.stringify(body["messages"])) ? "Yes, fine." : `uses it ${HUGE}`;
    return undefined;
  },
});
