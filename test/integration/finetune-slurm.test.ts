import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runManifestSchema, type RunManifest } from "../../harness/finetune/manifest.ts";
import { reportSchema } from "../../harness/reports/schema.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness, type CliResult } from "../helpers/cli.ts";
import { intentionqaDir } from "../helpers/paths.ts";
import { LLAMAFACTORY_CLI, slurmGate } from "../helpers/slurm-cluster.ts";

/**
 * `harness finetune --slurm` against a real scheduler: the one-node cluster of
 * .ci/slurm-cluster.sh (CI starts it; locally: `bash .ci/slurm-cluster.sh start`). The sbatch
 * script is parsed and run by slurmctld/slurmd, the tiny model trains on CPU with the real
 * LLaMA-Factory, `harness status` follows the job; a cancelled job is reported with its log and
 * a resubmission resumes from its last checkpoint; `eval --run` evaluates the finished adapter.
 */

const VENV = join(PROJECT_ROOT, "finetune", ".venv");
const gate = slurmGate("finetune --slurm on a real scheduler", { needsLlamaFactory: true });
const env = { LLAMAFACTORY_CLI, HF_HUB_OFFLINE: "1" };

let work: string;
const at = (...parts: string[]) => join(work, ...parts);
const submitted: string[] = [];

const finetune = (runDir: string, extra: string[] = []) =>
  runHarness(
    [
      ...["finetune", "--config", join(PROJECT_ROOT, "configs", "tiny-cpu.yaml"), "--recipe", "mind", "--dataset-dir", at("sft")],
      ...["--run-dir", runDir, "--model-path", at("tiny"), "--slurm", ...extra],
    ],
    { cwd: work, env, timeoutMs: 120_000 },
  );

/** Submits and returns the job id from "submitted SLURM job N: ...". */
async function submit(runDir: string, extra: string[] = []): Promise<string> {
  const result = await finetune(runDir, extra);
  expect(result.exitCode, result.stderr).toBe(0);
  const jobId = /^submitted SLURM job (\d+): /m.exec(result.stdout)?.[1];
  expect(jobId, result.stdout).toBeDefined();
  submitted.push(jobId!);
  return jobId!;
}

const status = (runDir: string, extra: string[] = []) => runHarness(["status", runDir, ...extra], { cwd: work, env, timeoutMs: 300_000 });

/** `harness status` asked every two seconds, as a user would, until the job has left the queue. */
async function pollUntilEnded(runDir: string, limitMs: number): Promise<CliResult> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const result = await status(runDir);
    if (!/^job \d+ \(.*\): (PENDING|RUNNING|COMPLETING|CONFIGURING) /m.test(result.stdout)) return result;
    if (Date.now() > deadline) throw new Error(`the job did not end in ${limitMs / 1000}s:\n${result.stdout}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function readManifest(runDir: string): Promise<RunManifest> {
  return runManifestSchema.parse(JSON.parse(await readFile(join(runDir, "manifest.json"), "utf8")));
}

const wholeCheckpoints = (output: string) =>
  existsSync(output)
    ? readdirSync(output).filter((n) => /^checkpoint-\d+$/.test(n) && existsSync(join(output, n, "trainer_state.json")))
    : [];

async function writeFixtureKb(file: string): Promise<void> {
  const header = "id_a,id_b,Product_a,Product_b,Relation,product_a_desc,product_b_desc,Intention,tail,Agreement";
  const relations = ["usedFor", "can", "isA", "open"];
  const rows = Array.from({ length: 16 }, (_, i) =>
    [`A${i}`, `B${i}`, `Phone case ${i}`, `Screen protector ${i}`, relations[i % 4], "A slim case.", "Tempered glass."]
      .concat([`they are both used for protecting phone ${i}`, "protect phone", "Yes"])
      .join(","),
  );
  await writeFile(file, `${header}\n${rows.join("\n")}\n`);
}

describe.skipIf(gate.skip)(gate.title, () => {
  beforeAll(async () => {
    gate.assertUsable();
    work = await mkdtemp(join(tmpdir(), "harness-slurm-"));
    await execa(join(VENV, "bin", "python"), [join(PROJECT_ROOT, "test", "helpers", "make_tiny_model.py"), at("tiny")]);
    await writeFixtureKb(at("kb.csv"));
    const built = await runHarness(
      ["build-sft", "--kb", at("kb.csv"), "--recipe", "mind", "--out", at("sft"), "--data", intentionqaDir()],
      {
        cwd: work,
      },
    );
    expect(built.exitCode, built.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    // Nothing of this test left in the queue, whatever failed.
    if (submitted.length > 0) await execa("scancel", submitted, { reject: false });
  });

  it("a submitted job trains the tiny model; `harness status` follows it to completed and the manifest says succeeded", async () => {
    const runDir = at("run");
    const jobId = await submit(runDir);
    expect((await readManifest(runDir)).status).toBe("submitted");

    const result = await pollUntilEnded(runDir, 300_000);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^job ${jobId} \\(harness-tiny-cpu-mind\\): COMPLETED \\(from (squeue|scontrol|sacct)\\)$`, "m"),
    );
    expect(result.stdout).toMatch(/^progress: train: step 3\/3 \(100\.0%\) {2}loss \d+\.\d{4} /m);
    expect(result.stdout).toContain("run: succeeded\n");
    expect(result.stdout).toContain(`adapter: ${join(runDir, "output")}\n`);
    expect(result.stdout).toContain(`log: ${join(runDir, `slurm-${jobId}.log`)} (last 15 lines)`);

    const manifest = await readManifest(runDir);
    expect(manifest).toMatchObject({
      status: "succeeded",
      exitCode: 0,
      failures: [],
      launch: { slurm: { jobId, state: "COMPLETED", reason: null } },
      outputs: { adapter: join(runDir, "output") },
    });
    expect(manifest.endedAt).not.toBeNull();
    for (const file of ["adapter_model.safetensors", "adapter_config.json"]) expect(existsSync(join(runDir, "output", file))).toBe(true);

    // Asked again: the settled manifest is kept as it is.
    const again = await status(runDir);
    expect(again.exitCode).toBe(0);
    expect((await readManifest(runDir)).endedAt).toBe(manifest.endedAt);
  }, 360_000);

  it("eval --run serves the adapter the job trained and answers real questions through it", async () => {
    const result = await runHarness(
      [
        ...["eval", "--run", at("run"), "--task", "understanding", "--limit", "4", "--data", intentionqaDir()],
        ...["--out", at("reports"), "--cache-dir", at("cache"), "--run-id", "slurm-tiny", "--progress=false"],
      ],
      { cwd: work, env, timeoutMs: 240_000 },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const report = reportSchema.parse(JSON.parse(await readFile(at("reports", "slurm-tiny", "report.json"), "utf8")));
    expect(report.status).toBe("complete");
    expect(report.labels).toMatchObject({ run: at("run"), adapter: at("run", "output") });
    expect(report.results[0]!.questions).toMatchObject({ selected: 4, apiErrors: 0 });
  }, 300_000);

  it("scancel: reported as cancelled with the log tail; a resubmission resumes from the last checkpoint", async () => {
    const runDir = at("run-cancel");
    const jobId = await submit(runDir, ["--max-steps", "500"]);
    const deadline = Date.now() + 240_000;
    while (wholeCheckpoints(join(runDir, "output")).length === 0) {
      if (Date.now() > deadline) throw new Error(`job ${jobId} saved no checkpoint:\n${(await status(runDir)).stdout}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // While it runs, the same run directory is not submitted twice.
    const twice = await finetune(runDir, ["--max-steps", "500"]);
    expect(twice.exitCode).toBe(2);
    expect(twice.stderr).toContain(`its SLURM job ${jobId} is still running; follow it with \`harness status ${runDir}\``);

    await execa("scancel", [jobId]);
    const result = await status(runDir, ["--wait", "--tail", "5"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`harness: error: run cancelled: ${runDir}`);
    expect(result.stdout).toMatch(new RegExp(`^job ${jobId} \\(harness-tiny-cpu-mind\\): CANCELLED `, "m"));
    expect(result.stdout).toMatch(new RegExp(`^run: cancelled: JOB ${jobId} ON \\S+ CANCELLED AT \\S+$`, "m"));
    expect(result.stdout).toMatch(/^resubmit: the same `harness finetune \.\.\. --slurm` command resumes from checkpoint-\d+$/m);
    expect(result.stdout).toMatch(new RegExp(`log: .*slurm-${jobId}\\.log \\(last 5 lines\\)(\\n  .*){5}$`));
    // The tail is the job's own log with slurmstepd's cancel line among its last lines: the batch
    // job's ("JOB 13") or the step's ("STEP 13.0"), whichever srun's own lines left in the tail.
    expect(result.stdout).toMatch(/^ {2}.*\*\*\* (JOB \d+|STEP \d+\.\d+) ON \S+ CANCELLED AT /m);
    const manifest = await readManifest(runDir);
    expect(manifest).toMatchObject({ status: "cancelled", launch: { slurm: { jobId, state: "CANCELLED" } } });
    expect(manifest.launch.slurm?.reason).toMatch(/^JOB \d+ ON \S+ CANCELLED AT /);

    // The same command again, a step past the last whole checkpoint: it resumes there.
    const last = Math.max(...wholeCheckpoints(join(runDir, "output")).map((n) => Number(n.slice(11))));
    await submit(runDir, ["--max-steps", String(last + 1)]);
    const resumed = await status(runDir, ["--wait"]);
    expect(resumed.exitCode, resumed.stdout + resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain("run: succeeded\n");
    expect(await readManifest(runDir)).toMatchObject({ status: "succeeded", resumedFrom: `checkpoint-${last}` });
  }, 600_000);
});
