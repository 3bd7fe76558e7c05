import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseFinetuneConfig } from "../../../harness/finetune/config.ts";
import { FINETUNE_DEFAULTS } from "../../../harness/finetune/defaults.ts";
import { buildSbatchScript, buildTrainArgs, renderTrainYaml, reportTargets, trackerEnv } from "../../../harness/finetune/plan.ts";
import { recogniseFailures } from "../../../harness/llamafactory/failures.ts";
import { HarnessError } from "../../../harness/util/errors.ts";

/** train.report_to: training logs to TensorBoard, W&B or MLflow through LLaMA-Factory, none by default. */

const paths = {
  modelNameOrPath: "m",
  datasetKey: "intentionqa_mind",
  datasetDir: "/data/sft",
  outputDir: "/runs/mistral-mind/output",
  runName: "mistral-mind",
};

const withTrain = (train: Record<string, unknown>) => ({
  model: { name_or_path: "m", template: "mistral" },
  lora: { rank: 64 },
  train,
  hardware: { gpus_per_node: 1, precision: "bf16" },
});

function errorOf(fn: () => unknown): HarnessError {
  try {
    fn();
  } catch (error) {
    if (error instanceof HarnessError) return error;
    throw error;
  }
  throw new Error("expected a HarnessError");
}

describe("train.report_to", () => {
  it("defaults to none: the train YAML says report_to: none and names no run, no tracker environment", () => {
    expect(FINETUNE_DEFAULTS.reportTo).toBe("none");
    const config = parseFinetuneConfig(withTrain({}), "c.yaml");
    expect(reportTargets(config)).toEqual(["none"]);
    const args = buildTrainArgs(config, paths);
    expect(args.report_to).toBe("none");
    expect(args).not.toHaveProperty("run_name");
    expect(trackerEnv(config, "/runs/mistral-mind")).toEqual({});
  });

  it("one tracker passes through as a name, with the run folder's name as run_name", () => {
    const config = parseFinetuneConfig(withTrain({ report_to: "wandb" }), "c.yaml");
    const args = buildTrainArgs(config, paths);
    expect(args).toMatchObject({ report_to: "wandb", run_name: "mistral-mind" });
    expect(trackerEnv(config, "/runs/mistral-mind")).toEqual({});
  });

  it("a list passes through as a list; tensorboard writes inside the run folder", () => {
    const config = parseFinetuneConfig(withTrain({ report_to: ["tensorboard", "mlflow"] }), "c.yaml");
    const yaml = renderTrainYaml(buildTrainArgs(config, paths), "test");
    expect(parseYaml(yaml)).toMatchObject({ report_to: ["tensorboard", "mlflow"], run_name: "mistral-mind" });
    expect(trackerEnv(config, "/runs/mistral-mind")).toEqual({ TENSORBOARD_LOGGING_DIR: "/runs/mistral-mind/tensorboard" });
    // A one-element list is the same as the name.
    const single = parseFinetuneConfig(withTrain({ report_to: ["tensorboard"] }), "c.yaml");
    expect(buildTrainArgs(single, paths).report_to).toBe("tensorboard");
    // report_to: none written out is the default.
    const none = parseFinetuneConfig(withTrain({ report_to: "none" }), "c.yaml");
    expect(buildTrainArgs(none, paths)).toEqual(buildTrainArgs(parseFinetuneConfig(withTrain({}), "c.yaml"), paths));
  });

  it("a SLURM job exports the TensorBoard folder on every node, quoted so a shell reads it back whole", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ft-tb-"));
    // A stand-in CLI that prints what it got; srun and scontrol stand-ins run the per-node script here.
    const cli = join(dir, "cli");
    await writeFile(cli, '#!/bin/bash\nprintf "%s\\n" "$TENSORBOARD_LOGGING_DIR"\n', { mode: 0o755 });
    const tbDir = "/runs/it's $HOME here/tensorboard";
    const script = buildSbatchScript({
      jobName: "j",
      nnodes: 1,
      gpusPerNode: 0,
      masterPort: 29500,
      cli,
      trainYaml: "/runs/r/train.yaml",
      logPath: "/runs/r/slurm-%j.log",
      env: { TENSORBOARD_LOGGING_DIR: tbDir },
    });
    const file = join(dir, "train.sbatch");
    await writeFile(file, script);
    const shim = `scontrol() { echo host; }; srun() { shift; "$@"; }; export -f scontrol srun; source ${JSON.stringify(file)}`;
    const result = await execa("bash", ["-c", shim], { env: { SLURM_JOB_NODELIST: "host", SLURM_NNODES: "1", SLURM_NODEID: "0" } });
    expect(result.stdout.trim()).toBe(tbDir);
  });

  it("refuses an unknown tracker, a wrong type, none beside a tracker and a repeat, naming the file and the key", () => {
    const cases: [unknown, RegExp][] = [
      ["tensorbord", /train\.report_to: unknown tracker "tensorbord": expected tensorboard, wandb, mlflow, none, or a list of them/],
      [["wandb", "comet_ml"], /train\.report_to: unknown tracker "comet_ml"/],
      ["all", /unknown tracker "all"/],
      [3, /train\.report_to: must be a tracker name or a list of them/],
      [[], /train\.report_to: an empty list: expected tensorboard/],
      [["none", "wandb"], /train\.report_to: "none" cannot be listed with a tracker/],
      [["wandb", "wandb"], /train\.report_to: a tracker is listed twice/],
    ];
    for (const [value, message] of cases) {
      const error = errorOf(() => parseFinetuneConfig(withTrain({ report_to: value }), "configs/x.yaml"));
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain("configs/x.yaml: invalid fine-tuning config");
      expect(error.message).toMatch(message);
    }
  });

  it("report_to outside train:, and a run_name of one's own, say where they belong", () => {
    const top = errorOf(() => parseFinetuneConfig({ ...withTrain({}), report_to: "wandb" }, "c.yaml"));
    expect(top.message).toMatch(/unknown key report_to \(it belongs under train:\)/);
    const named = errorOf(() => parseFinetuneConfig(withTrain({ run_name: "x" }), "c.yaml"));
    expect(named.message).toMatch(/unknown key train\.run_name \(the harness names the run after its run folder\)/);
  });

  it("never writes a secret from the environment into the train YAML", () => {
    const secret = "wandb_secret_key_do_not_write";
    const saved = process.env.WANDB_API_KEY;
    process.env.WANDB_API_KEY = secret;
    try {
      const config = parseFinetuneConfig(withTrain({ report_to: ["wandb", "mlflow", "tensorboard"] }), "c.yaml");
      const yaml = renderTrainYaml(buildTrainArgs(config, paths), "header");
      expect(yaml).not.toContain(secret);
      expect(JSON.stringify(trackerEnv(config, "/runs/r"))).not.toContain(secret);
    } finally {
      if (saved === undefined) delete process.env.WANDB_API_KEY;
      else process.env.WANDB_API_KEY = saved;
    }
  });

  it.each([
    [
      "RuntimeError: TensorBoardCallback requires tensorboard to be installed. Either update your PyTorch version",
      /pip install tensorboard\), or take it out of train\.report_to/,
    ],
    ["RuntimeError: WandbCallback requires wandb to be installed. Run `pip install wandb`.", /report_to names wandb/],
    ["RuntimeError: MLflowCallback requires mlflow to be installed. Run `pip install mlflow`.", /pip install mlflow/],
    ["wandb: ERROR api_key not configured (no-tty). call wandb.login(key=[your_api_key])", /export WANDB_API_KEY=<key>/],
  ])("explains a tracker failure: %s", (line, expected) => {
    expect(
      recogniseFailures(line)
        .map((f) => f.explanation)
        .join(" | "),
    ).toMatch(expected);
  });
});
