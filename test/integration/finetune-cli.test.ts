import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostname } from "node:os";
import { execa } from "execa";
import { beforeEach, describe, expect, it } from "vitest";
import { MANIFEST_SCHEMA_ID, type RunManifest } from "../../harness/finetune/manifest.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness } from "../helpers/cli.ts";

/** `harness finetune` / `serve` / `eval --run` on bad input: one clear line, non-zero exit, nothing written. */

const config = (name: string) => join(PROJECT_ROOT, "configs", name);
let work: string;

async function writeDataset(dir: string, key = "intentionqa_mind"): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, `${key}.jsonl`),
    `${JSON.stringify({ instruction: "Q: customer buys a and b. What is the most likely intention for buying them?", input: "", output: "they both can x." })}\n`,
  );
  await writeFile(
    join(dir, "dataset_info.json"),
    JSON.stringify({
      [key]: { file_name: `${key}.jsonl`, formatting: "alpaca", columns: { prompt: "instruction", query: "input", response: "output" } },
    }),
  );
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), "harness-ft-cli-"));
  await writeDataset(join(work, "sft"));
});

const finetune = (args: string[], env: Record<string, string> = {}) =>
  runHarness(["finetune", "--dataset-dir", join(work, "sft"), ...args], { cwd: work, env });

describe("harness finetune --dry-run", () => {
  it("shows the 8 x V100 plan for Mistral: rank 64, template mistral, fp16, torchrun on 8 GPUs; writes nothing", async () => {
    const result = await finetune(["--config", config("mistral.yaml"), "--recipe", "mind", "--dry-run"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^lora_rank: 64$/m);
    expect(result.stdout).toMatch(/^template: mistral$/m);
    expect(result.stdout).toMatch(/^fp16: true$/m);
    expect(result.stdout).toMatch(/^overwrite_output_dir: false$/m);
    expect(result.stdout).toMatch(new RegExp(`^dataset_dir: ${join(work, "sft")}$`, "m"));
    expect(result.stdout).toMatch(
      /^FORCE_TORCHRUN=1 NPROC_PER_NODE=8 CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 \S*llamafactory-cli train \S*runs\/mistral-mind\/train\.yaml$/m,
    );
    expect(existsSync(join(work, "runs"))).toBe(false);
  });

  it("only warns about a missing dataset, so a laptop can show a cluster's plan", async () => {
    const result = await runHarness(
      ["finetune", "--config", config("llama2.yaml"), "--recipe", "mind", "--dataset-dir", join(work, "nowhere"), "--dry-run"],
      { cwd: work },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/warning: .*dataset_info\.json not found.*harness build-sft --recipe mind/);
    expect(result.stdout).toMatch(/^template: llama2$/m);
  });

  it("prints the SLURM script for two nodes with ZeRO-3 and multi-node flags", async () => {
    const cfg = join(work, "z3.yaml");
    await writeFile(cfg, (await readFile(config("mistral.yaml"), "utf8")).replace("deepspeed: none", "deepspeed: zero3"));
    const result = await finetune(["--config", cfg, "--nnodes", "2", "--slurm", "--dry-run"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^deepspeed: \S*runs\/z3-mind\/ds_z3_config\.json$/m);
    expect(result.stdout).toContain("#SBATCH --nodes=2");
    expect(result.stdout).toContain("NODE_RANK=$SLURM_NODEID");
    const multi = await finetune([
      "--config",
      config("mistral.yaml"),
      "--nnodes",
      "2",
      "--node-rank",
      "1",
      "--master-addr",
      "10.1.2.3",
      "--master-port",
      "29501",
      "--dry-run",
    ]);
    expect(multi.stdout).toMatch(/NNODES=2 NODE_RANK=1 MASTER_ADDR=10\.1\.2\.3 MASTER_PORT=29501 /);
    // Several nodes must agree on a port: 29500 unless given.
    const defaultPort = await finetune(["--config", config("mistral.yaml"), "--nnodes", "2", "--master-addr", "10.1.2.3", "--dry-run"]);
    expect(defaultPort.stdout).toMatch(/NNODES=2 NODE_RANK=0 MASTER_ADDR=10\.1\.2\.3 MASTER_PORT=29500 /);
  });
});

describe("harness finetune --slurm", () => {
  it("writes the sbatch script into the run dir, submits it, and records the job", async () => {
    const sbatch = join(work, "sbatch");
    // A stand-in sbatch that keeps what it was given and answers like `sbatch --parsable`.
    await writeFile(sbatch, `#!/bin/bash\necho "$@" > ${JSON.stringify(join(work, "sbatch.args"))}\necho "4242;cluster"\n`, {
      mode: 0o755,
    });
    const result = await finetune(["--config", config("mistral.yaml"), "--nnodes", "2", "--slurm", "--run-dir", join(work, "run")], {
      HARNESS_SBATCH: sbatch,
      LLAMAFACTORY_CLI: "/bin/true",
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`submitted SLURM job 4242: ${join(work, "run", "train.sbatch")}`);
    expect((await readFile(join(work, "sbatch.args"), "utf8")).trim()).toBe(`--parsable ${join(work, "run", "train.sbatch")}`);
    const script = await readFile(join(work, "run", "train.sbatch"), "utf8");
    expect(script).toContain(`exec /bin/true train ${join(work, "run", "train.yaml")}`);
    const manifest = JSON.parse(await readFile(join(work, "run", "manifest.json"), "utf8")) as RunManifest;
    expect(manifest).toMatchObject({
      status: "submitted",
      launch: { nnodes: 2, slurm: { script: join(work, "run", "train.sbatch"), jobId: "4242" } },
    });
  });
  it("writes a run folder with a blank and a % into --output as sbatch reads a directive (quoted, % doubled)", async () => {
    const sbatch = join(work, "sbatch-ok");
    await writeFile(sbatch, `#!/bin/bash\necho "77;cluster"\n`, { mode: 0o755 });
    const runDir = join(work, "run 50% off");
    const result = await finetune(["--config", config("mistral.yaml"), "--slurm", "--run-dir", runDir], {
      HARNESS_SBATCH: sbatch,
      LLAMAFACTORY_CLI: "/bin/true",
    });
    expect(result.exitCode, result.stderr).toBe(0);
    const script = await readFile(join(runDir, "train.sbatch"), "utf8");
    expect(script).toContain(`#SBATCH --output="${join(work, "run 50%% off")}/slurm-%j.log"\n`);
  });
});

describe("harness finetune with trackers (train.report_to)", () => {
  it("passes report_to and the run name to LLaMA-Factory and the tracker's key through the environment, writing the key nowhere", async () => {
    const secret = "wandb_integration_secret_do_not_write";
    const cfg = join(work, "tracked.yaml");
    await writeFile(
      cfg,
      (await readFile(config("tiny-cpu.yaml"), "utf8")).replace("train:\n", "train:\n  report_to: [wandb, tensorboard]\n"),
    );
    // A stand-in llamafactory-cli: notes what reached it, then fails as a real run without wandb would.
    const cli = join(work, "llamafactory-cli");
    const seen = join(work, "seen");
    await writeFile(
      cli,
      `#!/bin/bash\n[ "$WANDB_API_KEY" = ${secret} ] && echo key > ${JSON.stringify(seen)}\necho "tb=$TENSORBOARD_LOGGING_DIR" >> ${JSON.stringify(seen)}\necho "RuntimeError: WandbCallback requires wandb to be installed."\nexit 1\n`,
      { mode: 0o755 },
    );
    const runDir = join(work, "run");
    const dry = await finetune(["--config", cfg, "--run-dir", runDir, "--dry-run"], { WANDB_API_KEY: secret });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^report_to:\n {2}- wandb\n {2}- tensorboard$/m);
    expect(dry.stdout).toMatch(/^run_name: run$/m);
    expect(dry.stdout).toContain(`TENSORBOARD_LOGGING_DIR=${join(runDir, "tensorboard")} `);
    const result = await finetune(["--config", cfg, "--run-dir", runDir], { LLAMAFACTORY_CLI: cli, WANDB_API_KEY: secret });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/train\.report_to names wandb, but it is not installed where LLaMA-Factory runs/);
    expect((await readFile(seen, "utf8")).split("\n")).toEqual(["key", `tb=${join(runDir, "tensorboard")}`, ""]);
    const manifest = JSON.parse(await readFile(join(runDir, "manifest.json"), "utf8")) as RunManifest;
    expect(manifest.launch.env).toMatchObject({ TENSORBOARD_LOGGING_DIR: join(runDir, "tensorboard") });
    // Every file the harness wrote, and everything it printed, without the key.
    const written = await readdir(runDir, { recursive: true, withFileTypes: true });
    const files = written.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
    expect(files.map((f) => f.slice(runDir.length + 1)).sort()).toEqual(
      expect.arrayContaining(["manifest.json", "train.log", "train.yaml"]),
    );
    for (const file of files) expect(await readFile(file, "utf8"), file).not.toContain(secret);
    expect(`${dry.stdout}${dry.stderr}${result.stdout}${result.stderr}`).not.toContain(secret);
  });
});

describe("harness finetune errors", () => {
  it("a config with an unknown key: names the file and key", async () => {
    const cfg = join(work, "typo.yaml");
    await writeFile(cfg, (await readFile(config("mistral.yaml"), "utf8")).replace("lora:\n", "lora:\n  rnak: 8\n"));
    const result = await finetune(["--config", cfg]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`harness: error: ${cfg}: invalid fine-tuning config`);
    expect(result.stderr).toContain("unknown key lora.rnak");
    expect(existsSync(join(work, "runs"))).toBe(false);
  });

  it("LoRA rank 0", async () => {
    const cfg = join(work, "rank0.yaml");
    await writeFile(cfg, (await readFile(config("mistral.yaml"), "utf8")).replace("rank: 64", "rank: 0"));
    const result = await finetune(["--config", cfg]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/lora\.rank: must be an integer >= 1/);
    expect(existsSync(join(work, "runs"))).toBe(false);
  });

  it("a recipe whose dataset build-sft never wrote: lists what there is", async () => {
    const result = await finetune(["--config", config("tiny-cpu.yaml"), "--recipe", "critic"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      /has no dataset "intentionqa_critic" \(recipe critic\); it has: intentionqa_mind\. Build it with `harness build-sft --recipe critic/,
    );
    expect(existsSync(join(work, "runs"))).toBe(false);
  });

  it("no llamafactory-cli: says how to install it", async () => {
    const result = await finetune(["--config", config("tiny-cpu.yaml"), "--recipe", "mind"], { LLAMAFACTORY_CLI: "/nonexistent" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      /llamafactory-cli not found \(looked at LLAMAFACTORY_CLI=\/nonexistent\); install LLaMA-Factory with `bash finetune\/setup\.sh`/,
    );
    expect(existsSync(join(work, "runs"))).toBe(false);
  });

  it("a run directory another live harness is training in", async () => {
    const other = execa("sleep", ["60"]);
    try {
      const runDir = join(work, "busy");
      await mkdir(runDir, { recursive: true });
      const manifest: RunManifest = {
        schema: MANIFEST_SCHEMA_ID,
        status: "running",
        runDir,
        startedAt: new Date().toISOString(),
        endedAt: null,
        recipe: "mind",
        config: { file: "c.yaml", sha256: "x", name: "c" },
        model: { baseModel: "m", template: "llama2", loraRank: 64 },
        serve: { engine: "huggingface", inferDtype: "auto" },
        dataset: { key: "intentionqa_mind", dir: "d", infoSha256: "x", file: "f", fileSha256: "x", records: 1 },
        trainYaml: { file: "t", sha256: "x" },
        launch: { command: [], env: {}, nnodes: 1, nodeRank: 0, slurm: null },
        resumedFrom: null,
        incompleteCheckpoints: [],
        owner: { host: hostname(), pid: other.pid! },
        tools: { harness: "0", node: "v20", packages: {} },
        gitCommit: null,
        exitCode: null,
        failures: [],
        outputs: { dir: "o", adapter: null, files: [], lastLog: null, trainResults: null },
      };
      await writeFile(join(runDir, "manifest.json"), JSON.stringify(manifest));
      const result = await finetune(["--config", config("tiny-cpu.yaml"), "--run-dir", runDir], { LLAMAFACTORY_CLI: "/bin/true" });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`is in use by another harness finetune (pid ${other.pid})`);
      expect(existsSync(join(runDir, "train.yaml"))).toBe(false);
    } finally {
      other.kill();
      await other.catch(() => {});
    }
  });

  it("inconsistent node flags", async () => {
    const result = await finetune(["--config", config("mistral.yaml"), "--nnodes", "2", "--dry-run"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--nnodes > 1 needs --master-addr/);
    const rank = await finetune([
      "--config",
      config("mistral.yaml"),
      "--nnodes",
      "2",
      "--node-rank",
      "2",
      "--master-addr",
      "h",
      "--dry-run",
    ]);
    expect(rank.stderr).toMatch(/--node-rank must be an integer in 0\.\.1, got 2/);
  });
});

describe("serving a run that is not there", () => {
  it("serve --run and eval --run on a folder without a manifest", async () => {
    const serve = await runHarness(["serve", "--run", join(work, "sft")], { cwd: work });
    expect(serve.exitCode).toBe(2);
    expect(serve.stderr).toMatch(/no manifest\.json; expected a directory written by `harness finetune`/);
    const evalRun = await runHarness(["eval", "--run", join(work, "sft"), "--task", "understanding"], { cwd: work });
    expect(evalRun.exitCode).toBe(2);
    expect(evalRun.stderr).toMatch(/no manifest\.json/);
  });
});

describe("harness status on a folder that is not a finetune run", () => {
  it("names an ablation's work_dir and the ablate --status command that follows its cells; a plain folder has no manifest", async () => {
    const workDir = join(work, "ablation work");
    await mkdir(join(workDir, "slurm"), { recursive: true });
    const config = join(work, "my ablation.yaml");
    const submission = { version: 1, index: 1, jobId: "12", script: "s", config, submittedAt: "t", afterOk: [], tasks: [] };
    await writeFile(join(workDir, "slurm", "array-1.json"), JSON.stringify(submission));
    const ablation = await runHarness(["status", workDir], { cwd: work });
    expect(ablation.exitCode).toBe(2);
    expect(ablation.stderr).toContain(`is an ablation's work_dir: follow its cells with \`harness ablate --config '${config}' --status\``);
    const plain = await runHarness(["status", join(work, "sft")], { cwd: work });
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr).toMatch(/no manifest\.json; expected a run directory written by `harness finetune`/);
  });
});
