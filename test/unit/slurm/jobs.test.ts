import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { MANIFEST_SCHEMA_ID, runManifestSchema, type RunManifest } from "../../../harness/finetune/manifest.ts";
import {
  exitStatusOf,
  parseArrayScontrol,
  parseArraySacct,
  parseArraySqueue,
  parseSacct,
  parseScontrol,
  parseSqueue,
  phaseOf,
  runsScript,
} from "../../../harness/slurm/jobs.ts";
import { sbatchDirectiveLines } from "../../../harness/slurm/sbatch.ts";
import { finalStatus, runFinetuneStatus } from "../../../harness/finetune/status.ts";
import { cancelLine, logLinesOf } from "../../../harness/slurm/logs.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import type { Io } from "../../../harness/util/io.ts";

describe("reading the scheduler", () => {
  it("maps SLURM's job states onto what the harness does with them", () => {
    expect(["PENDING", "CONFIGURING", "REQUEUED"].map(phaseOf)).toEqual(["pending", "pending", "pending"]);
    expect(["RUNNING", "COMPLETING", "SUSPENDED"].map(phaseOf)).toEqual(["running", "running", "running"]);
    expect(phaseOf("COMPLETED")).toBe("completed");
    // sacct names who cancelled it.
    expect(phaseOf("CANCELLED by 0")).toBe("cancelled");
    expect(phaseOf("CANCELLED+")).toBe("cancelled");
    expect(["FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL"].map(phaseOf)).toEqual(Array(6).fill("failed"));
    expect(phaseOf("")).toBe("unknown");
  });

  it("parses squeue, scontrol and sacct as they print", () => {
    expect(parseSqueue("PENDING|Resources|harness-a|b\n")).toEqual({ state: "PENDING", reason: "Resources", name: "harness-a|b" });
    expect(parseSqueue("COMPLETED|None|x")).toEqual({ state: "COMPLETED", reason: null, name: "x" });
    expect(parseSqueue("")).toBeNull();
    const line =
      "JobId=7 JobName=harness-tiny-cpu-mind UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=1:0 StdOut=/runs/x/slurm-7.log Command=/runs/x/train.sbatch";
    expect(parseScontrol(`${line}\n`)).toMatchObject({
      state: "FAILED",
      reason: "NonZeroExitCode",
      exitCode: "1:0",
      name: "harness-tiny-cpu-mind",
      stdout: "/runs/x/slurm-7.log",
    });
    expect(parseScontrol("slurm_load_jobs error: Invalid job id specified")).toBeNull();
    // A job id reused by another job (a local cluster whose state was wiped) is not this run's.
    expect(runsScript(line, "/runs/x/train.sbatch")).toBe(true);
    expect(runsScript(line, "/runs/y/train.sbatch")).toBe(false);
    expect(runsScript(line.replace(/ Command=\S+/, ""), "/runs/y/train.sbatch")).toBe(true);
    expect(parseSacct("CANCELLED by 0|0:15|harness-x\n")).toEqual({ state: "CANCELLED by 0", exitCode: "0:15", name: "harness-x" });
    expect([exitStatusOf("0:0"), exitStatusOf("1:0"), exitStatusOf("0:15"), exitStatusOf(null)]).toEqual([0, 1, null, null]);
  });

  it("reads a log whose progress bars redraw with carriage returns, and slurmstepd's cancel line", () => {
    const lines = logLinesOf(" 0%| | 0/9\r 11%|# | 1/9\r\n\nslurmstepd-vm: error: *** JOB 12 ON vm CANCELLED AT 2026-01-02T03:04:05 ***\n");
    expect(lines).toEqual([" 0%| | 0/9", " 11%|# | 1/9", "slurmstepd-vm: error: *** JOB 12 ON vm CANCELLED AT 2026-01-02T03:04:05 ***"]);
    expect(cancelLine(lines)).toBe("JOB 12 ON vm CANCELLED AT 2026-01-02T03:04:05");
    expect(cancelLine(["nothing"])).toBeNull();
  });

  it("settles a run only once its job has ended, succeeded only with an adapter", () => {
    expect(finalStatus("running", false)).toBeNull();
    expect(finalStatus("pending", false)).toBeNull();
    expect(finalStatus("completed", true)).toBe("succeeded");
    expect(finalStatus("completed", false)).toBe("failed");
    expect(finalStatus("cancelled", true)).toBe("cancelled");
    expect(finalStatus("failed", false)).toBe("failed");
    // Forgotten by the scheduler: the files decide, and without an adapter nothing is settled.
    expect(finalStatus("unknown", true)).toBe("succeeded");
    expect(finalStatus("unknown", false)).toBeNull();
  });
});

describe("harness status on a failed job (stand-in scheduler commands)", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  function submittedManifest(runDir: string): RunManifest {
    return runManifestSchema.parse({
      schema: MANIFEST_SCHEMA_ID,
      status: "submitted",
      runDir,
      startedAt: "2026-01-01T00:00:00.000Z",
      endedAt: null,
      recipe: "mind",
      config: { file: "c.yaml", sha256: "x", name: "c" },
      model: { baseModel: "m", template: "llama2", loraRank: 64 },
      serve: { engine: "huggingface", inferDtype: "auto" },
      dataset: { key: "intentionqa_mind", dir: "d", infoSha256: "x", file: "f", fileSha256: "x", records: 1 },
      trainYaml: { file: "t", sha256: "x" },
      launch: { command: [], env: {}, nnodes: 1, nodeRank: 0, slurm: { script: join(runDir, "train.sbatch"), jobId: "41" } },
      resumedFrom: null,
      owner: { host: hostname(), pid: 1 },
      tools: { harness: "0", node: "v20", packages: {} },
      gitCommit: null,
      exitCode: null,
      failures: [],
      outputs: { dir: join(runDir, "output"), adapter: null, files: [], lastLog: null, trainResults: null },
    });
  }

  function capture(): { io: Io; printed: () => string } {
    const stdout = new PassThrough();
    let text = "";
    stdout.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    return { io: { stdout, stderr: new PassThrough() } as unknown as Io, printed: () => text };
  }

  it("a folder without a manifest, or with a broken one: a usage error naming it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-status-"));
    const config = { runDir: dir, tail: 5, wait: false, pollMs: 10 };
    await expect(runFinetuneStatus(config, capture().io)).rejects.toMatchObject({
      exitCode: 2,
      message: `${dir}: no manifest.json; expected a run directory written by \`harness finetune\``,
    });
    await writeFile(join(dir, "manifest.json"), "{");
    await expect(runFinetuneStatus(config, capture().io)).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining(`${join(dir, "manifest.json")}: not a readable run manifest`),
    });
  });

  it("a run trained here: its status and train.log's tail, the manifest untouched, no scheduler asked", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-status-"));
    const manifest = submittedManifest(dir);
    const local = { ...manifest, status: "succeeded" as const, launch: { ...manifest.launch, slurm: null } };
    await writeFile(join(dir, "manifest.json"), JSON.stringify(local));
    await writeFile(join(dir, "train.log"), "one\ntwo\nthree\n");
    process.env.HARNESS_SQUEUE = join(dir, "no-squeue");
    const { io, printed } = capture();
    const result = await runFinetuneStatus({ runDir: dir, tail: 2, wait: false, pollMs: 10 }, io);
    expect(result.phase).toBe("local");
    expect(printed()).toBe(
      `not a SLURM job: trained by \`harness finetune\` on ${hostname()}\nrun: succeeded\nlog: ${join(dir, "train.log")} (last 2 lines)\n  two\n  three\n`,
    );
    expect(JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"))).toEqual(local);
  });

  it("records failed with the scheduler's reason, the exit code and LLaMA-Factory's known failure; outside text is escaped", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-status-"));
    const runDir = join(dir, "run");
    await mkdir(join(runDir, "output"), { recursive: true });
    await writeFile(join(runDir, "manifest.json"), JSON.stringify(submittedManifest(runDir)));
    await writeFile(
      join(runDir, "slurm-41.log"),
      "loading\nValueError: Undefined dataset intentionqa_mind in dataset_info.json.\n\u001b]0;pwned\u0007title\n",
    );
    // squeue no longer lists it; scontrol does, with a job name holding an escape sequence.
    const squeue = join(dir, "squeue");
    await writeFile(squeue, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const scontrol = join(dir, "scontrol");
    await writeFile(
      scontrol,
      `#!/bin/sh\nprintf 'JobId=41 JobName=evil\\033[2J JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0 StdOut=${join(runDir, "slurm-41.log")}\\n'\n`,
      { mode: 0o755 },
    );
    Object.assign(process.env, { HARNESS_SQUEUE: squeue, HARNESS_SCONTROL: scontrol, HARNESS_SACCT: join(dir, "none") });
    const { io, printed: output } = capture();

    const error = await runFinetuneStatus({ runDir, tail: 2, wait: false, pollMs: 10 }, io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HarnessError);
    const printed = output();
    expect((error as HarnessError).exitCode).toBe(1);
    expect(printed).toContain("job 41 (evil\\u001b[2J): FAILED (from scontrol)\n");
    expect(printed).toContain("run: failed: FAILED, reason NonZeroExitCode, exit code 1:0\n");
    expect(printed).toMatch(/ {2}- dataset intentionqa_mind is not registered/);
    expect(printed).toContain("  \\u001b]0;pwned\\u0007title\n");
    expect(printed).not.toContain("\u001b");

    const manifest = runManifestSchema.parse(JSON.parse(await readFile(join(runDir, "manifest.json"), "utf8")));
    expect(manifest).toMatchObject({
      status: "failed",
      exitCode: 1,
      launch: { slurm: { jobId: "41", state: "FAILED", reason: "FAILED, reason NonZeroExitCode, exit code 1:0" } },
      outputs: { adapter: null },
    });
    expect(manifest.failures.map((f) => f.id)).toEqual(["slurm-failed", "undefined-dataset"]);
  });
});

describe("array jobs: one state per task, from the scheduler's own lines", () => {
  it("reads squeue -r lines of this array only, names with a | kept whole", () => {
    const tasks = parseArraySqueue(
      "22_0|PENDING|Resources|shard|a\n22_1|RUNNING|None|x\n23_0|RUNNING|None|other\n22_[2-3]|PENDING|None|x\n",
      "22",
    );
    expect([...tasks.keys()]).toEqual([0, 1]);
    expect(tasks.get(0)).toEqual({ state: "PENDING", reason: "Resources", name: "shard|a" });
    expect(tasks.get(1)?.reason).toBeNull();
  });

  it("reads scontrol's per-task lines by ArrayTaskId, with exit code and output file", () => {
    const stdout = [
      "JobId=24 ArrayJobId=22 ArrayTaskId=1 JobName=arrtest JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 StdOut=/tmp/arr-22_1.log",
      "JobId=23 ArrayJobId=22 ArrayTaskId=0 JobName=arrtest JobState=COMPLETED Reason=None ExitCode=0:0 StdOut=/tmp/arr-22_0.log",
      "JobId=22 ArrayJobId=22 ArrayTaskId=2-3 JobName=arrtest JobState=PENDING Reason=None ExitCode=0:0",
    ].join("\n");
    const tasks = parseArrayScontrol(stdout);
    expect([...tasks.keys()].sort()).toEqual([0, 1]);
    expect(tasks.get(1)).toMatchObject({ state: "FAILED", reason: "NonZeroExitCode", exitCode: "3:0", stdout: "/tmp/arr-22_1.log" });
    expect(phaseOf(tasks.get(1)!.state)).toBe("failed");
  });

  it("reads sacct's JobID_task lines and ignores steps and other jobs", () => {
    const tasks = parseArraySacct("22_0|COMPLETED|0:0|shard\n22_1|CANCELLED by 0|0:15|shard\n220_1|FAILED|1:0|x\n", "22");
    expect([...tasks.keys()]).toEqual([0, 1]);
    expect(phaseOf(tasks.get(1)!.state)).toBe("cancelled");
    expect(exitStatusOf(tasks.get(1)!.exitCode)).toBeNull();
  });
});

describe("sbatch directives", () => {
  it("turns directives into #SBATCH lines and refuses any control character, naming the directive", () => {
    expect(sbatchDirectiveLines(["--array=0-1", "--time=1:00:00"])).toEqual(["#SBATCH --array=0-1", "#SBATCH --time=1:00:00"]);
    for (const bad of ["--partition=gpu\nrm -rf ~", "--x=\u0007", "--y=\r"])
      expect(() => sbatchDirectiveLines([bad])).toThrow(/line break or control character/);
  });
});
