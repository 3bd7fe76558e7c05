/**
 * Bad inputs, class "inputs have limits" (issue 17, scope 2): a flag given no value, a number
 * outside its range, an environment variable that its flag would refuse, and inputs that never
 * end (an image that is a device or a FIFO, a line of 20 MB, a download without end, a hostile
 * Hub). Every row also gets the table's own checks (exit code, one line, no stack, nothing
 * half-written left looking finished): test/helpers/bad-input-table.ts.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { type BadInputCase, badInputTable, filesUnder, cobuyLine } from "../helpers/bad-input-table.ts";
import { startHubServer } from "../helpers/hub-server.ts";

const EVAL = "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding";
const DISTILL =
  "distill --records {dir}/cobuy.jsonl --model test-model --out {dir}/kb --cache-dir {dir}/cache --progress false --relations all";
const COBUY = cobuyLine;
/** distill reading the records file made in beforeAll for one special image. */
const DISTILL_SPECIAL = (name: string) => DISTILL.replace("{dir}/cobuy.jsonl", join(special, `${name}.jsonl`));
const FINETUNE = "finetune --config {root}/configs/tiny-cpu.yaml --dry-run";

const INPUT_FIFOS = ["kb.jsonl", "kb.csv", "records.jsonl", "judgements.csv", "difficulty.csv", "generation_config.json", "critic.csv"];
/** A command line over one of INPUT_FIFOS, filled in once beforeAll made them. */
const fifoCase = (args: string, message: string, exit = 2): BadInputCase =>
  late({ exit, message: `${message}: a FIFO, not a regular file` }, () => args.replaceAll("{fifo}", special));

/** Things the files of a case cannot be: a FIFO, a link to /dev/zero, a sparse 300 MB file; and servers whose bodies never end. */
let special = "";
let endless: Server;
let endlessUrl = "";
let hostileHub: Awaited<ReturnType<typeof startHubServer>>;

beforeAll(async () => {
  special = await mkdtemp(join(tmpdir(), "harness-limits-"));
  execFileSync("mkfifo", [join(special, "fifo.png")]);
  // Inputs that are FIFOs with no writer: opening one to read would wait forever.
  for (const name of INPUT_FIFOS) execFileSync("mkfifo", [join(special, name)]);
  await symlink("/dev/zero", join(special, "zero.png"));
  await writeFile(join(special, "huge.png"), "");
  await truncate(join(special, "huge.png"), 300 * 1024 * 1024);
  await mkdir(join(special, "data"));
  await symlink("/dev/zero", join(special, "data", "QA_fullInfo_task1.jsonl"));
  // Answers every request with bytes that never stop (no content-length): a download without end.
  endless = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once("drain", pump);
    };
    req.on("close", () => res.destroy());
    pump();
  });
  await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
  endlessUrl = `http://127.0.0.1:${(endless.address() as AddressInfo).port}`;
  hostileHub = await startHubServer(
    {
      "org/tiny": {
        commit: "0123456789abcdef0123456789abcdef01234567",
        files: [{ path: "weights.bin", content: Buffer.from("weights"), lfs: true }],
      },
    },
    { hostileEntry: (e) => (e["lfs"] ? { ...e, lfs: { ...(e["lfs"] as object), oid: "../../../outside-pwned" } } : e) },
  );
});

afterAll(async () => {
  endless?.closeAllConnections();
  await new Promise((resolve) => endless?.close(resolve));
  await hostileHub?.close();
  if (special) await rm(special, { recursive: true, force: true });
});

/** A case whose arguments name a path or server made in beforeAll (read when the case runs). */
const late = (c: Omit<BadInputCase, "args">, args: () => string): BadInputCase => ({
  ...c,
  get args() {
    return args();
  },
});

const skippedFor = (reason: string) => (result: { stderr: string }) => expect(result.stderr).toContain(reason);

// prettier-ignore
const CASES: Record<string, BadInputCase> = {
  // A flag that takes a value, given none: a usage error, not a run with the default.
  "eval: --limit at the end of the line": { args: `${EVAL} --limit`, exit: 2, message: "--limit needs a value" },
  "eval: --limit followed by another flag": {
    args: "eval --data {data} --limit --task understanding",
    exit: 2,
    message: '--limit needs a value: none was given (the next word, "--task", is a flag)',
  },
  "eval: --limit= (empty after =)": { args: `${EVAL} --limit=`, exit: 2, message: "--limit needs a value" },
  "eval: --out with no value": { args: "eval --data {data} --task understanding --out", exit: 2, message: "--out needs a value" },
  "eval: --run-id before another flag": { args: `${EVAL} --run-id --limit 2`, exit: 2, message: "--run-id needs a value" },
  "distill: --base-url (a list) with no value": { args: `${DISTILL} --base-url`, exit: 2, message: "--base-url needs a value" },
  "report: --out with no value": { args: "report {file} --out", exit: 2, message: "--out needs a value" },
  "diff: --max-drop with no value": { args: "diff {file} {file} --max-drop", exit: 2, message: "--max-drop needs a value" },
  "build-sft: --kb before another flag": { args: "build-sft --kb --out {dir}/sft", exit: 2, message: "--kb needs a value" },
  "finetune: --config before --dry-run": { args: "finetune --config --dry-run", exit: 2, message: "--config needs a value" },
  "annotate export: --seed with no value": {
    args: "annotate export --kb {file} --out {dir}/s.csv --seed",
    exit: 2,
    message: "--seed needs a value",
  },
  "cache clear: --older-than with no value": { args: "cache clear --older-than", exit: 2, message: "--older-than needs a value" },

  // Every number flag has a range: no value runs out of memory, time or precision.
  "distill: --concurrency 1e7": {
    args: `${DISTILL} --base-url {url} --concurrency 1e7`,
    exit: 2,
    message:
      '--concurrency "1e7": expected N (adapt to the server, at most N in flight) or fixed:N (always N), N an integer from 1 to 1024',
  },
  "eval: --seed 1e400 (Infinity)": {
    args: `${EVAL} --seed 1e400`,
    exit: 2,
    message: "--seed must be an integer >= 0 and <= 4294967295, got 1e400",
  },
  "eval: --limit -1": { args: `${EVAL} --limit -1`, exit: 2, message: "--limit must be an integer >= 1, got -1 (and at most 1000000000)" },
  "eval: --limit 2.5": { args: `${EVAL} --limit 2.5`, exit: 2, message: "--limit must be an integer >= 1, got 2.5" },
  "eval: --retries 1e9": {
    args: `${EVAL} --retries 1e9`,
    exit: 2,
    message: "--retries must be an integer >= 0 and <= 100, got 1000000000",
  },
  "eval: --samples 1e6": { args: `${EVAL} --samples 1e6`, exit: 2, message: "--samples must be an integer >= 1 and <= 1000" },
  "eval: --max-tokens Infinity": {
    args: `${EVAL} --max-tokens Infinity`,
    exit: 2,
    message: '--max-tokens expects a number, got "Infinity"',
  },
  "eval: --bootstrap 1.5": {
    args: `${EVAL} --bootstrap 1.5`,
    exit: 2,
    message: "--bootstrap must be an integer >= 1 and <= 1000000, got 1.5",
  },
  "eval: --top-p 0": { args: `${EVAL} --top-p 0`, exit: 2, message: "--top-p must be a number > 0 and <= 1, got 0" },
  "critic: --timeout 1e10": {
    args: "critic --kb {file} --model m --base-url {url} --out {dir}/c.csv --timeout 1e10",
    exit: 2,
    message: "--timeout must be a number > 0 and <= 86400",
  },
  "serve: --port -1": { args: "serve --run {dir} --port -1", exit: 2, message: "--port must be an integer >= 0 and <= 65535, got -1" },
  "serve: --startup-timeout NaN": {
    args: "serve --run {dir} --startup-timeout NaN",
    exit: 2,
    message: '--startup-timeout expects a number, got "NaN"',
  },
  "finetune: --master-port 70000": {
    args: `${FINETUNE} --master-port 70000`,
    exit: 2,
    message: "--master-port must be an integer >= 1 and <= 65535",
  },
  "finetune: --nnodes 1e9": { args: `${FINETUNE} --nnodes 1e9`, exit: 2, message: "--nnodes must be an integer >= 1 and <= 4096" },
  "finetune: --max-steps 0.5": { args: `${FINETUNE} --max-steps 0.5`, exit: 2, message: "--max-steps must be an integer >= 1, got 0.5" },
  "annotate export: --per-relation 1e12": {
    args: "annotate export --kb {file} --out {dir}/s.csv --per-relation 1e12",
    exit: 2,
    message: "--per-relation must be an integer >= 1 and <= 1000000",
  },
  "analyze robustness: --sample 0": {
    args: "analyze robustness --kb {file} --text-only --model m --base-url {url} --embeddings openai:e --out {dir}/a --sample 0",
    exit: 2,
    message: "--sample must be an integer >= 1",
  },
  "build-sft: --critic-threshold -0.5": {
    args: "build-sft --kb {file} --out {dir}/sft --critic-threshold -0.5",
    exit: 2,
    message: "--critic-threshold must be a number >= 0 and <= 1, got -0.5",
  },
  "diff: --min-paired 1.5": {
    args: "diff {file} {file} --min-paired 1.5",
    exit: 2,
    message: "--min-paired must be a number >= 0 and <= 1, got 1.5",
  },
  "diff: --alpha 0": { args: "diff {file} {file} --alpha 0", exit: 2, message: "--alpha must be a number > 0 and <= 1, got 0" },
  "distill: --shard 1/99999999999": {
    args: `${DISTILL} --base-url {url} --shard 1/99999999999`,
    exit: 2,
    message: '--shard "1/99999999999": expected i/n with 1 <= i <= n <= 1000000',
    files: { "cobuy.jsonl": COBUY("x.png") },
  },
  "distill: --max-image-bytes 1e12": {
    args: `${DISTILL} --base-url {url} --max-image-bytes 1e12`,
    exit: 2,
    message: "--max-image-bytes must be an integer >= 1 and <= 268435456",
  },

  "ablate: eval.concurrency 1e7 in the config": {
    args: "ablate --config {dir}/ablation.yaml --dry-run",
    exit: 2,
    message: "eval.concurrency: Too big: expected number to be <=1024",
    files: {
      "ablation.yaml":
        "backbones:\n  tiny: {root}/configs/tiny-cpu.yaml\nwork_dir: {dir}/runs\nreports_dir: {dir}/reports\neval:\n  concurrency: 10000000\n",
    },
  },

  // Environment variables get their flag's checks, naming the variable.
  "model fetch: HF_ENDPOINT not a URL": {
    args: "model fetch org/m --cache-dir {dir}/hf",
    env: { HF_ENDPOINT: "hub.example" },
    exit: 2,
    message: 'HF_ENDPOINT (environment variable, in place of --hub-url) "hub.example" is not a URL',
  },
  "data fetch: INTENTIONQA_SOURCE_URL ftp://": {
    args: "data fetch intentionqa --cache-dir {dir}/c",
    env: { INTENTIONQA_SOURCE_URL: "ftp://mirror/x" },
    exit: 2,
    message: 'INTENTIONQA_SOURCE_URL (environment variable, in place of --source) "ftp://mirror/x": expected an http:// or https:// URL',
  },
  "eval: INTENTIONQA_SOURCE_URL not a URL, before any download": {
    args: "eval --task understanding --cache-dir {dir}/cache --out {dir}/reports --limit 2",
    env: { INTENTIONQA_SOURCE_URL: "::not a url", INTENTIONQA_DIR: "" },
    exit: 2,
    message: 'INTENTIONQA_SOURCE_URL (environment variable, in place of --source) "::not a url" is not a URL',
  },
  "eval: hf backend with HF_ENDPOINT not a URL": {
    args: `${EVAL} --limit 2 --model hf:org/m`,
    env: { HF_ENDPOINT: "nope", HF_TOKEN: "hf_x" },
    exit: 2,
    message: 'HF_ENDPOINT (environment variable) "nope" is not a URL',
  },

  // Bounded reads: images, lines, text files, downloads, a hostile Hub.
  "distill: an image that is /dev/zero": late(
    { exit: 1, message: "every one of the 1 record(s) was skipped", check: skippedFor("not a regular file") },
    () => `${DISTILL_SPECIAL("zero")} --base-url {url}`,
  ),
  "distill: an image that is a FIFO with no writer": late(
    { exit: 1, message: "every one of the 1 record(s) was skipped", check: skippedFor("not a regular file") },
    () => `${DISTILL_SPECIAL("fifo")} --base-url {url}`,
  ),
  "distill: a 300 MB image over --max-image-bytes": late(
    { exit: 1, message: "every one of the 1 record(s) was skipped", check: skippedFor("1 x image over --max-image-bytes") },
    () => `${DISTILL_SPECIAL("huge")} --base-url {url}`,
  ),
  "distill: an image URL whose body never ends": late(
    { exit: 1, message: "every one of the 1 record(s) was skipped", check: skippedFor("1 x image over --max-image-bytes") },
    () => `${DISTILL_SPECIAL("endless")} --base-url {url} --max-image-bytes 100000`,
  ),
  "distill: a records line of 17 MB": {
    args: `${DISTILL} --base-url {url}`,
    exit: 1,
    message: "cobuy.jsonl:2: a line longer than 16777216 bytes",
    files: { "cobuy.jsonl": async () => `${COBUY("x.png")}{"id_a": "${"x".repeat(17 * 1024 * 1024)}"}\n` },
  },
  "eval: a benchmark file that is a link to /dev/zero": late(
    { exit: 1, message: "QA_fullInfo_task1.jsonl: a character device, not a regular file" },
    () => `eval --data ${join(special, "data")} --task understanding --out {dir}/reports --limit 2`,
  ),
  "data fetch: a mirror that answers a web page (size and sha256 checked)": {
    args: "data fetch intentionqa --source {html} --cache-dir {dir}/c",
    exit: 1,
    message: "not the 2611210 expected (so it does not match the pinned 3d2a6d94",
  },
  "data fetch: a mirror whose body never ends": late(
    {
      exit: 1,
      message: "more than the 2611210 bytes expected",
      check: async (_r, { dir }) => expect((await filesUnder(join(dir, "c"))).filter((f) => f.endsWith(".jsonl"))).toEqual([]),
    },
    () => `data fetch intentionqa --source ${endlessUrl}/ --cache-dir {dir}/c`,
  ),
  "model fetch: a hostile Hub's etag of ../../../outside": late(
    {
      exit: 1,
      message: 'answered oid "../../../outside-pwned"',
      check: (_r, { dir }) => expect(existsSync(join(dir, "outside-pwned"))).toBe(false),
    },
    () => `model fetch org/tiny --cache-dir {dir}/hf/cache --hub-url ${hostileHub.url}`,
  ),
  "build-sft: a KB (.jsonl) that is a FIFO": fifoCase("build-sft --kb {fifo}/kb.jsonl --out {dir}/sft", "kb.jsonl"),
  "build-sft: a KB (.csv) that is a FIFO": fifoCase("build-sft --kb {fifo}/kb.csv --out {dir}/sft", "kb.csv"),
  "build-sft: a critic file that is a FIFO": fifoCase(
    "build-sft --kb {root}/test/fixtures/kb/mind_small.jsonl --critic-file {fifo}/critic.csv --recipe critic --out {dir}/sft",
    "critic.csv",
  ),
  "critic: a KB that is a FIFO": fifoCase("critic --kb {fifo}/kb.jsonl --model m --base-url {url} --out {dir}/c.csv", "kb.jsonl"),
  "annotate export: a KB that is a FIFO": fifoCase("annotate export --kb {fifo}/kb.jsonl --out {dir}/sheet.csv", "kb.jsonl"),
  "annotate score: judgements that are a FIFO": fifoCase("annotate score {fifo}/judgements.csv", "judgements.csv"),
  "distill: records that are a FIFO": fifoCase(
    `${DISTILL.replace("{dir}/cobuy.jsonl", "{fifo}/records.jsonl")} --base-url {url}`,
    "records.jsonl",
  ),
  "eval: a difficulty file that is a FIFO": fifoCase(`${EVAL} --limit 2 --difficulty-file {fifo}/difficulty.csv`, "difficulty.csv", 1),
  "eval: a generation config that is a FIFO": fifoCase(
    `${EVAL} --limit 2 --model openai:test-model --base-url {url} --decoding model-default --generation-config {fifo}/generation_config.json`,
    "generation_config.json",
  ),
  "model fetch: --revision with ..": {
    args: "model fetch org/m --cache-dir {dir}/hf --hub-url {urlRoot} --revision ../../x",
    exit: 2,
    message: '--revision "../../x": it has a "." or ".." part',
  },
};

beforeAll(async () => {
  for (const [name, image] of [
    ["zero", join(special, "zero.png")],
    ["fifo", join(special, "fifo.png")],
    ["huge", join(special, "huge.png")],
    ["endless", `${endlessUrl}/p.png`],
  ] as const) {
    await writeFile(join(special, `${name}.jsonl`), COBUY(image));
  }
});

badInputTable("bad inputs: limits (flags without values, ranges, environment, bounded reads)", CASES);
