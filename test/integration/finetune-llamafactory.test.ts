import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { runManifestSchema, type RunManifest } from "../../harness/finetune/manifest.ts";
import { parseTrainerLogLine } from "../../harness/llamafactory/trainer-log.ts";
import { reportSchema } from "../../harness/reports/schema.ts";
import { sha256File } from "../../harness/util/fs.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness } from "../helpers/cli.ts";
import { HARNESS_BIN, intentionqaDir } from "../helpers/paths.ts";

/**
 * The real thing, on CPU: a tiny random Llama model, `harness build-sft` on a fixture KB,
 * `harness finetune` through LLaMA-Factory (LoRA rank 64, a few steps), Ctrl-C and resume,
 * then the adapter served by LLaMA-Factory's API server and evaluated on real IntentionQA
 * questions. No mock: LLaMA-Factory comes from finetune/.venv (bash finetune/setup.sh).
 */

const VENV = join(PROJECT_ROOT, "finetune", ".venv");
const CLI = join(VENV, "bin", "llamafactory-cli");
const haveVenv = existsSync(CLI);
const inCI = process.env.CI === "true";
const skip = !haveVenv && !inCI;
const TINY_CONFIG = join(PROJECT_ROOT, "configs", "tiny-cpu.yaml");
// A secret in the environment must never reach a file the harness writes.
const SECRET = "hf_integration_test_secret_do_not_write";
const env = { LLAMAFACTORY_CLI: CLI, HF_TOKEN: SECRET, HF_HUB_OFFLINE: "1" };

let work: string;
const at = (...parts: string[]) => join(work, ...parts);
/** `harness finetune` of the tiny model on the built mind data, into `runDir`. */
const finetuneArgs = (runDir: string) => [
  "finetune",
  "--config",
  TINY_CONFIG,
  "--recipe",
  "mind",
  "--dataset-dir",
  at("sft"),
  "--run-dir",
  runDir,
  "--model-path",
  at("tiny"),
];

async function readManifest(runDir: string): Promise<RunManifest> {
  return runManifestSchema.parse(JSON.parse(await readFile(join(runDir, "manifest.json"), "utf8")));
}

/**
 * Processes whose command line mentions this path (a run directory is unique to a test). A
 * process killed a moment ago may still be listed until it is reaped, so this looks again for
 * a few seconds before reporting survivors.
 */
async function processesMentioning(path: string): Promise<string[]> {
  let found: string[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const ps = await execa("ps", ["-eo", "pid=,stat=,args="]);
    found = ps.stdout.split("\n").filter((line) => line.includes(path) && !line.includes("ps -eo") && !/^\s*\d+\s+Z/.test(line));
    if (found.length === 0) return found;
    await new Promise((r) => setTimeout(r, 250));
  }
  return found;
}

async function writeFixtureKb(file: string): Promise<void> {
  const header = "id_a,id_b,Product_a,Product_b,Relation,product_a_desc,product_b_desc,Intention,tail,Agreement";
  const relations = ["usedFor", "can", "isA", "open"];
  const rows = Array.from({ length: 24 }, (_, i) =>
    [
      `A${i}`,
      `B${i}`,
      `Phone case model ${i}`,
      `"Screen protector, pack of ${i + 2}"`,
      relations[i % 4],
      `"A slim, ""rugged"" case,\nwith grip."`,
      "Tempered glass.",
      `they are both used for protecting phone number ${i}`,
      "protect phone",
      i % 5 === 0 ? `"No, not really."` : `"Yes, it makes sense."`,
    ].join(","),
  );
  await writeFile(file, `${header}\n${rows.join("\n")}\n`);
}

describe.skipIf(skip)(
  skip ? "LLaMA-Factory on CPU (skipped: finetune/.venv is missing; run `bash finetune/setup.sh`)" : "LLaMA-Factory on CPU",
  () => {
    beforeAll(async () => {
      if (!haveVenv) throw new Error(`CI=true but ${CLI} is missing: .ci/run must run \`bash finetune/setup.sh\` before the tests`);
      work = await mkdtemp(join(tmpdir(), "harness-lf-"));
      await execa(join(VENV, "bin", "python"), [join(PROJECT_ROOT, "test", "helpers", "make_tiny_model.py"), at("tiny")]);
      await writeFixtureKb(at("kb.csv"));
      const built = await runHarness(
        ["build-sft", "--kb", at("kb.csv"), "--recipe", "mind", "--out", at("sft"), "--data", intentionqaDir()],
        { cwd: work },
      );
      expect(built.exitCode, built.stderr).toBe(0);
    }, 120_000);

    it("fine-tunes a LoRA rank-64 adapter for 3 steps, follows the trainer log and records the run", async () => {
      const train = () => runHarness(finetuneArgs(at("run")), { cwd: work, env, timeoutMs: 240_000 });
      const result = await train();
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/^train: step 3\/3 \(100\.0%\) {2}loss \d+\.\d{4} {2}lr /m);
      expect(result.stdout).toContain(`adapter: ${at("run", "output")}`);

      const output = at("run", "output");
      const files = await readdir(output);
      expect(files).toEqual(
        expect.arrayContaining([
          "adapter_model.safetensors",
          "adapter_config.json",
          "trainer_log.jsonl",
          "train_results.json",
          "checkpoint-3",
        ]),
      );
      const adapterConfig = JSON.parse(await readFile(join(output, "adapter_config.json"), "utf8")) as {
        r: number;
        lora_alpha: number;
        peft_type: string;
      };
      expect(adapterConfig).toMatchObject({ r: 64, lora_alpha: 128, peft_type: "LORA" });

      const entries = (await readFile(join(output, "trainer_log.jsonl"), "utf8"))
        .split("\n")
        .map(parseTrainerLogLine)
        .filter((e) => e !== null);
      const withLoss = entries.filter((e) => e.loss !== undefined);
      expect(withLoss.map((e) => e.currentSteps)).toEqual([1, 2, 3]);
      expect(withLoss.every((e) => e.totalSteps === 3 && Number.isFinite(e.loss))).toBe(true);

      const manifest = await readManifest(at("run"));
      expect(manifest).toMatchObject({
        status: "succeeded",
        recipe: "mind",
        resumedFrom: null,
        exitCode: 0,
        model: { template: "llama2", loraRank: 64, baseModel: at("tiny") },
      });
      expect(manifest.tools.packages.llamafactory).toBe("0.9.5");
      // The version-dependent defaults, read from the installed LLaMA-Factory itself.
      expect(manifest.llamafactory).toEqual({
        version: "0.9.5",
        cutoffLen: { value: 128, from: "the config's train.cutoff_len", default: 2048 },
        template: { name: "llama2", defaultSystem: "", from: "LLaMA-Factory 0.9.5 template" },
      });
      expect(result.stderr).toContain(
        "LLaMA-Factory 0.9.5: cutoff_len 128 (the config's train.cutoff_len); template llama2 system prompt: none",
      );
      // build-sft's record of the data, carried into the run: the paper's setting, no benchmark pair in this KB.
      expect(manifest.dataset).toMatchObject({
        decontaminated: false,
        benchmarkOverlap: { understanding: { questions: 0, scored: 2245 }, utilization: { questions: 0, scored: 2143 } },
      });
      expect(manifest.dataset.fileSha256).toBe(await sha256File(join(at("sft"), "intentionqa_mind.jsonl")));
      expect(manifest.trainYaml.sha256).toBe(await sha256File(at("run", "train.yaml")));
      expect(manifest.outputs.adapter).toBe(output);
      for (const file of ["manifest.json", "train.yaml", "train.log"])
        expect(await readFile(at("run", file), "utf8")).not.toContain(SECRET);
      expect(await processesMentioning(at("run"))).toEqual([]);

      // The same command again: nothing left to train, the adapter stays as it is.
      const adapterBytes = await readFile(join(output, "adapter_model.safetensors"));
      const again = await train();
      expect(again.exitCode, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/already trained with this config and data .*nothing to do/);
      expect(again.stdout).toContain(`adapter: ${output}`);
      expect((await readFile(join(output, "adapter_model.safetensors"))).equals(adapterBytes)).toBe(true);
      expect((await readManifest(at("run")))!.startedAt).toBe(manifest.startedAt);
    }, 300_000);

    it("stops cleanly on Ctrl-C, leaves no process behind, and a rerun resumes from the last checkpoint", async () => {
      const runDir = at("run-interrupted");
      const args = [...finetuneArgs(runDir), "--progress=false"];
      const child = execa("node", [HARNESS_BIN, ...args, "--max-steps", "500"], { cwd: work, env, reject: false });
      // Interrupt once a whole checkpoint exists (save_steps 1): on a loaded machine the first step can
      // be logged well before its checkpoint is written, and a resume needs one to resume from.
      const output = join(runDir, "output");
      const wholeCheckpoints = () =>
        existsSync(output)
          ? readdirSync(output).filter((n) => /^checkpoint-\d+$/.test(n) && existsSync(join(output, n, "trainer_state.json")))
          : [];
      const deadline = Date.now() + 180_000;
      while (wholeCheckpoints().length === 0) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`training never saved a whole checkpoint: ${String((await child).stderr)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      child.kill("SIGINT");
      const stopped = await child;
      expect(stopped.exitCode, String(stopped.stderr)).toBe(130);
      expect(String(stopped.stderr)).toMatch(/interrupted; the run stopped cleanly\. Rerun the same command to resume/);
      expect((await readManifest(runDir)).status).toBe("interrupted");
      expect(await processesMentioning(runDir)).toEqual([]);

      // Whole checkpoints only: the stop may have come in the middle of a later save.
      const whole = (await readdir(output))
        .filter((n) => /^checkpoint-\d+$/.test(n) && existsSync(join(output, n, "trainer_state.json")))
        .map((n) => Number(n.slice(11)));
      expect(whole.length).toBeGreaterThan(0);
      const last = Math.max(...whole);
      // A checkpoint cut off while saving (weights but no trainer state), as a kill mid-save leaves it.
      const partial = join(output, `checkpoint-${last + 100}`);
      await mkdir(partial);
      await writeFile(join(partial, "adapter_config.json"), "{}");
      const resumed = await runHarness([...args, "--max-steps", String(last + 1)], { cwd: work, env, timeoutMs: 180_000 });
      expect(resumed.exitCode, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(
        `checkpoint-${last + 100} was saved only in part (stopped while saving): moved to output/incomplete-checkpoint-${last + 100}`,
      );
      expect(existsSync(join(output, `incomplete-checkpoint-${last + 100}`, "adapter_config.json"))).toBe(true);
      expect(resumed.stderr).toContain(`resuming from checkpoint-${last}`);
      expect(resumed.stdout).toContain(`(resumed from checkpoint-${last})`);
      const manifest = await readManifest(runDir);
      expect(manifest).toMatchObject({ status: "succeeded", resumedFrom: `checkpoint-${last}` });
      expect(manifest.incompleteCheckpoints).toContain(`checkpoint-${last + 100}`);
      expect(manifest.outputs.files).toContain(`checkpoint-${last + 1}`);
    }, 300_000);

    it("serves the adapter with LLaMA-Factory's API server until Ctrl-C", async () => {
      const child = execa("node", [HARNESS_BIN, "serve", "--run", at("run")], { cwd: work, env, reject: false });
      const url = await new Promise<string>((resolve, reject) => {
        let seen = "";
        child.stdout?.on("data", (chunk: Buffer) => {
          seen += chunk.toString();
          const match = /^(http:\/\/127\.0\.0\.1:\d+\/v1)$/m.exec(seen);
          if (match) resolve(match[1]!);
        });
        void child.then((r) => reject(new Error(`serve exited early: ${String(r.stderr)}`)));
      });
      const models = (await (await fetch(`${url}/models`)).json()) as { data: Array<{ id: string }> };
      expect(models.data.map((m) => m.id)).toEqual(["tiny-cpu-mind"]);
      child.kill("SIGINT");
      const stopped = await child;
      expect(stopped.exitCode, String(stopped.stderr)).toBe(0);
      await expect(fetch(`${url}/models`)).rejects.toThrow();
      expect(await processesMentioning(at("run", "api.yaml"))).toEqual([]);
    }, 180_000);

    it("a server that dies while loading: a clear error with its last output, and no process left", async () => {
      const broken = at("run-broken-base");
      await mkdir(broken, { recursive: true });
      const manifest = await readManifest(at("run"));
      await writeFile(
        join(broken, "manifest.json"),
        JSON.stringify({ ...manifest, runDir: broken, model: { ...manifest.model, baseModel: at("no-such-model") } }),
      );
      const result = await runHarness(["serve", "--run", broken, "--startup-timeout", "170"], { cwd: work, env, timeoutMs: 180_000 });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/the huggingface server exited before it answered \/v1\/models/);
      // The server's own last words: why it died.
      expect(result.stderr).toMatch(/last output:\n( {4}.*\n)+/);
      expect(result.stderr).toContain("Failed to load tokenizer");
      expect(result.stderr).toContain(`full log: ${join(broken, "serve.log")}`);
      expect(await processesMentioning(join(broken, "api.yaml"))).toEqual([]);
    }, 180_000);

    it("eval --run serves the adapter, answers 20 real understanding questions through it, then stops the server", async () => {
      // The same command twice: the rerun, on a fresh port, must answer from the cache.
      const evalRun = (runId: string) =>
        runHarness(
          [
            ...["eval", "--run", at("run"), "--task", "understanding", "--limit", "20", "--data", intentionqaDir()],
            ...["--out", at("reports"), "--cache-dir", at("cache"), "--run-id", runId, "--progress=false"],
          ],
          { cwd: work, env, timeoutMs: 240_000 },
        );
      const result = await evalRun("tiny-mind");
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/server ready: http:\/\/127\.0\.0\.1:\d+\/v1 \(model tiny-cpu-mind\)/);
      const report = reportSchema.parse(JSON.parse(await readFile(at("reports", "tiny-mind", "report.json"), "utf8")));
      expect(report.status).toBe("complete");
      expect(report.backend).toMatchObject({ kind: "openai", model: "tiny-cpu-mind", adapter: "tiny-cpu-mind" });
      expect(report.labels).toMatchObject({ run: at("run"), adapter: at("run", "output"), template: "llama2" });
      const understanding = report.results.find((r) => r.task === "understanding")!;
      expect(understanding.questions).toMatchObject({ selected: 20, apiErrors: 0 });
      const samples = (await readFile(at("reports", "tiny-mind", "samples.jsonl"), "utf8")).trim().split("\n");
      expect(samples).toHaveLength(20);
      expect(await processesMentioning(at("run", "api.yaml"))).toEqual([]);
      // The served model is named by what it serves, not by its (random) port.
      expect(report.backend.servedFrom).toMatch(/^huggingface:.*tiny template=llama2 dtype=auto adapter=.*output@[0-9a-f]{16}$/);
      expect(report.backend.baseUrl).toBeUndefined();

      // A rerun gets another port and still answers every question from the cache.
      const again = await evalRun("tiny-mind-again");
      expect(again.exitCode, again.stderr).toBe(0);
      const rerun = reportSchema.parse(JSON.parse(await readFile(at("reports", "tiny-mind-again", "report.json"), "utf8")));
      expect(rerun.requests).toMatchObject({ sent: 0, cacheHits: 20 });
      expect(rerun.results[0]!.splits.avg!.parses.official).toEqual(understanding.splits.avg!.parses.official);
    }, 480_000);
  },
);
