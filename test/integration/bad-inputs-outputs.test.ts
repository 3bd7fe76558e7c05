/**
 * The bad-input table of the outputs class (issue 17, scope 1): every path a command writes is a
 * regular file or folder it owns. Devices, FIFOs, sockets (and links to them) and outputs that
 * are one of the command's inputs are refused before any work; a run folder has one writer (a
 * lock file); a full disk is one line naming the file, exit 1, nothing finished-looking left.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { RUN_LOCK_FILE } from "../../harness/util/run-lock.ts";
import { type BadInputCase, badInputTable, kbLine, cobuyLine } from "../helpers/bad-input-table.ts";

/** Special files, made once: a FIFO, a socket, and a link to /dev/null. */
const SPECIAL = mkdtempSync(join(tmpdir(), "harness-special-"));
const FIFO = join(SPECIAL, "fifo");
const SOCKET = join(SPECIAL, "socket");
const LINK_TO_NULL = join(SPECIAL, "link-to-null");
execFileSync("mkfifo", [FIFO]);
symlinkSync("/dev/null", LINK_TO_NULL);
const socketServer = createServer();
await new Promise<void>((resolve) => socketServer.listen(SOCKET, resolve));
// The socket file stays while the server listens; the process exit closes it.
socketServer.unref();
mkdirSync(join(SPECIAL, "dir"));

const KB_LINE = kbLine();
const KB = { "kb.jsonl": `${KB_LINE}\n` };
const COBUY = cobuyLine("a.png");
const EVAL = "eval --data {data} --cache-dir {dir}/cache --progress false --task understanding --limit 2 --model baseline:majority";
const DISTILL = "distill --model test-model --base-url {url} --cache-dir {dir}/cache --progress false";
/** distill writing a batch file for an offline engine: no server. */
const DISTILL_BATCH = "distill --model test-model --cache-dir {dir}/cache --progress false";
const BUILD_SFT = "build-sft --kb {dir}/kb.jsonl --no-decontaminate";
const CRITIC = "critic --kb {dir}/kb.jsonl --model m --base-url {url} --cache-dir {dir}/cache";
const ROBUSTNESS =
  "analyze robustness --kb {dir}/kb.jsonl --model test-model --base-url {url} --text-only --embeddings openai:e --embeddings-base-url {url} --cache-dir {dir}/cache";
const ABLATION = (workDir: string) =>
  ["backbones:", "  tiny: {root}/configs/tiny-cpu.yaml", `work_dir: ${workDir}`, "reports_dir: {dir}/reports", "recipes: [zero-shot]"].join(
    "\n",
  );
/** A lock file as another run writes it. */
const lockOf = (pid: number, host = hostname()) =>
  JSON.stringify({ pid, host, command: "eval", startedAt: "2026-01-01T00:00:00.000Z", token: "0123456789abcdef" });
/** A pid that is not running: the largest pid Linux hands out is 4194304. */
const DEAD_PID = 4_194_303;
const unchanged =
  (name: string, content: string) =>
  async (_r: unknown, { dir }: { dir: string }) =>
    expect(await readFile(join(dir, name), "utf8")).toBe(content);

// prettier-ignore
const CASES: Record<string, BadInputCase> = {
  // special files: devices, FIFOs, sockets, links to them
  "eval: --out /dev/null": {
    args: `${EVAL} --out /dev/null`,
    exit: 2,
    message: "--out /dev/null: is a character device; expected a directory",
  },
  "eval: --out a socket": { args: `${EVAL} --out ${SOCKET}`, exit: 2, message: `--out ${SOCKET}: is a socket` },
  "eval: --cache-dir /dev/null": {
    args: "eval --data {data} --cache-dir /dev/null --out {dir}/r --progress false --task understanding --limit 2 --model openai:test-model --base-url {url}",
    exit: 2,
    message: "--cache-dir /dev/null/requests: cannot create it: /dev/null is a file",
  },
  "report: --out /dev/null": {
    args: "report {dir}/r --out /dev/null",
    exit: 2,
    message: "--out /dev/null: is a character device; expected a regular file",
    files: { "r/report.json": "{}" },
  },
  "report: --out a FIFO": {
    args: `report {dir}/r --out ${FIFO}`,
    exit: 2,
    message: `--out ${FIFO}: is a FIFO`,
    files: { "r/report.json": "{}" },
  },
  "report: --out a link to /dev/null": {
    args: `report {dir}/r --out ${LINK_TO_NULL}`,
    exit: 2,
    message: `--out ${LINK_TO_NULL}: is a character device`,
    files: { "r/report.json": "{}" },
  },
  "diff: --out /dev/full": { args: "diff {file} {file} --out /dev/full", exit: 2, message: "--out /dev/full: is a character device" },
  "distill: --out /dev/null": {
    args: `${DISTILL} --records {dir}/cobuy.jsonl --out /dev/null`,
    exit: 2,
    message: "--out /dev/null: is a character device",
    files: { "cobuy.jsonl": COBUY },
  },
  "distill: --emit-batch a FIFO": {
    args: `${DISTILL_BATCH} --records {dir}/cobuy.jsonl --out {dir}/kb --emit-batch ${FIFO}`,
    exit: 2,
    message: `--emit-batch ${FIFO}: is a FIFO`,
    files: { "cobuy.jsonl": COBUY },
  },
  "build-sft: --out /dev/null": {
    args: `${BUILD_SFT} --out /dev/null`,
    exit: 2,
    message: "--out /dev/null: is a character device",
    files: KB,
  },
  "critic: --out /dev/null": {
    args: `${CRITIC} --out /dev/null`,
    exit: 2,
    message: "--out /dev/null: is a character device; expected a regular file",
    files: KB,
  },
  "critic: --out a link to /dev/null": {
    args: `${CRITIC} --out ${LINK_TO_NULL}`,
    exit: 2,
    message: `--out ${LINK_TO_NULL}: is a character device`,
    files: KB,
  },
  "annotate export: --out /dev/null": {
    args: "annotate export --kb {dir}/kb.jsonl --out /dev/null",
    exit: 2,
    message: "--out /dev/null: is a character device",
    files: KB,
  },
  "annotate export: --hit-template a FIFO": {
    args: `annotate export --kb {dir}/kb.jsonl --out {dir}/sheet.csv --hit-template ${FIFO}`,
    exit: 2,
    message: `--hit-template ${FIFO}: is a FIFO`,
    files: KB,
    check: (_r, { dir }) => expect(existsSync(join(dir, "sheet.csv"))).toBe(false),
  },
  "annotate score: --out /dev/null": {
    args: "annotate score {dir}/j.csv --out /dev/null",
    exit: 2,
    message: "--out /dev/null: is a character device",
    files: { "j.csv": "item_id,annotator,question,label\n" },
  },
  "analyze robustness: --out /dev/null": {
    args: `${ROBUSTNESS} --out /dev/null`,
    exit: 2,
    message: "--out /dev/null: is a character device",
    files: KB,
  },
  "finetune: --run-dir /dev/null": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --run-dir /dev/null",
    exit: 2,
    message: "--run-dir /dev/null: is a character device",
  },
  "serve: --run a socket": { args: `serve --run ${SOCKET}`, exit: 2, message: `--run ${SOCKET}: is a socket` },
  "data fetch: --cache-dir /dev/null": {
    args: "data fetch intentionqa --cache-dir /dev/null",
    exit: 2,
    message: "--cache-dir /dev/null: is a character device",
  },
  "model fetch: --cache-dir a FIFO": {
    args: `model fetch org/repo --cache-dir ${FIFO} --hub-url {urlRoot}`,
    exit: 2,
    message: `--cache-dir ${FIFO}: is a FIFO`,
  },
  "model fetch: HF_HUB_CACHE a link to /dev/null": {
    args: "model fetch org/repo --hub-url {urlRoot}",
    env: { HF_HUB_CACHE: LINK_TO_NULL },
    exit: 2,
    message: `cache directory (HF_HUB_CACHE) ${LINK_TO_NULL}: is a character device`,
  },
  "ablate: work_dir /dev/null": {
    args: "ablate --config {dir}/a.yaml",
    exit: 2,
    message: "work_dir: /dev/null: is a character device",
    files: { "a.yaml": ABLATION("/dev/null") },
  },

  // an output that is one of the inputs
  "report: --out the run's own report.json": {
    args: "report {dir}/run --out {dir}/run/report.json",
    exit: 2,
    message: "--out {dir}/run/report.json: is also the input report {dir}/run/report.json",
    files: { "run/report.json": "{}" },
    check: unchanged("run/report.json", "{}"),
  },
  "report: --out the run's samples.jsonl, named another way": {
    args: "report {dir} --out {dir}/x/../run/samples.jsonl",
    exit: 2,
    message: "is also the input report {dir}/run/samples.jsonl",
    files: { "run/report.json": "{}", "run/samples.jsonl": "keep\n", "x/.keep": "" },
    check: unchanged("run/samples.jsonl", "keep\n"),
  },
  "diff: --out the base": {
    args: "diff {dir}/a.json {dir}/b.json --out {dir}/a.json",
    exit: 2,
    message: "--out {dir}/a.json: is also the input report {dir}/a.json",
    files: { "a.json": "A", "b.json": "B" },
    check: unchanged("a.json", "A"),
  },
  "diff: --out the head's run folder report, through the folder": {
    args: "diff {dir}/a.json {dir}/head --out {dir}/head/report.json",
    exit: 2,
    message: "is also the input report {dir}/head/report.json",
    files: { "a.json": "A", "head/report.json": "B" },
    check: unchanged("head/report.json", "B"),
  },
  "distill: --out holds the records file (mind_kb.jsonl)": {
    args: `${DISTILL} --records {dir}/kb/mind_kb.jsonl --out {dir}/kb`,
    exit: 2,
    message: "--out {dir}/kb (its mind_kb.jsonl): is also the input --records {dir}/kb/mind_kb.jsonl",
    files: { "kb/mind_kb.jsonl": COBUY },
    check: unchanged("kb/mind_kb.jsonl", COBUY),
  },
  "distill: --emit-batch the records file": {
    args: `${DISTILL_BATCH} --records {dir}/cobuy.jsonl --out {dir}/kb --emit-batch {dir}/./cobuy.jsonl`,
    exit: 2,
    message: "is also the input --records {dir}/cobuy.jsonl",
    files: { "cobuy.jsonl": COBUY },
    check: unchanged("cobuy.jsonl", COBUY),
  },
  "build-sft: --out holds the KB under a dataset's name": {
    args: "build-sft --kb {dir}/sft/intentionqa_mind.jsonl --out {dir}/sft --no-decontaminate",
    exit: 2,
    message: "is also the input --kb {dir}/sft/intentionqa_mind.jsonl",
    files: { "sft/intentionqa_mind.jsonl": `${KB_LINE}\n` },
    check: unchanged("sft/intentionqa_mind.jsonl", `${KB_LINE}\n`),
  },
  "critic: --out the KB": {
    args: `${CRITIC} --out {dir}/kb.jsonl`,
    exit: 2,
    message: "--out {dir}/kb.jsonl: is also the input --kb {dir}/kb.jsonl",
    files: KB,
    check: unchanged("kb.jsonl", `${KB_LINE}\n`),
  },
  "annotate export: --out the KB": {
    args: "annotate export --kb {dir}/kb.jsonl --out {dir}/kb.jsonl",
    exit: 2,
    message: "is also the input --kb {dir}/kb.jsonl",
    files: KB,
    check: unchanged("kb.jsonl", `${KB_LINE}\n`),
  },
  "annotate export: --hit-template the sheet": {
    args: "annotate export --kb {dir}/kb.jsonl --out {dir}/sheet.csv --hit-template {dir}/sheet.csv",
    exit: 2,
    message: "--hit-template {dir}/sheet.csv: is also the input --out {dir}/sheet.csv",
    files: KB,
  },
  "annotate score: --out the judgements": {
    args: "annotate score {dir}/j.csv --out {dir}/j.csv",
    exit: 2,
    message: "--out {dir}/j.csv: is also the input judgements {dir}/j.csv",
    files: { "j.csv": "item_id,annotator,question,label\n" },
    check: unchanged("j.csv", "item_id,annotator,question,label\n"),
  },
  "analyze robustness: --out holds the KB (summary.json)": {
    args: `${ROBUSTNESS.replace("{dir}/kb.jsonl", "{dir}/out/summary.json")} --kb-format jsonl --out {dir}/out`,
    exit: 2,
    message: "is also the input --kb {dir}/out/summary.json",
    files: { "out/summary.json": `${KB_LINE}\n` },
  },
  "eval: --ids a file the run folder will replace": {
    args: `${EVAL} --out {dir}/reports --run-id r --ids @{dir}/reports/r/samples.jsonl`,
    exit: 2,
    message: "--out/--run-id {dir}/reports/r (its samples.jsonl): is also the input --ids {dir}/reports/r/samples.jsonl",
    files: { "reports/r/samples.jsonl": "x\n" },
    check: unchanged("reports/r/samples.jsonl", "x\n"),
  },

  // one writer per run folder
  "eval: --run-id held by a live run": {
    args: `${EVAL} --out {dir}/reports --run-id r`,
    exit: 1,
    message: `--out/--run-id {dir}/reports/r: another run is writing there (pid 1 on ${hostname()}, \`harness eval\`, started 2026-01-01T00:00:00.000Z)`,
    files: { [`reports/r/${RUN_LOCK_FILE}`]: lockOf(1) },
    check: async (_r, { dir }) => {
      expect(existsSync(join(dir, "reports", "r", "report.json"))).toBe(false);
      expect(await readFile(join(dir, "reports", "r", RUN_LOCK_FILE), "utf8")).toBe(lockOf(1));
    },
  },
  "eval: --run-id held by a run on another host": {
    args: `${EVAL} --out {dir}/reports --run-id r`,
    exit: 1,
    message: `pid ${DEAD_PID} on gpu-node-7`,
    files: { [`reports/r/${RUN_LOCK_FILE}`]: lockOf(DEAD_PID, "gpu-node-7") },
  },
  "eval: a stale lock (its run is gone) is taken over": {
    args: `${EVAL} --out {dir}/reports --run-id r`,
    exit: 0,
    message: `taking over the stale lock {dir}/reports/r/${RUN_LOCK_FILE} of a run that is no longer running (pid ${DEAD_PID}`,
    files: { [`reports/r/${RUN_LOCK_FILE}`]: lockOf(DEAD_PID) },
    check: (_r, { dir }) => {
      expect(existsSync(join(dir, "reports", "r", "report.json"))).toBe(true);
      expect(existsSync(join(dir, "reports", "r", RUN_LOCK_FILE)), "the lock is removed at the end").toBe(false);
    },
  },
  "eval: a lock file that names no run": {
    args: `${EVAL} --out {dir}/reports --run-id r`,
    exit: 1,
    message: `is locked by {dir}/reports/r/${RUN_LOCK_FILE}, which does not say which run holds it`,
    files: { [`reports/r/${RUN_LOCK_FILE}`]: "garbage" },
  },
  "distill: --out held by a live run": {
    args: `${DISTILL} --records {dir}/cobuy.jsonl --out {dir}/kb`,
    exit: 1,
    message: "--out {dir}/kb: another run is writing there (pid 1",
    files: { "cobuy.jsonl": COBUY, [`kb/${RUN_LOCK_FILE}`]: lockOf(1) },
  },
  "build-sft: --out held by a live run": {
    args: `${BUILD_SFT} --out {dir}/sft`,
    exit: 1,
    message: "--out {dir}/sft: another run is writing there (pid 1",
    files: { ...KB, [`sft/${RUN_LOCK_FILE}`]: lockOf(1) },
    check: (_r, { dir }) => expect(existsSync(join(dir, "sft", "intentionqa_mind.jsonl"))).toBe(false),
  },
  "build-sft: a finished run leaves no lock": {
    args: `${BUILD_SFT} --out {dir}/sft`,
    exit: 0,
    message: "",
    files: KB,
    check: (_r, { dir }) => {
      expect(existsSync(join(dir, "sft", "dataset_info.json"))).toBe(true);
      expect(existsSync(join(dir, "sft", RUN_LOCK_FILE))).toBe(false);
    },
  },
  "eval: a failed run leaves no lock and no empty run folder": {
    args: `${EVAL.replace("--limit 2", "--limit 0")} --out {dir}/reports --run-id r`,
    exit: 2,
    message: "--limit",
    check: (_r, { dir }) => expect(existsSync(join(dir, "reports", "r"))).toBe(false),
  },
};

badInputTable("bad inputs: outputs (special files, outputs over inputs, one writer per run folder)", CASES);
