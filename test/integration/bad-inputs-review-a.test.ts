/**
 * The bad-input table of a fresh hostile review after the merge (issue 17's acceptance), on
 * outputs, secrets and files people open: cases no class table listed. Every row checks the exit
 * code, the one-line message, no stack and nothing half-written; rows on secrets also check that
 * no secret reaches the terminal or any file the run left.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { RUN_LOCK_FILE } from "../../harness/util/run-lock.ts";
import { join } from "node:path";
import { expect } from "vitest";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import type { CliResult } from "../helpers/cli.ts";
import { type BadInputContext, badInputTable, filesUnder } from "../helpers/bad-input-table.ts";
import { evalBaselines } from "../helpers/reports.ts";

const EVAL1 = "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --limit 2";

/** Secrets written into URLs below: none may be printed or stored, whole or in part. */
const SECRETS = ["pass-part-one", "part-two-after-at", "sk-query-secret-77", "frag-token-secret-88"];

async function noSecretAnywhere(result: CliResult, { dir }: BadInputContext): Promise<void> {
  for (const secret of SECRETS) {
    expect(result.stdout + result.stderr, "terminal").not.toContain(secret);
    for (const file of await filesUnder(dir)) expect(await readFile(file, "latin1"), file).not.toContain(secret);
  }
}

const TINY_CONFIG = () => readFile(join(PROJECT_ROOT, "configs", "tiny-cpu.yaml"), "utf8");

/** The sbatch script printed by --dry-run: every line a comment, a directive or the harness's own. */
function sbatchOf(stdout: string): string[] {
  const at = stdout.indexOf("#!/bin/bash");
  expect(at, "an sbatch script").toBeGreaterThanOrEqual(0);
  return stdout.slice(at).split("\n");
}

/**
 * A cache folder holding FIFOs named as a cache's files: one as a log, one as the meta of a
 * regular log. Opening either would wait for a writer forever.
 */
const FIFO_CACHE = mkdtempSync(join(tmpdir(), "review-fifo-cache-"));
mkdirSync(join(FIFO_CACHE, "requests"));
execFileSync("mkfifo", [join(FIFO_CACHE, "requests", "0123456789abcdef0123.jsonl")]);
writeFileSync(join(FIFO_CACHE, "requests", "0123456789abcdef0124.jsonl"), "");
execFileSync("mkfifo", [join(FIFO_CACHE, "requests", "0123456789abcdef0124.meta.json")]);

/** ESC, BEL, a CR, a lone surrogate and a C1 CSI: none is text an SVG, a TeX file or a terminal can take. */
const CONTROL_LABEL = "\u001b]0;title\u0007x\rY\ud800Z\u009b2J";
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u000c\u000e-\u001f\u007f-\u009f]|[\ud800-\udfff]/;

/** Judgements of two items by two annotators under a relation named with terminal controls. */
const JUDGEMENTS = [
  "item_id,annotator,question,label,relation",
  ...["x:1,a1,plausible,yes", "x:1,a2,plausible,yes", "x:2,a1,plausible,no", "x:2,a2,plausible,yes"].map(
    (line) => `${line},"\u001b]0;title\u0007rel\u009b2J"`,
  ),
].join("\n");

/** Two real reports (the baselines on 20 questions) labelled with CONTROL_LABEL; made once. */
let controlReports: Promise<{ random: string; majority: string }> | undefined;
const CONTROL_REPORT_FILES = {
  "base/report.json": async () => {
    controlReports ??= mkdtemp(join(tmpdir(), "review-reports-")).then((dir) =>
      evalBaselines(dir, { limit: 20, labels: { random: { backbone: CONTROL_LABEL }, majority: { recipe: CONTROL_LABEL } } }),
    );
    return readFile((await controlReports).random);
  },
  "head/report.json": async () => {
    controlReports ??= mkdtemp(join(tmpdir(), "review-reports-")).then((dir) =>
      evalBaselines(dir, { limit: 20, labels: { random: { backbone: CONTROL_LABEL }, majority: { recipe: CONTROL_LABEL } } }),
    );
    return readFile((await controlReports).majority);
  },
};
const REPORT = "report {dir}/base/report.json {dir}/head/report.json";

/** A written file (read as UTF-8 text) holds no raw control and no lone surrogate (U+FFFD in its place). */
async function noRawControls(path: string): Promise<string> {
  const text = await readFile(path, "utf8");
  expect(text, path).not.toMatch(RAW_CONTROL);
  return text;
}

badInputTable("hostile review (outputs, secrets, files people open)", {
  "eval: --base-url whose password holds '@', unreachable": {
    args: `${EVAL1} --model openai:m --base-url http://alice:${SECRETS[0]}@${SECRETS[1]}@127.0.0.1:9/v1`,
    exit: 1,
    message: "cannot reach an OpenAI-compatible server at http://alice:[REDACTED]@127.0.0.1:9/v1",
    check: noSecretAnywhere,
  },
  "eval: --base-url with ?api_key= and #access_token= (kept out of the cache meta too)": {
    args: `${EVAL1} --model openai:m --base-url {url}?api_key=${SECRETS[2]}#access_token=${SECRETS[3]}`,
    exit: 1,
    message: "the server refused the run",
    check: noSecretAnywhere,
  },
  "finetune --slurm: a config file named with line breaks makes no shell command in the sbatch script": {
    args: "finetune --config {dir}/x\nid\n.yaml --recipe mind --slurm --dry-run --dataset-dir {dir}/sft --run-dir {dir}/run",
    files: { "x\nid\n.yaml": TINY_CONFIG },
    exit: 0,
    message: "warning",
    check: ({ stdout }) => {
      const lines = sbatchOf(stdout);
      expect(lines).not.toContain("id");
      expect(stdout).toContain("--job-name=harness-x-id-");
    },
  },
  "finetune --slurm: a --slurm-directive with a line break": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --recipe mind --slurm --dry-run --dataset-dir {dir}/sft --slurm-directive=--time=1\nid",
    exit: 2,
    message: "a line break or control character cannot go into an sbatch directive",
  },
  "finetune --slurm: a --run-dir with a line break (the log path is a directive)": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --recipe mind --slurm --dry-run --dataset-dir {dir}/sft --run-dir {dir}/a\nid",
    exit: 2,
    message: '#SBATCH "--output=',
  },
  "finetune: a config file named with a carriage return adds no key to the train YAML": {
    args: "finetune --config {dir}/y\rkey:value\r.yaml --recipe mind --dry-run --dataset-dir {dir}/sft --run-dir {dir}/run",
    files: { "y\rkey:value\r.yaml": TINY_CONFIG },
    exit: 0,
    message: "warning",
    check: ({ stdout }) => {
      // YAML ends a line at CR too: no line of the train YAML may start outside its comment.
      expect(stdout.split(/\r\n|[\r\n]/).filter((line) => line.startsWith("key"))).toEqual([]);
      expect(stdout).not.toMatch(/\r/);
    },
  },
  "report --format svg --out: control characters in labels leave well-formed XML": {
    args: `${REPORT} --format svg --out {dir}/t.svg`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => {
      const svg = await noRawControls(join(dir, "t.svg"));
      expect(svg).toContain("\\u001b]0;title\\u0007x\\u000dY\ufffdZ\\u009b2J");
    },
  },
  "report --format html --out: control characters in labels are shown, not kept raw": {
    args: `${REPORT} --format html --out {dir}/t.html`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "t.html"))),
  },
  "report --format vega-lite --out: control characters in labels are JSON escapes, read back as they were": {
    args: `${REPORT} --format vega-lite --out {dir}/t.vl.json`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => {
      const text = await noRawControls(join(dir, "t.vl.json"));
      const doc = JSON.parse(text) as { vconcat: Array<{ data: { values: Array<{ series: string }> } }> };
      expect(doc.vconcat.flatMap((c) => c.data.values.map((d) => d.series)).some((s) => s.includes("\u001b]0;title\u0007x"))).toBe(true);
    },
  },
  "report --format latex --out: control characters in labels (TeX refuses them) are shown as text": {
    args: `${REPORT} --format latex --out {dir}/t.tex`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => {
      const tex = await noRawControls(join(dir, "t.tex"));
      expect(tex).toContain("\\textbackslash{}u001b]0;title");
    },
  },
  "report --format csv --out: control characters in labels are shown, so a cat of the file runs nothing": {
    args: `${REPORT} --format csv --out {dir}/t.csv`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "t.csv"))),
  },
  "report --format markdown --out: control characters in labels are shown": {
    args: `${REPORT} --format markdown --out {dir}/t.md`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "t.md"))),
  },
  "cache stats: FIFOs named as a cache's log or meta are refused, not read (no hang)": {
    args: `cache stats --cache-dir ${FIFO_CACHE}`,
    exit: 1,
    message: "is a FIFO, expected a regular file",
  },
  "cache clear --all: FIFOs named as a cache's files are refused before anything is removed": {
    args: `cache clear --all --cache-dir ${FIFO_CACHE}`,
    exit: 1,
    message: "is a FIFO, expected a regular file",
    check: () => {
      expect(existsSync(join(FIFO_CACHE, "requests", "0123456789abcdef0123.jsonl"))).toBe(true);
      expect(existsSync(join(FIFO_CACHE, "requests", "0123456789abcdef0124.jsonl"))).toBe(true);
    },
  },
  "eval: --run-id with a line break": {
    args: `${EVAL1} --run-id a\nb`,
    exit: 2,
    message: '--run-id "a\\nb": expected a folder name',
  },
  "eval: a lock whose pid now belongs to another live process says how to free the folder": {
    args: `${EVAL1} --model baseline:random --run-id r`,
    exit: 1,
    message: `(if that run is gone, remove {dir}/reports/r/${RUN_LOCK_FILE})`,
    files: {
      [`reports/r/${RUN_LOCK_FILE}`]: JSON.stringify({
        pid: 1,
        host: hostname(),
        command: "eval",
        startedAt: "2020-01-01T00:00:00.000Z",
        token: "t",
      }),
    },
  },
  "report --out (terminal format): the file holds no raw control, so a cat of it runs nothing": {
    args: `${REPORT} --out {dir}/t.txt`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "t.txt"))),
  },
  "diff --out (terminal format): the file holds no raw control": {
    args: "diff {dir}/base/report.json {dir}/head/report.json --allow-partial --out {dir}/d.txt",
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "d.txt"))),
  },
  "report --format json --out: no raw control, and the labels read back exactly": {
    args: `${REPORT} --format json --out {dir}/t.json`,
    files: CONTROL_REPORT_FILES,
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => {
      const json = JSON.parse(await noRawControls(join(dir, "t.json")));
      const labels = json.tables.flatMap((t: { blocks: Array<{ rows: Array<{ label: string }> }> }) =>
        t.blocks.flatMap((b) => b.rows.map((row) => row.label)),
      );
      expect(labels.join("\n")).toContain(CONTROL_LABEL);
    },
  },
  "annotate score --format csv --out: a control in a relation name is shown, not kept raw": {
    args: "annotate score {dir}/j.csv --format csv --out {dir}/s.csv",
    files: { "j.csv": JUDGEMENTS },
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "s.csv"))),
  },
  "annotate score --out (terminal format): a control in a relation name is shown, not kept raw": {
    args: "annotate score {dir}/j.csv --out {dir}/s.txt",
    files: { "j.csv": JUDGEMENTS },
    exit: 0,
    message: "wrote",
    check: async (_r, { dir }) => void (await noRawControls(join(dir, "s.txt"))),
  },
  'build-sft --out "" (a variable that expanded to nothing) writes nothing into the working folder': {
    // Two spaces: an empty word after --out.
    args: "build-sft --kb {root}/test/fixtures/kb/mind_small.csv --out  --recipe mind",
    exit: 2,
    message: "--out needs a value: none was given (an empty word)",
  },
  'report --out "" prints nothing to stdout as if no --out were given': {
    args: "report {dir}/r --out  --format markdown",
    files: { "r/report.json": "{}" },
    exit: 2,
    message: "--out needs a value: none was given (an empty word)",
  },
  "diff --format markdown: a stored report whose base URL holds credentials (an older harness, or a hand edit) shows none": {
    args: "diff {dir}/base/report.json {dir}/head/report.json --allow-partial --format markdown",
    files: {
      ...CONTROL_REPORT_FILES,
      "base/report.json": async () => {
        const report = JSON.parse(String(await CONTROL_REPORT_FILES["base/report.json"]()));
        report.backend.baseUrl = `http://alice:${SECRETS[0]}@gpu-node:8000/v1?api_key=${SECRETS[2]}`;
        return JSON.stringify(report);
      },
    },
    exit: 0,
    message: "",
    check: (result) => {
      expect(result.stdout).toContain("http://alice:[REDACTED]@gpu-node:8000/v1?api_key=[REDACTED]");
      for (const secret of SECRETS) expect(result.stdout + result.stderr).not.toContain(secret);
    },
  },
});
