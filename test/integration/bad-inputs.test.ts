/**
 * The bad-input table of the first rounds: every command given something wrong, as a user would
 * type it. The machinery and its placeholders are in test/helpers/bad-input-table.ts; the tables of
 * later classes (outputs, limits, server answers, reports, secrets, files people open) sit beside
 * this file as bad-inputs-*.test.ts.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import {
  type BadInputCase,
  badInputTable,
  filesUnder,
  reportStatuses,
  kbLine,
  cobuyLine,
  scoredIds,
  task1File,
} from "../helpers/bad-input-table.ts";

const task1 = task1File;

const KB_LINE = kbLine();
const ABLATION = (extra: string) =>
  ["backbones:", "  tiny: {root}/configs/tiny-cpu.yaml", "work_dir: {dir}/runs", "reports_dir: {dir}/reports", extra].join("\n");
const EVAL = "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false";
const EVAL1 = `${EVAL} --task understanding --limit 2`;
const COBUY = cobuyLine;
const DISTILL = "distill --records {dir}/cobuy.jsonl --model test-model --out {dir}/kb --cache-dir {dir}/cache --progress false";

// prettier-ignore
const CASES: Record<string, BadInputCase> = {
  // the CLI itself
  "an unknown command": { args: "frobnicate", exit: 2, message: "Unknown argument" },
  "an unknown flag": { args: "eval --no-such-flag 1", exit: 2, message: "Unknown argument" },
  "a mistyped subcommand": {
    args: "model provsion smollm2-135m",
    exit: 2,
    message: 'model: "provsion" is not a subcommand of model (one of: fetch, provision)',
  },
  "a mistyped subcommand, nothing after it": {
    args: "cache clera",
    exit: 2,
    message: 'cache: "clera" is not a subcommand of cache (one of: stats, clear)',
  },
  "a mistyped subcommand holding terminal escapes": {
    args: "model \u001b]0;pwned\u0007\u001b[2Jx",
    exit: 2,
    message: 'model: "\\u001b]0;pwned\\u0007\\u001b[2Jx" is not a subcommand of model',
    check: (result) => expect([...result.stderr].filter((c) => c === "\u001b" || c === "\u0007")).toEqual([]),
  },
  "a command group without its subcommand": { args: "annotate", exit: 2, message: "annotate: name a subcommand (one of: export, score)" },
  // data
  "data fetch: --source not a URL": {
    args: "data fetch intentionqa --source notaurl --cache-dir {dir}/c",
    exit: 2,
    message: '--source "notaurl" is not a URL',
  },
  "data fetch: --source ftp://": {
    args: "data fetch intentionqa --source ftp://host/x --cache-dir {dir}/c",
    exit: 2,
    message: "expected an http:// or https:// URL",
  },
  "data fetch: --cache-dir is a file": {
    args: "data fetch intentionqa --cache-dir {file}",
    exit: 2,
    message: "--cache-dir {file}: is a file",
  },
  "data fetch: --cache-dir under a file": {
    args: "data fetch intentionqa --cache-dir {file}/sub",
    exit: 2,
    message: "is a file, not a directory",
  },
  "data fetch: an unknown data set": { args: "data fetch imagenet", exit: 2, message: "Invalid values" },
  "data fetch: a mirror that is down": {
    args: "data fetch intentionqa --source http://127.0.0.1:2/x --cache-dir {dir}/c",
    exit: 1,
    message: "ECONNREFUSED",
  },
  // model
  "model fetch: --hub-url not a URL": {
    args: "model fetch org/repo --hub-url notaurl",
    exit: 2,
    message: '--hub-url "notaurl" is not a URL',
  },
  "model fetch: --cache-dir is a file": {
    args: "model fetch org/repo --cache-dir {file}",
    exit: 2,
    message: "--cache-dir {file}: is a file",
  },
  // distill
  "distill: a mistyped subcommand": {
    args: "distill mrege {dir}/shards --out {dir}/kb",
    exit: 2,
    message: 'distill: "mrege" is not a subcommand of distill (it has one: merge)',
  },
  "distill: a stray word after a run's flags": {
    args: `${DISTILL} stray --base-url {url}`,
    exit: 2,
    message: 'distill: "stray" is not a subcommand',
  },
  "distill: no records file": { args: `${DISTILL} --base-url {url}`, exit: 2, message: "cobuy.jsonl: cannot read (" },
  "distill: --out is a file": {
    args: `${DISTILL.replace("{dir}/kb", "{file}")} --base-url {url}`,
    exit: 2,
    message: "--out {file}: is a file",
    files: { "cobuy.jsonl": COBUY("x.png") },
  },
  "distill: --temperature 5": {
    args: `${DISTILL} --temperature 5`,
    exit: 2,
    message: "--temperature must be a number >= 0 and <= 2, got 5",
  },
  "distill: --concurrency 0": {
    args: `${DISTILL} --concurrency 0`,
    exit: 2,
    message: '--concurrency "0": expected N (adapt to the server',
  },
  "distill: --concurrency abc": {
    args: `${DISTILL} --concurrency abc`,
    exit: 2,
    message:
      '--concurrency "abc": expected N (adapt to the server, at most N in flight) or fixed:N (always N), N an integer from 1 to 1024',
  },
  "distill: --base-url not a URL": { args: `${DISTILL} --base-url gpu-node:8000`, exit: 2, message: "--base-url" },
  "distill: --api-key-env names an unset variable": {
    args: `${DISTILL} --base-url {url} --api-key-env HARNESS_TEST_UNSET_KEY`,
    exit: 2,
    message: "HARNESS_TEST_UNSET_KEY is not set",
  },
  "distill: every record skipped leaves no KB": {
    args: `${DISTILL} --base-url {url} --relations all`,
    exit: 1,
    message: "every one of the 1 record(s) was skipped",
    files: { "cobuy.jsonl": COBUY("missing.png") },
    check: (_r, { dir }) => expect(existsSync(join(dir, "kb", "mind_kb.csv"))).toBe(false),
  },
  // build-sft
  "build-sft: no KB file": {
    args: "build-sft --kb {dir}/nope.jsonl --out {dir}/sft --no-decontaminate",
    exit: 2,
    message: "cannot read KB {dir}/nope.jsonl: no such file",
  },
  "build-sft: --out is a file": {
    args: "build-sft --kb {dir}/kb.jsonl --out {file} --no-decontaminate",
    exit: 2,
    message: "--out {file}: is a file",
    files: { "kb.jsonl": `${KB_LINE}\n` },
  },
  "build-sft: an unknown recipe": {
    args: "build-sft --kb {dir}/kb.jsonl --out {dir}/sft --recipe best --no-decontaminate",
    exit: 2,
    message: "best",
    files: { "kb.jsonl": `${KB_LINE}\n` },
  },
  "build-sft: --critic-threshold 3": {
    args: "build-sft --kb {dir}/kb.jsonl --out {dir}/sft --critic-threshold 3 --no-decontaminate",
    exit: 2,
    message: "--critic-threshold",
    files: { "kb.jsonl": `${KB_LINE}\n` },
  },
  "build-sft: a CSV KB that is not UTF-8 (a Latin-1 export)": {
    args: "build-sft --kb {dir}/kb.csv --out {dir}/sft --no-decontaminate",
    exit: 1,
    message: "{dir}/kb.csv:3: not valid UTF-8 text; save the file as UTF-8",
    files: {
      "kb.csv": Buffer.from(
        "id_a,id_b,Product_a,Product_b,Relation,product_a_desc,product_b_desc,Intention,tail,Agreement\n" +
          "A1,B1,Shoe,Sock,usedFor,a,b,they are used for running,x,Yes\n" +
          "A2,B2,Caf\xe9 mug,Sock,usedFor,a,b,they are used for coffee,x,Yes\n",
        "latin1",
      ),
    },
  },
  "build-sft: a JSONL KB with a byte that is not UTF-8": {
    args: "build-sft --kb {dir}/kb.jsonl --out {dir}/sft --no-decontaminate",
    exit: 1,
    message: "{dir}/kb.jsonl:2: not valid UTF-8 text",
    files: {
      "kb.jsonl": Buffer.concat([
        Buffer.from(`${KB_LINE}\n${KB_LINE.slice(0, 20)}`),
        Buffer.from([0xff]),
        Buffer.from(`${KB_LINE.slice(20)}\n`),
      ]),
    },
  },
  "build-sft: no critic file": {
    args: "build-sft --kb {dir}/kb.jsonl --out {dir}/sft --recipe critic --critic-file {dir}/nope.csv --no-decontaminate",
    exit: 2,
    message: "cannot read critic file {dir}/nope.csv: no such file",
    files: { "kb.jsonl": `${KB_LINE}\n` },
  },
  "build-sft: a critic file that is not UTF-8": {
    args: "build-sft --kb {dir}/kb.jsonl --out {dir}/sft --recipe critic --critic-file {dir}/critic.csv --no-decontaminate",
    exit: 1,
    message: "{dir}/critic.csv:2: not valid UTF-8 text",
    files: {
      "kb.jsonl": `${KB_LINE}\n`,
      "critic.csv": Buffer.from("id_a,id_b,Relation,Intention,critic_score\nA1,B1,usedFor,caf\xe9,0.9\n", "latin1"),
    },
  },
  // critic
  "critic: no KB file": {
    args: "critic --kb {dir}/nope.csv --model m --base-url {url} --out {dir}/critic.csv --cache-dir {dir}/cache",
    exit: 2,
    message: "cannot read KB {dir}/nope.csv: no such file",
    check: (_r, { dir }) => expect(existsSync(join(dir, "critic.csv"))).toBe(false),
  },
  // annotate
  "annotate score: no such sheet": { args: "annotate score {dir}/nope.csv", exit: 2, message: "cannot read {dir}/nope.csv: no such file" },
  "annotate score: a sheet that is not UTF-8": {
    args: "annotate score {dir}/sheet.csv",
    exit: 1,
    message: "{dir}/sheet.csv:2: not valid UTF-8 text",
    files: { "sheet.csv": Buffer.from("item,annotator,plausibility\ncaf\xe9,1,1\n", "latin1") },
  },
  "build-sft: --recipe twice": {
    args: "build-sft --kb {dir}/kb.jsonl --recipe mind --recipe critic",
    exit: 2,
    message: "--recipe was given 2 times",
  },
  // finetune
  "finetune: no config file": { args: "finetune --config {dir}/nope.yaml --dry-run", exit: 2, message: "no such file" },
  "finetune: --nnodes 0": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --nnodes 0 --dry-run",
    exit: 2,
    message: "--nnodes must be an integer >= 1",
  },
  "finetune: --node-rank past the nodes": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --nnodes 2 --node-rank 2 --master-addr h --dry-run",
    exit: 2,
    message: "--node-rank must be an integer in 0..1, got 2",
  },
  "finetune: --max-steps abc": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --max-steps abc --dry-run",
    exit: 2,
    message: '--max-steps expects a number, got "abc"',
  },
  "finetune: --run-dir is a file": {
    args: "finetune --config {root}/configs/tiny-cpu.yaml --run-dir {file}",
    exit: 2,
    message: "--run-dir {file}: is a file",
  },
  "finetune: a config that is not UTF-8": {
    args: "finetune --config {dir}/bad.yaml --dry-run",
    exit: 2,
    message: "not valid UTF-8",
    files: { "bad.yaml": Buffer.from([0x6d, 0x6f, 0x64, 0x65, 0x6c, 0x3a, 0x0a, 0x20, 0x20, 0xff, 0xfe, 0x0a]) },
  },
  "finetune: an unknown config key": {
    args: "finetune --config {dir}/c.yaml --dry-run",
    exit: 2,
    message: "unknown key",
    files: { "c.yaml": "model:\n  name_or_path: x\n  template: mistral\nlearning_rat: 1\n" },
  },
  "finetune: a config nested 5,000 brackets deep (the YAML parser's recursion once aborted the process)": {
    args: "finetune --config {dir}/c.yaml --dry-run",
    exit: 2,
    message: "c.yaml:2: not a config: brackets nested 101 deep (at most 100) at column 117",
    files: { "c.yaml": `model:\n  name_or_path: ${"[".repeat(5000)}${"]".repeat(5000)}\n` },
  },
  "ablate: a config indented 1,000 levels deep": {
    args: "ablate --config {dir}/a.yaml --dry-run",
    exit: 2,
    message: "a.yaml:402: not a config: indented 401 columns (at most 400)",
    files: { "a.yaml": `${Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n")} 1\n` },
  },
  // serve
  "serve: --port 70000": { args: "serve --run {dir} --port 70000", exit: 2, message: "--port must be an integer >= 0 and <= 65535" },
  "serve: --startup-timeout 0": {
    args: "serve --run {dir} --startup-timeout 0",
    exit: 2,
    message: "--startup-timeout must be a number > 0 and <= 86400, got 0",
  },
  "serve: --run is a file": { args: "serve --run {file}", exit: 2, message: "--run {file}: is a file" },
  "serve: --run is not a finetune run": { args: "serve --run {dir}", exit: 2, message: "{dir}" },
  "serve: nothing to serve": { args: "serve", exit: 2, message: "give --run (an adapter) or --base-model (no adapter), one of them" },
  "serve: --base-model is not a model folder": {
    args: "serve --base-model {dir}",
    exit: 2,
    message: "--base-model {dir}: no config.json; expected a transformers model folder",
  },
  "serve: --base-model without a template": {
    args: "serve --base-model {dir}",
    exit: 2,
    message: "no provenance manifest names its chat template; give --template",
    files: { "config.json": "{}" },
  },
  // eval: flags
  "eval: --seed abc": { args: `${EVAL1} --seed abc`, exit: 2, message: '--seed expects a number, got "abc"' },
  "eval: --top-p 5": { args: `${EVAL1} --top-p 5`, exit: 2, message: "--top-p must be a number > 0 and <= 1, got 5" },
  "eval: --task twice": { args: `${EVAL} --task understanding --task utilization`, exit: 2, message: "--task was given 2 times" },
  "eval: --task everything": { args: `${EVAL} --task everything`, exit: 2, message: '--task "everything" is not a task' },
  "eval: --limit 0": { args: `${EVAL} --limit 0`, exit: 2, message: "--limit must be an integer >= 1, got 0" },
  "eval: --concurrency 1.5": { args: `${EVAL1} --concurrency 1.5`, exit: 2, message: '--concurrency "1.5": expected N' },
  "eval: --concurrency fixed:0": { args: `${EVAL1} --concurrency fixed:0`, exit: 2, message: '--concurrency "fixed:0": expected N' },
  "eval: --concurrency fixed:x": { args: `${EVAL1} --concurrency fixed:x`, exit: 2, message: '--concurrency "fixed:x": expected N' },
  "eval: --concurrency -3": { args: `${EVAL1} --concurrency -3`, exit: 2, message: '--concurrency "-3": expected N' },
  "eval: --temperature -1": { args: `${EVAL1} --temperature -1`, exit: 2, message: "--temperature must be a number >= 0" },
  "eval: --top-logprobs 50": { args: `${EVAL1} --top-logprobs 50`, exit: 2, message: "--top-logprobs must be an integer >= 0 and <= 20" },
  "eval: --timeout past what a timer can hold": {
    args: `${EVAL1} --timeout 1e10`,
    exit: 2,
    message: "--timeout must be a number > 0 and <= 86400, got 10000000000",
  },
  "eval: --timeout 0": { args: `${EVAL1} --timeout 0`, exit: 2, message: "--timeout must be a number > 0" },
  "eval: --mode sideways": { args: `${EVAL1} --mode sideways`, exit: 2, message: "Invalid values" },
  "eval: --model not a backend": { args: `${EVAL1} --model gpt4`, exit: 2, message: '--model "gpt4" is not a backend' },
  "eval: --base-url not a URL": { args: `${EVAL1} --model openai:test-model --base-url localhost:8000`, exit: 2, message: "--base-url" },
  "eval: --api-key-env names an unset variable": {
    args: `${EVAL1} --model openai:test-model --base-url {url} --api-key-env HARNESS_TEST_UNSET_KEY`,
    exit: 2,
    message: "--api-key-env HARNESS_TEST_UNSET_KEY: the variable HARNESS_TEST_UNSET_KEY is not set",
  },
  "eval: --run-id with a slash": { args: `${EVAL1} --run-id a/b`, exit: 2, message: '--run-id "a/b": expected a folder name' },
  "eval: --generation-config without --decoding model-default": {
    args: `${EVAL1} --generation-config {dir}`,
    exit: 2,
    message: "--generation-config is read only with --decoding model-default (--decoding is official)",
  },
  "eval: --label without =": { args: `${EVAL1} --label nokey`, exit: 2, message: '--label "nokey": expected key=value' },
  "eval: --ids not in the file": { args: `${EVAL} --task understanding --ids NOPE_1,NOPE_2`, exit: 2, message: "--ids: 2 id(s) not in" },
  // eval: paths
  "eval: --out is a file": { args: `${EVAL1.replace("{dir}/reports", "{file}")}`, exit: 2, message: "--out {file}: is a file" },
  "eval: --out on a file system it cannot write": {
    args: `${EVAL1.replace("{dir}/reports", "/sys/harness-reports")}`,
    exit: 2,
    message: "--out /sys/harness-reports: cannot write in /sys",
  },
  "eval: --data without the files": {
    args: "eval --data {dir} --task understanding",
    exit: 1,
    message: "does not contain QA_fullInfo_task1.jsonl",
  },
  // eval: inputs
  "eval: a data file that is not UTF-8": {
    args: "eval --data {dir}/d --task understanding --limit 2 --out {dir}/reports",
    exit: 1,
    message: "QA_fullInfo_task1.jsonl:3: not valid UTF-8",
    files: {
      "d/QA_fullInfo_task1.jsonl": async () => {
        const lines = (await task1()).toString("utf8").split("\n");
        return Buffer.concat([
          Buffer.from(`${lines.slice(0, 2).join("\n")}\n`),
          Buffer.from([0xc3, 0x28, 0x0a]),
          Buffer.from(lines.slice(3).join("\n")),
        ]);
      },
    },
  },
  "eval: a data file with a BOM is read, and its difference from the release is a WARNING": {
    args: "eval --data {dir}/d --task understanding --limit 2 --out {dir}/reports --progress false",
    exit: 0,
    message: "WARNING: ",
    files: { "d/QA_fullInfo_task1.jsonl": async () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await task1()]) },
    check: (r) => expect(r.stderr).toMatch(/differs from the pinned IntentionQA release/),
  },
  "eval: a difficulty file missing scored questions": {
    args: `${EVAL} --task understanding --limit 5 --difficulty-file {dir}/levels.csv`,
    exit: 2,
    message: "no similarity or level for 2 of 5 scored question(s)",
    files: { "levels.csv": async () => `id,level\n${(await scoredIds(3)).map((id) => `${id},easy`).join("\n")}\n` },
  },
  "eval: a partial difficulty file accepted with --allow-partial-difficulty is marked": {
    args: `${EVAL} --task understanding --limit 5 --difficulty-file {dir}/levels.csv --allow-partial-difficulty --model baseline:majority --run-id r`,
    exit: 0,
    message: "",
    files: { "levels.csv": async () => `id,level\n${(await scoredIds(3)).map((id) => `${id},easy`).join("\n")}\n` },
    check: async (_r, { dir }) => {
      const report = JSON.parse(await readFile(join(dir, "reports", "r", "report.json"), "utf8"));
      expect(report.results[0].difficulty).toMatchObject({
        approximate: true,
        description: expect.stringMatching(/^PARTIAL: .* 3 of 5 scored questions/),
      });
    },
  },
  "eval: a difficulty file that is not UTF-8": {
    args: `${EVAL1} --difficulty-file {dir}/levels.csv`,
    exit: 1,
    message: "levels.csv:2: not valid UTF-8",
    files: { "levels.csv": Buffer.from([0x69, 0x64, 0x2c, 0x6c, 0x65, 0x76, 0x65, 0x6c, 0x0a, 0x80, 0x0a]) },
  },
  // eval: servers
  "eval: a server answering 500 names its message and the attempts": {
    args: `${EVAL1} --model openai:fail500 --base-url {url} --retries 1`,
    exit: 3,
    message: "2 of 2 question(s) ended in errors and were not scored: 2 x HTTP 500: model overloaded (2 attempts each)",
    check: async (_r, { dir }) => expect(await reportStatuses(dir)).toEqual(["incomplete"]),
  },
  "eval: a server answering HTML is not retried": {
    args: `${EVAL1} --model openai:html --base-url {url}`,
    exit: 3,
    message: "x the server's reply is not JSON: HTML page: Welcome to nginx (1 attempt each)",
  },
  "eval: a server answering broken JSON": {
    args: `${EVAL1} --model openai:broken-json --base-url {url}`,
    exit: 3,
    message: "the server's reply is not valid JSON",
  },
  "eval: a server answering no choices": {
    args: `${EVAL1} --model openai:no-choices --base-url {url}`,
    exit: 3,
    message: "2 x the server's reply has no choices (1 attempt each)",
  },
  "eval: a server that never answers": {
    args: `${EVAL1} --model openai:hang --base-url {url} --timeout 0.3 --retries 0`,
    exit: 3,
    message: "2 x no answer within 300 ms (1 attempt each)",
  },
  "eval: a model the server does not serve": {
    args: `${EVAL1} --model openai:gpt-7 --base-url {url}`,
    exit: 1,
    message: 'does not serve model "gpt-7"',
  },
  "eval: an unreachable server": {
    args: `${EVAL1} --model openai:m --base-url http://127.0.0.1:9/v1`,
    exit: 1,
    message: "cannot reach an OpenAI-compatible server at http://127.0.0.1:9/v1",
  },
  "eval: a server that is not OpenAI-compatible": {
    args: `${EVAL1} --model openai:m --base-url {html}`,
    exit: 1,
    message: "does not answer like an OpenAI-compatible API",
  },
  "eval: a rejected API key": {
    args: `${EVAL1} --model openai:test-model --base-url {auth}`,
    exit: 1,
    message: "rejected the API key",
    env: { OPENAI_API_KEY: "the-wrong-key" },
  },
  "eval: no OpenAI key for api.openai.com": {
    args: `${EVAL1} --model openai:gpt-4o`,
    exit: 1,
    message: "needs an API key: set OPENAI_API_KEY",
    env: { OPENAI_API_KEY: "" },
  },
  "eval: a server echoing the key back never shows it": {
    args: `${EVAL1} --model openai:echo-auth --base-url {url} --retries 0`,
    exit: 3,
    message: "HTTP 400: bad request from Bearer [REDACTED]",
    env: { OPENAI_API_KEY: "sk-test-echo-secret-123456" },
    check: async (r, { dir }) => {
      expect(r.stderr + r.stdout).not.toContain("sk-test-echo-secret-123456");
      for (const file of await filesUnder(dir)) expect(await readFile(file, "utf8"), file).not.toContain("sk-test-echo-secret-123456");
    },
  },
  "eval: hf: with no token names HF_TOKEN": {
    args: `${EVAL1} --model hf:org/model`,
    exit: 1,
    message: "hf:org/model needs a Hugging Face token: set HF_TOKEN",
    env: { HF_TOKEN: "" },
  },
  "eval: hf: with a rejected token": {
    args: `${EVAL1} --model hf:org/model`,
    exit: 1,
    message: "rejected the token in HF_TOKEN",
    env: { HF_TOKEN: "hf_wrong_token_123", HF_ENDPOINT: "{authRoot}" },
  },
  "eval: hf: an unknown model": {
    args: `${EVAL1} --model hf:org/no-such-model`,
    exit: 1,
    message: "no such model on the Hugging Face Hub",
    env: { HF_TOKEN: "hf_some_token_123", HF_ENDPOINT: "{urlRoot}" },
  },
  "eval --run: not a finetune run": { args: `${EVAL1} --run {dir}/no-run`, exit: 2, message: "no-run" },
  "eval: --run and --base-model": {
    args: `${EVAL1} --run {dir} --base-model {dir}`,
    exit: 2,
    message: "--run and --base-model both name what to serve: give one",
  },
  "eval: --template without --base-model": { args: `${EVAL1} --template smollm2`, exit: 2, message: "--template goes with --base-model" },
  "eval --base-model: with --model": {
    args: `${EVAL1} --base-model {dir} --model openai:m --base-url http://127.0.0.1:9/v1`,
    exit: 2,
    message: "--base-model serves the model itself: leave out --model and --base-url",
  },
  // ablate
  "ablate: no config file": { args: "ablate --config {dir}/nope.yaml", exit: 2, message: "--config {dir}/nope.yaml: no such file" },
  "ablate: eval.tasks everything": {
    args: "ablate --config {dir}/a.yaml",
    exit: 2,
    message: 'eval.tasks: "everything" is not a task',
    files: { "a.yaml": ABLATION("recipes: [zero-shot]\neval:\n  tasks: everything\n") },
  },
  "ablate: a KB that does not exist": {
    args: "ablate --config {dir}/a.yaml",
    exit: 2,
    message: "data.kb: {dir}/kb.jsonl: no such file",
    files: { "a.yaml": ABLATION("recipes: [mind]\ndata:\n  kb: {dir}/kb.jsonl\n") },
  },
  "ablate --dry-run shows the plan with what is missing": {
    args: "ablate --config {dir}/a.yaml --dry-run",
    exit: 2,
    message: "ablation preflight",
    files: { "a.yaml": ABLATION("recipes: [zero-shot, mind]\ndata:\n  kb: {dir}/kb.jsonl\n") },
    check: (r) => {
      expect(r.stdout).toMatch(/tiny-zero-shot +todo/);
      expect(r.stdout).toMatch(/tiny-mind +todo .*MISSING: data\.kb/);
    },
  },
  "ablate: the critic recipe without scores": {
    args: "ablate --config {dir}/a.yaml --dry-run",
    exit: 2,
    message: 'has no "critic_score" column',
    files: { "a.yaml": ABLATION("recipes: [critic]\ndata:\n  kb: {dir}/kb.jsonl\n"), "kb.jsonl": `${KB_LINE}\n` },
  },
  "ablate: no llamafactory-cli": {
    args: "ablate --config {dir}/a.yaml",
    exit: 2,
    message: "llamafactory-cli not found",
    env: { LLAMAFACTORY_CLI: "/nonexistent/llamafactory-cli" },
    files: { "a.yaml": ABLATION("recipes: [mind]\ndata:\n  kb: {dir}/kb.jsonl\n"), "kb.jsonl": `${KB_LINE}\n` },
  },
  "ablate: --cell that is not in the matrix": {
    args: "ablate --config {dir}/a.yaml --cell tiny/best",
    exit: 2,
    message: "--cell tiny/best: no such cell",
    files: { "a.yaml": ABLATION("recipes: [zero-shot]\n") },
  },
  "ablate: --slurm with --cell": {
    args: "ablate --config {dir}/a.yaml --slurm --cell tiny/zero-shot",
    exit: 2,
    message: "--cell and --slurm cannot go together",
  },
  "ablate: --slurm-after that is not a job id": {
    args: "ablate --config {dir}/a.yaml --slurm --slurm-after 12;rm",
    exit: 2,
    message: '--slurm-after "12;rm": expected a SLURM job id (digits)',
  },
  "ablate: --wait without --status": { args: "ablate --config {dir}/a.yaml --wait", exit: 2, message: "--wait needs --status" },
  // report
  "report: --out is a folder": { args: "report {dir} --out {dir}", exit: 2, message: "--out {dir}: is a directory" },
  "report: a file that is not a report": { args: "report {file}", exit: 2, message: "not a harness report" },
  "report: a folder without reports": { args: "report {dir}/empty", exit: 2, message: "no report.json", files: { "empty/.keep": "" } },
  "report: --format pdf": { args: "report {dir} --format pdf", exit: 2, message: "Invalid values" },
  // diff
  "diff: --alpha 2": { args: "diff {file} {file} --alpha 2", exit: 2, message: "--alpha must be a number > 0 and <= 1, got 2" },
  "diff: --bootstrap abc": { args: "diff {file} {file} --bootstrap abc", exit: 2, message: '--bootstrap expects a number, got "abc"' },
  "diff: --out is a folder": { args: "diff {file} {file} --out {dir}", exit: 2, message: "--out {dir}: is a directory" },
  "diff: a base that does not exist": { args: "diff {dir}/none.json {file}", exit: 2, message: "none.json" },
};

badInputTable("bad inputs: one clear line, the right exit code, nothing half-written", CASES);
