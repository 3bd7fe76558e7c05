import { appendFile, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadFinetuneConfig, parseFinetuneConfig, type FinetuneConfig } from "../../../harness/finetune/config.ts";
import { resolveDataset } from "../../../harness/finetune/training-data.ts";
import { FailureCollector, recogniseFailures } from "../../../harness/llamafactory/failures.ts";
import { formatCommand, shellQuote } from "../../../harness/llamafactory/process.ts";
import { TrainingMonitor } from "../../../harness/finetune/progress.ts";
import { describeLlamafactoryDefaults } from "../../../harness/finetune/run.ts";
import { BUILD_SFT_DEFAULTS } from "../../../harness/sft/defaults.ts";
import { buildSftDatasets } from "../../../harness/sft/run.ts";
import { intentionqaDir } from "../../helpers/paths.ts";
import {
  buildSbatchScript,
  buildTrainArgs,
  checkpointIsComplete,
  lastCheckpoint,
  launchEnv,
  parseResumeLine,
  renderTrainYaml,
} from "../../../harness/finetune/plan.ts";
import { formatTrainerProgress, isDiverged, parseClock, parseTrainerLogLine } from "../../../harness/llamafactory/trainer-log.ts";
import { apiEnv, buildApiArgs, vllmArgs, type ServeTarget } from "../../../harness/serve/server.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";

const configPath = (name: string) => join(PROJECT_ROOT, "configs", name);
const paths = {
  modelNameOrPath: "mistralai/Mistral-7B-Instruct-v0.2",
  datasetKey: "intentionqa_mind",
  datasetDir: "/data/sft",
  outputDir: "/runs/m/output",
  runName: "m",
};

function errorOf(fn: () => unknown): HarnessError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HarnessError) return error;
    throw error;
  }
  throw new Error("expected a HarnessError");
}

const minimal = () => ({
  model: { name_or_path: "m", template: "mistral" },
  lora: { rank: 64 },
  hardware: { gpus_per_node: 8, precision: "fp16" },
});

describe("fine-tuning configs", () => {
  it("ships Mistral and Llama-2 configs for 8 x V100: rank 64, fp16, the right template", async () => {
    const { config: mistral } = await loadFinetuneConfig(configPath("mistral.yaml"));
    expect(mistral).toMatchObject({
      name: "mistral",
      model: { name_or_path: "mistralai/Mistral-7B-Instruct-v0.2", template: "mistral" },
      lora: { rank: 64 },
      hardware: { gpus_per_node: 8, precision: "fp16" },
    });
    const { config: llama } = await loadFinetuneConfig(configPath("llama2.yaml"));
    expect(llama).toMatchObject({
      name: "llama2",
      model: { name_or_path: "meta-llama/Llama-2-7b-chat-hf", template: "llama2" },
      lora: { rank: 64 },
      hardware: { gpus_per_node: 8, precision: "fp16" },
    });
    const { config: tiny } = await loadFinetuneConfig(configPath("tiny-cpu.yaml"));
    expect(tiny.hardware).toMatchObject({ gpus_per_node: 0, precision: "fp32" });
  });

  it("rejects an unknown key, naming the file and the key path", () => {
    const raw = { ...minimal(), train: { learning_rate: 1e-4, evaluation_strategy: "steps" } };
    const error = errorOf(() => parseFinetuneConfig(raw, "configs/x.yaml"));
    expect(error.message).toContain("configs/x.yaml");
    expect(error.message).toContain("train.evaluation_strategy");
    expect(error.message).toContain("eval_strategy");
    expect(error.exitCode).toBe(2);
    expect(errorOf(() => parseFinetuneConfig({ ...minimal(), lora_rank: 64 }, "c.yaml")).message).toMatch(/unknown key lora_rank/);
  });

  it("rejects LoRA rank 0 and a missing template, pointing at the key", () => {
    expect(errorOf(() => parseFinetuneConfig({ ...minimal(), lora: { rank: 0 } }, "c.yaml")).message).toMatch(
      /lora\.rank: must be an integer >= 1/,
    );
    expect(errorOf(() => parseFinetuneConfig({ ...minimal(), model: { name_or_path: "m" } }, "c.yaml")).message).toMatch(/model\.template/);
    expect(
      errorOf(() => parseFinetuneConfig({ ...minimal(), hardware: { gpus_per_node: 8, precision: "fp8" } }, "c.yaml")).message,
    ).toMatch(/hardware\.precision/);
  });

  it("reports a YAML syntax error with the file and line", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-cfg-"));
    const file = join(dir, "broken.yaml");
    await writeFile(file, "model:\n  name_or_path: [unclosed\n");
    await expect(loadFinetuneConfig(file)).rejects.toThrow(/broken\.yaml:\d+: not valid YAML/);
  });
});

describe("the LLaMA-Factory train YAML", () => {
  const mistral = (): FinetuneConfig =>
    parseFinetuneConfig({ ...minimal(), hardware: { gpus_per_node: 8, precision: "fp16", ddp_timeout: 180000000 } }, "mistral.yaml");

  it("sets only what the paper and the hardware need, and never overwrites the output (resume)", () => {
    const args = buildTrainArgs(mistral(), paths);
    expect(args).toEqual({
      model_name_or_path: "mistralai/Mistral-7B-Instruct-v0.2",
      stage: "sft",
      do_train: true,
      finetuning_type: "lora",
      lora_rank: 64,
      dataset: "intentionqa_mind",
      dataset_dir: "/data/sft",
      template: "mistral",
      output_dir: "/runs/m/output",
      overwrite_output_dir: false,
      logging_steps: 10,
      plot_loss: true,
      report_to: "none",
      fp16: true,
      ddp_timeout: 180000000,
    });
    const yaml = renderTrainYaml(args, "written by a test\nsecond line");
    expect(yaml.startsWith("# written by a test\n# second line\n")).toBe(true);
    expect(parseYaml(yaml)).toEqual(args);
  });

  it("adds DeepSpeed ZeRO-3, bf16 and the config's overrides when asked", () => {
    const config = parseFinetuneConfig(
      {
        ...minimal(),
        lora: { rank: 64, alpha: 16, dropout: 0.05 },
        train: { learning_rate: 1e-4, logging_steps: 1 },
        hardware: { gpus_per_node: 4, precision: "bf16", deepspeed: "zero3" },
      },
      "c.yaml",
    );
    const args = buildTrainArgs(config, { ...paths, deepspeedConfig: "/runs/m/ds_z3_config.json" });
    expect(args).toMatchObject({
      deepspeed: "/runs/m/ds_z3_config.json",
      bf16: true,
      lora_alpha: 16,
      lora_dropout: 0.05,
      learning_rate: 1e-4,
      logging_steps: 1,
    });
    expect(args).not.toHaveProperty("fp16");
  });
});

describe("what a run records about LLaMA-Factory's defaults and its data", () => {
  const defaults = { version: "0.9.5", cutoffLen: 2048, defaultSystem: "", templateFound: true };

  it("cutoff_len: the installed version's default unless the config sets it; the template's system prompt", () => {
    const config = parseFinetuneConfig(minimal(), "m.yaml");
    expect(describeLlamafactoryDefaults(config, defaults)).toEqual({
      version: "0.9.5",
      cutoffLen: { value: 2048, from: "LLaMA-Factory 0.9.5 default", default: 2048 },
      template: { name: "mistral", defaultSystem: "", from: "LLaMA-Factory 0.9.5 template" },
    });
    const pinned = parseFinetuneConfig({ ...minimal(), train: { cutoff_len: 1024 } }, "m.yaml");
    expect(describeLlamafactoryDefaults(pinned, defaults).cutoffLen).toEqual({
      value: 1024,
      from: "the config's train.cutoff_len",
      default: 2048,
    });
    const unreadable = describeLlamafactoryDefaults(config, {
      version: null,
      cutoffLen: null,
      defaultSystem: null,
      templateFound: null,
      error: "no python",
    });
    expect(unreadable).toMatchObject({ version: null, cutoffLen: { value: null }, template: { defaultSystem: null }, error: "no python" });
  });

  it("a dataset built by build-sft carries its decontamination and benchmark overlap; a hand-made one carries none", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ft-data-"));
    await buildSftDatasets({
      ...BUILD_SFT_DEFAULTS,
      kb: join(PROJECT_ROOT, "test", "fixtures", "kb", "mind_small.csv"),
      out: dir,
      data: intentionqaDir(),
    });
    const built = await resolveDataset(dir, "mind");
    expect(built.buildStats).toMatchObject({
      decontaminated: false,
      benchmarkOverlap: { understanding: { scored: 2245 }, utilization: { scored: 2143 } },
    });
    expect(built.buildStats!.benchmarkOverlap!.understanding.questions).toBeGreaterThan(0);
    // The data file changed after the build: its stats no longer describe it.
    await writeFile(join(dir, "intentionqa_mind.jsonl"), '{"instruction":"q","input":"","output":"a."}\n');
    expect((await resolveDataset(dir, "mind")).buildStats).toBeNull();
  });
});

describe("the launch", () => {
  const config = (gpus: number) =>
    parseFinetuneConfig({ ...minimal(), hardware: { gpus_per_node: gpus, precision: gpus ? "fp16" : "fp32" } }, "c.yaml");

  it("one node: torchrun forced, one process per GPU", () => {
    expect(launchEnv(config(8), { nnodes: 1, nodeRank: 0 })).toEqual({
      FORCE_TORCHRUN: "1",
      NPROC_PER_NODE: "8",
      CUDA_VISIBLE_DEVICES: "0,1,2,3,4,5,6,7",
    });
  });

  it("several nodes: rank, size and master", () => {
    expect(launchEnv(config(8), { nnodes: 2, nodeRank: 1, masterAddr: "10.0.0.1", masterPort: 29500 })).toMatchObject({
      NNODES: "2",
      NODE_RANK: "1",
      MASTER_ADDR: "10.0.0.1",
      MASTER_PORT: "29500",
    });
  });

  it("CPU: GPUs hidden, no torchrun", () => {
    expect(launchEnv(config(0), { nnodes: 1, nodeRank: 0 })).toEqual({ CUDA_VISIBLE_DEVICES: "" });
  });

  it("shows a command a user can paste", () => {
    expect(shellQuote("a b'c")).toBe(`'a b'\\''c'`);
    expect(formatCommand({ CUDA_VISIBLE_DEVICES: "", X: "1" }, ["/bin/llamafactory-cli", "train", "/r/train.yaml"])).toBe(
      "CUDA_VISIBLE_DEVICES='' X=1 /bin/llamafactory-cli train /r/train.yaml",
    );
  });

  it("writes an sbatch script that starts LLaMA-Factory once per node with its rank and the first host as master", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-sbatch-"));
    const stub = async (name: string, body: string) => {
      await writeFile(join(dir, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
      return join(dir, name);
    };
    // Stand-ins for SLURM on two nodes and for llamafactory-cli, which reports what it was given.
    await stub("scontrol", "printf 'gpu-a\\ngpu-b\\n'");
    await stub("srun", 'while [[ $1 == --* ]]; do shift; done; for id in 0 1; do SLURM_NODEID=$id "$@"; done');
    const cli = await stub(
      "fake cli",
      'echo "rank=$NODE_RANK of $NNODES master=$MASTER_ADDR:$MASTER_PORT nproc=$NPROC_PER_NODE gpus=$CUDA_VISIBLE_DEVICES torchrun=$FORCE_TORCHRUN args=$*"',
    );
    const script = buildSbatchScript({
      jobName: "harness-mistral-mind",
      nnodes: 2,
      gpusPerNode: 8,
      masterPort: 29500,
      cli,
      trainYaml: "/runs/my run/train.yaml",
      logPath: "/runs/slurm-%j.log",
      extraDirectives: ["--partition=v100"],
    });
    expect(script).toContain("#SBATCH --nodes=2");
    expect(script).toContain("#SBATCH --ntasks-per-node=1");
    expect(script).toContain("#SBATCH --gres=gpu:8");
    expect(script).toContain("#SBATCH --partition=v100");
    await writeFile(join(dir, "train.sbatch"), script);
    const run = await execa("bash", [join(dir, "train.sbatch")], {
      env: { PATH: `${dir}:${process.env.PATH}`, SLURM_JOB_NODELIST: "gpu-[a-b]", SLURM_NNODES: "2" },
      reject: false,
    });
    expect(run.stderr).toBe("");
    expect(run.stdout.split("\n")).toEqual([
      "rank=0 of 2 master=gpu-a:29500 nproc=8 gpus=0,1,2,3,4,5,6,7 torchrun=1 args=train /runs/my run/train.yaml",
      "rank=1 of 2 master=gpu-a:29500 nproc=8 gpus=0,1,2,3,4,5,6,7 torchrun=1 args=train /runs/my run/train.yaml",
    ]);
  });
});

describe("resuming", () => {
  it("finds the last checkpoint by step number, not by name", () => {
    expect(lastCheckpoint(["checkpoint-9", "checkpoint-10", "adapter_config.json", "checkpoint-2"])).toEqual({
      name: "checkpoint-10",
      step: 10,
    });
    expect(lastCheckpoint(["adapter_model.safetensors"])).toBeNull();
  });

  it("tells a whole checkpoint from one stopped while saving (no trainer_state.json, or no weights)", () => {
    expect(
      checkpointIsComplete([
        "adapter_config.json",
        "adapter_model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state.pth",
        "trainer_state.json",
      ]),
    ).toBe(true);
    expect(checkpointIsComplete(["adapter_config.json", "adapter_model.safetensors", "optimizer.pt"])).toBe(false);
    expect(checkpointIsComplete(["trainer_state.json"])).toBe(false);
    expect(checkpointIsComplete([])).toBe(false);
  });

  it("reads LLaMA-Factory's resume line", () => {
    expect(
      parseResumeLine("[INFO|2026-11-25 18:27:28] llamafactory.hparams.parser:144 >> Resuming training from /tmp/lft/out/checkpoint-3."),
    ).toBe("checkpoint-3");
    expect(parseResumeLine("Resuming training from checkpoint with epoch 0 and global step 3")).toBeNull();
  });
});

describe("trainer_log.jsonl", () => {
  const line =
    '{"current_steps": 20, "total_steps": 300, "loss": 1.2345, "lr": 4.5e-05, "epoch": 0.2, "percentage": 6.67, "elapsed_time": "0:01:00", "remaining_time": "0:14:00", "throughput": 812.3, "total_tokens": 1000}';

  it("parses a LLaMA-Factory line and shows step/total, loss, lr and ETA", () => {
    const entry = parseTrainerLogLine(line)!;
    expect(entry).toMatchObject({ currentSteps: 20, totalSteps: 300, loss: 1.2345, lr: 4.5e-5, remainingTime: "0:14:00" });
    expect(formatTrainerProgress(entry, false)).toBe("train: step 20/300 (6.7%)  loss 1.2345  lr 4.50e-5  ETA 14:00");
    expect(formatTrainerProgress(entry, true)).toMatch(/^train \[##-+\] step 20\/300/);
    expect(parseClock("1:02:03")).toBe(3723);
  });

  it("reads a NaN loss (Python writes it bare) and flags divergence", () => {
    const entry = parseTrainerLogLine('{"current_steps": 5, "total_steps": 10, "loss": NaN, "lr": 1e-05}')!;
    expect(Number.isNaN(entry.loss)).toBe(true);
    expect(isDiverged(entry)).toBe(true);
    expect(isDiverged(parseTrainerLogLine(line)!)).toBe(false);
  });

  it("ignores half-written and foreign lines", () => {
    expect(parseTrainerLogLine('{"current_steps": 5, "total_')).toBeNull();
    expect(parseTrainerLogLine("")).toBeNull();
    expect(parseTrainerLogLine('{"foo": 1}')).toBeNull();
  });
});

describe("following a training run", () => {
  const step = (n: number, extra = ', "loss": 1.5, "lr": 1e-05') => `{"current_steps": ${n}, "total_steps": 2${extra}}\n`;

  async function follow(
    options: { verbose?: boolean; progress?: boolean; tty?: boolean },
    feed: (log: string, monitor: TrainingMonitor) => Promise<void>,
  ) {
    let out = "";
    const write = (chunk: string) => {
      out += chunk;
      return true;
    };
    const stderr = { write, isTTY: options.tty ?? false } as unknown as NodeJS.WriteStream;
    const log = join(await mkdtemp(join(tmpdir(), "harness-monitor-")), "trainer_log.jsonl");
    const monitor = new TrainingMonitor(
      log,
      { stdout: stderr, stderr },
      {
        verbose: options.verbose ?? false,
        ...(options.progress !== undefined ? { progress: options.progress } : {}),
      },
    );
    await monitor.start();
    await feed(log, monitor);
    await monitor.stop();
    return { out, monitor };
  }

  it("in a log: a line per step, not the end-of-training repeat; the last lr kept", async () => {
    const { out, monitor } = await follow({}, (log) => appendFile(log, step(1) + step(2) + step(2, "")));
    expect(out).toBe("train: step 1/2 (50.0%)  loss 1.5000  lr 1.00e-5  ETA ?\ntrain: step 2/2 (100.0%)  loss 1.5000  lr 1.00e-5  ETA ?\n");
    expect(monitor.lastEntry).toMatchObject({ currentSteps: 2, lr: 1e-5 });
  });

  it("on a terminal: one bar redrawn in place, left as a line at the end", async () => {
    const { out } = await follow({ tty: true }, (log) => appendFile(log, step(1) + step(2)));
    const frames = out.split("\r\x1b[2K");
    expect(frames[0]).toBe("");
    expect(frames.slice(1).map((frame) => frame.slice(0, frame.indexOf("]") + 1))).toEqual([
      `train [${"#".repeat(12)}${"-".repeat(12)}]`,
      `train [${"#".repeat(24)}]`,
      `train [${"#".repeat(24)}]`,
    ]);
    expect(frames.at(-1)).toMatch(/step 2\/2 .*\n$/);
    expect(frames.slice(1, -1).every((frame) => !frame.includes("\n"))).toBe(true);
  });

  it("--progress=false: no progress, but a diverged loss is still warned about, once", async () => {
    const { out, monitor } = await follow({ progress: false }, (log) =>
      appendFile(log, step(1, ', "loss": NaN') + step(2, ', "loss": NaN')),
    );
    expect(out).toMatch(/^warning: .*NaN.*\n$/);
    expect(monitor.failures.all().map((f) => f.id)).toEqual(["nan-loss"]);
    expect(monitor.lastEntry?.currentSteps).toBe(2);
  });

  it("LLaMA-Factory's output: known failures explained once (echoed as they are with --verbose), the resume point read", async () => {
    const lines = ["CUDA out of memory.", "CUDA out of memory.", "Resuming training from /r/output/checkpoint-3."];
    const quiet = await follow({}, async (_log, monitor) => {
      for (const line of lines) monitor.onOutputLine(line);
    });
    expect(quiet.out).toMatch(/^! .*\n$/);
    expect(quiet.monitor.resumedFrom).toBe("checkpoint-3");
    const verbose = await follow({ verbose: true }, async (_log, monitor) => {
      for (const line of lines) monitor.onOutputLine(line);
    });
    expect(verbose.out).toBe(`${lines.join("\n")}\n`);
    expect(verbose.monitor.failures.all().map((f) => f.id)).toEqual(["cuda-oom"]);
  });
});

describe("known failures", () => {
  const cases: Array<[string, RegExp]> = [
    ["ValueError: Undefined dataset intentionqa_foo in dataset_info.json.", /intentionqa_foo.*--dataset-dir/],
    ["ValueError: Cannot open /x/dataset_info.json due to [Errno 2].", /--dataset-dir/],
    ["ValueError: File /x/sft.jsonl not found.", /build-sft/],
    ["RuntimeError: Cannot find valid samples, check `data/README.md` for the data format.", /columns/],
    ["ValueError: Template mistrall does not exist.", /mistrall.*model\.template/],
    [
      "ImportError: transformers>=4.55.0 is required for a normal functioning of this module. To fix: run `pip install` or set `DISABLE_VERSION_CHECK=1` to skip this check.",
      /setup\.sh/,
    ],
    ["ValueError: Your setup doesn't support bf16/gpu. You need to assign use_cpu", /precision: fp16/],
    ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", /zero3/],
    ["{'loss': nan, 'grad_norm': nan, 'learning_rate': 1e-05}", /NaN/],
    ["[rank3]:[E ProcessGroupNCCL.cpp:616] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1)", /ddp_timeout/],
    ["ValueError: Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training.", /FORCE_TORCHRUN=1/],
    ["ValueError: Output directory already exists and is not empty. Please set `overwrite_output_dir`.", /--run-dir/],
    ["ValueError: Some specified arguments are not used by the HfArgumentParser: ['evaluation_strategy']", /evaluation_strategy/],
    ["ValueError: Can't find a valid checkpoint at /r/output/checkpoint-7", /checkpoint-7, which is not a whole checkpoint/],
    [
      "torch.distributed.DistNetworkError: The server socket has failed to listen on any local network address. port: 29500",
      /--master-port/,
    ],
  ];
  it.each(cases)("explains %s", (text, expected) => {
    const found = recogniseFailures(text);
    expect(found.length).toBeGreaterThan(0);
    expect(found.map((f) => f.explanation).join(" | ")).toMatch(expected);
  });

  it("explains the message, not the traceback's source line that raised it", () => {
    const collector = new FailureCollector();
    collector.feed('    raise ValueError(f"Template {data_args.template} does not exist.")');
    collector.feed("ValueError: Template mistrall does not exist.");
    expect(collector.all().map((f) => f.explanation)).toEqual([expect.stringContaining("template mistrall is not one")]);
  });

  it("stays quiet on ordinary output and reports each failure once", () => {
    expect(recogniseFailures("[INFO|trainer.py:2519] >> ***** Running training *****")).toEqual([]);
    const collector = new FailureCollector();
    expect(collector.feed("CUDA out of memory.")).toHaveLength(1);
    expect(collector.feed("CUDA out of memory.")).toHaveLength(0);
    expect(collector.all().map((f) => f.id)).toEqual(["cuda-oom"]);
  });
});

describe("serving an adapter", () => {
  const target: ServeTarget = {
    baseModel: "mistralai/Mistral-7B-Instruct-v0.2",
    template: "mistral",
    adapterDir: "/runs/m/output",
    loraRank: 64,
    name: "mistral-mind",
    inferDtype: "auto",
    engine: "huggingface",
  };

  it("LLaMA-Factory: the training template, the adapter on the base, loopback without a key", () => {
    expect(buildApiArgs(target)).toEqual({
      model_name_or_path: target.baseModel,
      adapter_name_or_path: "/runs/m/output",
      template: "mistral",
      finetuning_type: "lora",
      infer_backend: "huggingface",
      infer_dtype: "auto",
    });
    expect(apiEnv("127.0.0.1", 8123, "mistral-mind")).toEqual({
      API_HOST: "127.0.0.1",
      API_PORT: "8123",
      API_MODEL_NAME: "mistral-mind",
      API_KEY: "",
    });
  });

  it("vLLM: the adapter as a LoRA module with the paper's rank allowed", () => {
    const args = vllmArgs(target, "127.0.0.1", 8123);
    expect(args.slice(0, 2)).toEqual(["serve", target.baseModel]);
    expect(args.join(" ")).toContain("--enable-lora --lora-modules mistral-mind=/runs/m/output --max-lora-rank 64");
  });
});
