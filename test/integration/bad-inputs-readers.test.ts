import { expect } from "vitest";
import { KB_COLUMNS } from "../../harness/kb/schema.ts";
import type { CliResult } from "../helpers/cli.ts";
import { type BadInputCase, badInputTable, KB_ROW, scoredIds, task1File } from "../helpers/bad-input-table.ts";

const task1 = task1File;

const KB_LINE = JSON.stringify(KB_ROW);
const KB_HEADER = KB_COLUMNS.join(",");
const KB_CSV_ROW = KB_COLUMNS.map((c) => KB_ROW[c]).join(",");
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** Bytes no text file holds: NULs, bytes that are not UTF-8, CR/LF mixes. */
const BINARY = Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0xc3]);
/** One line of 5 MB. */
const GIGANTIC = "x".repeat(5_000_000);
/** JSON nested 100,000 deep. */
const DEEP = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;

const BUILD_SFT = (kb: string) => `build-sft --kb {dir}/${kb} --out {dir}/sft --no-decontaminate`;
const CRITIC_FILE = (file: string) => `${BUILD_SFT("kb.jsonl")} --recipe critic --critic-file {dir}/${file}`;
const EVAL1 = "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --limit 2";
const DISTILL = (records: string) =>
  `distill --records {dir}/${records} --model test-model --base-url {url} --out {dir}/kb --cache-dir {dir}/cache --progress false`;
const levelsCsv = async (ids: string[]) => `id,level\n${ids.map((id) => `${id},easy`).join("\n")}\n`;

/** The error line stays one bounded line however big the input line was. */
const boundedMessage = (r: CliResult) => {
  const line = r.stderr.split("\n").find((l) => l.startsWith("harness: error: ")) ?? "";
  expect(line.length).toBeLessThan(1000);
};

// prettier-ignore
const CASES: Record<string, BadInputCase> = {
  // KB (build-sft, critic, annotate export)
  "build-sft: a binary KB": {
    args: BUILD_SFT("kb.jsonl"),
    exit: 1,
    message: "{dir}/kb.jsonl:1: not valid UTF-8 text",
    files: { "kb.jsonl": BINARY },
  },
  "build-sft: an empty CSV KB": {
    args: BUILD_SFT("kb.csv"),
    exit: 1,
    message: "{dir}/kb.csv: empty file: expected a header line",
    files: { "kb.csv": "" },
  },
  "build-sft: a CSV KB that is only a BOM": {
    args: BUILD_SFT("kb.csv"),
    exit: 1,
    message: "{dir}/kb.csv: empty file",
    files: { "kb.csv": BOM },
  },
  "build-sft: a CSV KB whose header names a column twice": {
    args: BUILD_SFT("kb.csv"),
    exit: 1,
    message: '{dir}/kb.csv:1: the header names the column "Intention" twice (columns 8 and 11)',
    files: { "kb.csv": `${KB_HEADER},Intention\n${KB_CSV_ROW},other\n` },
  },
  "build-sft: a JSONL KB with a number where a string goes": {
    args: BUILD_SFT("kb.jsonl"),
    exit: 1,
    message: '{dir}/kb.jsonl:2: key "Intention" must be a string, got number',
    files: { "kb.jsonl": `${KB_LINE}\n${JSON.stringify({ ...KB_ROW, Intention: 5 })}\n` },
  },
  "build-sft: a JSONL KB line of deeply nested JSON": {
    args: BUILD_SFT("kb.jsonl"),
    exit: 1,
    message: "{dir}/kb.jsonl:1: expected a JSON object with the keys",
    files: { "kb.jsonl": `${DEEP}\n` },
  },
  "build-sft: a JSONL KB cut in its last line": {
    args: BUILD_SFT("kb.jsonl"),
    exit: 1,
    message: "{dir}/kb.jsonl:2: not valid JSON",
    files: { "kb.jsonl": `${KB_LINE}\n${KB_LINE.slice(0, 40)}` },
  },
  "build-sft: a CSV KB with one gigantic line in an open quote": {
    args: BUILD_SFT("kb.csv"),
    exit: 1,
    message: "{dir}/kb.csv:2: a quoted field opened in the record starting here is never closed",
    files: { "kb.csv": `${KB_HEADER}\n"${GIGANTIC}\n` },
    check: boundedMessage,
  },
  "build-sft: a CSV KB with a stray quote in a gigantic field (message bounded)": {
    args: BUILD_SFT("kb.csv"),
    exit: 1,
    message: "{dir}/kb.csv:2: malformed CSV",
    files: { "kb.csv": `${KB_HEADER}\nA1,"B1"${GIGANTIC},x\n` },
    check: boundedMessage,
  },
  "critic: a KB of NUL bytes": {
    args: "critic --kb {dir}/kb.csv --model test-model --base-url {url} --out {dir}/critic.csv --cache-dir {dir}/cache",
    exit: 1,
    message: "{dir}/kb.csv:1: the header lacks the columns",
    files: { "kb.csv": Buffer.alloc(64) },
  },
  "annotate export: a KB whose header names a column twice": {
    args: "annotate export --kb {dir}/kb.csv --out {dir}/sheet.csv",
    exit: 1,
    message: 'the header names the column "id_a" twice',
    files: { "kb.csv": `id_a,${KB_HEADER}\nX,${KB_CSV_ROW}\n` },
  },
  // critic side files (build-sft --recipe critic)
  "build-sft: a critic file with an intention scored twice": {
    args: CRITIC_FILE("critic.csv"),
    exit: 1,
    message: "{dir}/critic.csv:3: the same id_a, id_b, Relation, Intention as line 2",
    files: {
      "kb.jsonl": `${KB_LINE}\n`,
      "critic.csv":
        "id_a,id_b,Relation,Intention,critic_score\nA1,B1,usedFor,they are both used for running,0.9\nA1,B1,usedFor,they are both used for running,0.1\n",
    },
  },
  "build-sft: a critic file with a row scored twice": {
    args: CRITIC_FILE("critic.jsonl"),
    exit: 1,
    message: "{dir}/critic.jsonl:3: the same row as line 1",
    files: {
      "kb.jsonl": `${KB_LINE}\n`,
      "critic.jsonl": '{"row":0,"critic_score":0.9}\n{"row":1,"critic_score":0.5}\n{"row":0,"critic_score":0.1}\n',
    },
  },
  "build-sft: a critic file with an empty row index": {
    args: CRITIC_FILE("critic.csv"),
    exit: 1,
    message: '{dir}/critic.csv:2: row "" is not a 0-based row index',
    files: { "kb.jsonl": `${KB_LINE}\n`, "critic.csv": "row,critic_score\n,0.9\n" },
  },
  "build-sft: a critic file with a row index of 2^32 (no allocation of that size)": {
    args: `${CRITIC_FILE("critic.csv")} --critic-threshold 0.5`,
    exit: 0,
    message: "",
    files: { "kb.jsonl": `${KB_LINE}\n`, "critic.csv": "row,critic_score\n0,0.9\n4294967296,0.9\n" },
  },
  "build-sft: a critic file whose header names a column twice": {
    args: CRITIC_FILE("critic.csv"),
    exit: 1,
    message: '{dir}/critic.csv:1: the header names the column "critic_score" twice',
    files: { "kb.jsonl": `${KB_LINE}\n`, "critic.csv": "row,critic_score,critic_score\n0,0.9,0.1\n" },
  },
  // difficulty files (eval --difficulty-file)
  "eval: a CSV difficulty file with an id twice": {
    args: `${EVAL1} --difficulty-file {dir}/levels.csv`,
    exit: 1,
    message: "(first at line 2); give each id one level",
    files: { "levels.csv": async () => `${await levelsCsv(await scoredIds(2))}${(await scoredIds(1))[0]},hard\n` },
    check: async (r) => expect(r.stderr).toContain(`levels.csv:4: duplicate id "${(await scoredIds(1))[0]}"`),
  },
  "eval: a JSON difficulty file with a key twice (JSON.parse keeps the last)": {
    args: `${EVAL1} --difficulty-file {dir}/levels.json`,
    exit: 1,
    message: "levels.json:3: duplicate id",
    files: {
      "levels.json": async () => {
        const [a, b] = await scoredIds(2);
        return `{\n  "${a}": "easy",\n  "${a}": "hard",\n  "${b}": 0.9\n}\n`;
      },
    },
  },
  "eval: a JSON-array difficulty file with an id twice": {
    args: `${EVAL1} --difficulty-file {dir}/levels.json`,
    exit: 1,
    message: "levels.json:4: duplicate id",
    files: {
      "levels.json": async () => {
        const [a, b] = await scoredIds(2);
        return `[\n {"id": "${a}", "level": "easy"},\n {"id": "${b}", "similarity": 0.2},\n {"id": "${a}", "level": "hard"}\n]\n`;
      },
    },
  },
  "eval: an empty difficulty file": {
    args: `${EVAL1} --difficulty-file {dir}/levels.csv`,
    exit: 1,
    message: 'levels.csv:1: the header must name an "id" column',
    files: { "levels.csv": "" },
  },
  "eval: a difficulty file that is only a BOM": {
    args: `${EVAL1} --difficulty-file {dir}/levels.json`,
    exit: 1,
    message: "levels.json: not valid JSON",
    files: { "levels.json": BOM },
  },
  "eval: a difficulty file of deeply nested JSON": {
    args: `${EVAL1} --difficulty-file {dir}/levels.json`,
    exit: 1,
    message: "levels.json:1: entry 0 must be an object",
    files: { "levels.json": DEEP },
  },
  "eval: a difficulty level of the wrong type": {
    args: `${EVAL1} --difficulty-file {dir}/levels.json`,
    exit: 1,
    message: "expected a similarity (a number) or a level (easy, medium, hard), got true",
    files: { "levels.json": async () => `{"${(await scoredIds(1))[0]}": true}` },
  },
  "eval: a difficulty file of one gigantic line (message bounded)": {
    args: `${EVAL1} --difficulty-file {dir}/levels.csv`,
    exit: 1,
    message: "levels.csv:2: not valid CSV",
    files: { "levels.csv": `id,level\n"a"${GIGANTIC}\n` },
    check: boundedMessage,
  },
  // id lists (eval --ids)
  "eval: an --ids file with an id twice": {
    args: "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --ids @{dir}/ids.txt",
    exit: 2,
    message: "ids.txt:1 and {dir}/ids.txt:3; give each id once",
    files: {
      "ids.txt": async () => {
        const [a, b] = await scoredIds(2);
        return `${a}\n${b}\n${a}\n`;
      },
    },
  },
  "eval: --ids with an id twice": {
    args: "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --ids X1,X2,X1",
    exit: 2,
    message: '--ids X1,X2,X1: duplicate id "X1" at entry 1 and entry 3',
  },
  "eval: a binary --ids file": {
    args: "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --ids @{dir}/ids.txt",
    exit: 2,
    message: "--ids @{dir}/ids.txt:1: not valid UTF-8",
    files: { "ids.txt": BINARY },
  },
  // the IntentionQA questions (eval --data)
  "eval: a questions file with a line of deeply nested JSON": {
    args: "eval --data {dir}/d --task understanding --limit 2 --out {dir}/reports --progress false",
    exit: 1,
    message: "QA_fullInfo_task1.jsonl:1: expected a JSON object, got an array",
    files: { "d/QA_fullInfo_task1.jsonl": async () => Buffer.concat([Buffer.from(`${DEEP}\n`), await task1()]) },
  },
  // distill records
  "distill: a binary records file": {
    args: DISTILL("cobuy.jsonl"),
    exit: 1,
    message: "{dir}/cobuy.jsonl:1: not valid UTF-8",
    files: { "cobuy.jsonl": BINARY },
  },
  "distill: a records CSV that is only a BOM": {
    args: DISTILL("cobuy.csv"),
    exit: 1,
    message: "--records {dir}/cobuy.csv: no records",
    files: { "cobuy.csv": BOM },
  },
  "distill: a records CSV whose header names a column twice (the last would win)": {
    args: DISTILL("cobuy.csv"),
    exit: 1,
    message: '{dir}/cobuy.csv:1: the header names the column "name_a" twice',
    files: { "cobuy.csv": "id_a,name_a,id_b,name_b,name_a\nP1,Shoe,P2,Sock,Hat\n" },
  },
  "distill: a record with an object where a name goes": {
    args: DISTILL("cobuy.jsonl"),
    exit: 1,
    message: '{dir}/cobuy.jsonl:1: field "name_a" must be a string, got object',
    files: { "cobuy.jsonl": '{"id_a":"P1","name_a":{"en":"Shoe"},"id_b":"P2","name_b":"Sock"}\n' },
  },
  "distill: a records file of one gigantic line (message bounded)": {
    args: DISTILL("cobuy.csv"),
    exit: 1,
    message: "{dir}/cobuy.csv:2: not valid CSV",
    files: { "cobuy.csv": `id_a,name_a,id_b,name_b\nP1,"S"${GIGANTIC},P2,Sock\n` },
    check: boundedMessage,
  },
  "distill: a batch output file that is not UTF-8": {
    args: `${DISTILL("cobuy.jsonl")} --ingest-batch {dir}/out.jsonl`,
    exit: 1,
    message: "--ingest-batch {dir}/out.jsonl:1: not valid UTF-8",
    files: { "cobuy.jsonl": '{"id_a":"P1","name_a":"Shoe","id_b":"P2","name_b":"Sock","relation":"usedFor"}\n', "out.jsonl": BINARY },
  },
  "distill: a batch output line with a gigantic custom_id (message bounded)": {
    args: `${DISTILL("cobuy.jsonl")} --ingest-batch {dir}/out.jsonl`,
    exit: 1,
    message: "{dir}/out.jsonl:1: custom_id",
    files: {
      "cobuy.jsonl": '{"id_a":"P1","name_a":"Shoe","id_b":"P2","name_b":"Sock","relation":"usedFor"}\n',
      "out.jsonl": `{"custom_id":"${GIGANTIC}"}\n`,
    },
    check: boundedMessage,
  },
  // annotation judgements
  "annotate score: a binary judgements file": {
    args: "annotate score {dir}/j.csv",
    exit: 1,
    message: "{dir}/j.csv:1: not valid UTF-8",
    files: { "j.csv": BINARY },
  },
  "annotate score: an empty judgements file": {
    args: "annotate score {dir}/j.csv",
    exit: 1,
    message: "{dir}/j.csv: empty file",
    files: { "j.csv": BOM },
  },
  "annotate score: a judgements header naming a column twice": {
    args: "annotate score {dir}/j.csv",
    exit: 1,
    message: '{dir}/j.csv:1: the header names the column "label" twice',
    files: { "j.csv": "item_id,annotator,question,label,label\nisA:1,ann1,plausible,yes,no\n" },
  },
  "annotate score: the same judgement twice": {
    args: "annotate score {dir}/j.csv",
    exit: 1,
    message: "{dir}/j.csv:3: duplicate judgement: annotator ann1 already answered plausible for item isA:1 at {dir}/j.csv:2",
    files: {
      "j.csv":
        "item_id,annotator,question,label,relation\nisA:1,ann1,plausible,yes,isA\nisA:1,ann1,plausible,no,isA\nisA:1,ann2,plausible,yes,isA\n",
    },
  },
  // YAML configs
  "finetune: a config of nested aliases (a billion laughs)": {
    args: "finetune --config {dir}/c.yaml --dry-run",
    exit: 2,
    message: "{dir}/c.yaml",
    files: {
      "c.yaml": [
        "a: &a [x,x,x,x,x,x,x,x,x]",
        ..."bcdefgh".split("").map((n, i) => `${n}: &${n} [${Array(9).fill(`*${"abcdefgh"[i]}`).join(",")}]`),
      ].join("\n"),
    },
  },
  "finetune: a config with a key twice": {
    args: "finetune --config {dir}/c.yaml --dry-run",
    exit: 2,
    message: "{dir}/c.yaml:4: not valid YAML: Map keys must be unique",
    files: { "c.yaml": "model:\n  name_or_path: x\n  template: mistral\nmodel: y\n" },
  },
  "ablate: a binary config": {
    args: "ablate --config {dir}/a.yaml --dry-run",
    exit: 2,
    message: "--config {dir}/a.yaml:1: not valid UTF-8",
    files: { "a.yaml": BINARY },
  },
  "ablate: a config of one gigantic line (message bounded)": {
    args: "ablate --config {dir}/a.yaml --dry-run",
    exit: 2,
    message: "{dir}/a.yaml",
    files: { "a.yaml": `backbones: [${GIGANTIC}\n` },
    check: boundedMessage,
  },
};

badInputTable("bad inputs: readers and parsers under hostile files", CASES);
