import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ArraySubmission,
  arrayTasks,
  buildArrayScript,
  latestTaskOf,
  nextIndex,
  readSubmissions,
  writeSubmission,
} from "../../../harness/ablate/array.ts";
import { planAblation } from "../../../harness/ablate/matrix.ts";
import { cellView, runAblateStatus, summaryLine } from "../../../harness/ablate/status.ts";
import { submitAblation } from "../../../harness/ablate/submit.ts";
import type { JobState } from "../../../harness/slurm/jobs.ts";
import { sbatchFilePattern } from "../../../harness/slurm/sbatch.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import type { Io } from "../../../harness/util/io.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";

const script = (overrides: Partial<Parameters<typeof buildArrayScript>[0]> = {}) =>
  buildArrayScript({
    cells: ["tiny-zero-shot", "tiny-mind"],
    harness: ["/usr/bin/node", "/opt/harness/bin/harness.js"],
    config: "/work/ablation.yaml",
    cwd: "/work",
    passThrough: [],
    logPattern: "/work/runs/slurm/ablate-%A_%a.log",
    gpus: 0,
    ...overrides,
  });

/** Runs the script's body as array task `task` with printf standing in for node: the harness's argv, NUL-separated. */
function argvOfTask(text: string, task: string | undefined): { status: number | null; logLine: string; argv: string[]; stderr: string } {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  if (task !== undefined) env.SLURM_ARRAY_TASK_ID = task;
  const run = spawnSync("bash", ["-c", text], { env, encoding: "utf8" });
  const [logLine = "", ...rest] = run.stdout.split("\n");
  return { status: run.status, logLine, argv: rest.join("\n").split("\0").slice(0, -1), stderr: run.stderr };
}

describe("ablate --slurm's array script", () => {
  it("one task per cell in order, the harness's directives then the user's, no secret from the environment", () => {
    process.env.HF_TOKEN_FOR_TEST = "hf_secret_value";
    const text = script({ gpus: 8, extraDirectives: ["--partition=gpu", "--time=24:00:00"] });
    delete process.env.HF_TOKEN_FOR_TEST;
    expect(text.split("\n").filter((l) => l.startsWith("#SBATCH"))).toEqual([
      "#SBATCH --job-name=harness-ablate",
      "#SBATCH --array=0-1",
      "#SBATCH --nodes=1",
      "#SBATCH --ntasks=1",
      "#SBATCH --gres=gpu:8",
      "#SBATCH --output=/work/runs/slurm/ablate-%A_%a.log",
      "#SBATCH --partition=gpu",
      "#SBATCH --time=24:00:00",
    ]);
    expect(text).toContain("  0) cell=tiny-zero-shot ;;\n  1) cell=tiny-mind ;;\n");
    expect(text).toContain('exec /usr/bin/node /opt/harness/bin/harness.js ablate --config /work/ablation.yaml --cell "$cell"\n');
    expect(text).not.toContain("hf_secret");
    expect(script()).not.toContain("--gres");
    expect(() => script({ extraDirectives: ["--time=1\nrm -rf /"] })).toThrow(/cannot go into an sbatch directive/);
  });

  it("task i runs cell i with every path and id passed to the harness as it was, however hostile", async () => {
    const cwd = await mkdtemp(join(tmpdir(), `harness-array-it's "a" $(dir) ;`));
    // Anything a path or an id could hold but NUL, which no argv can.
    const word = fc.string({ unit: "binary", minLength: 1, maxLength: 12 }).filter((s) => !s.includes("\0"));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 3 }), word, word, (cells, config, data) => {
        const text = script({ cells, harness: ["/usr/bin/printf", "%s\\0"], config, cwd, passThrough: ["--data", data] });
        const task = cells.length - 1;
        const ran = argvOfTask(text, String(task));
        expect(ran.status, ran.stderr).toBe(0);
        expect(ran.argv).toEqual(["ablate", "--config", config, "--cell", cells[task], "--data", data]);
        // The log's line for the task is one line whatever the cell's id holds (a newline once split it).
        expect(ran.logLine).toMatch(new RegExp(`^harness ablate: array task ${task} runs cell \\S`));
      }),
      { numRuns: 12, examples: [[["\n"], "\u0001", "\u0001"]] },
    );
    // The task runs where the config was submitted from (its relative paths resolve there).
    const pwd = spawnSync("bash", ["-c", script({ harness: ["pwd", "-P"], cwd }).replace(/ ablate --config .*$/m, "")], {
      env: { PATH: process.env.PATH ?? "", SLURM_ARRAY_TASK_ID: "0" },
      encoding: "utf8",
    });
    expect(pwd.stdout.trim().split("\n").pop()).toBe(execFileSync("realpath", [cwd], { encoding: "utf8" }).trim());
  });

  it("the log folder as sbatch reads it: % doubled, blanks double-quoted, a quote or backslash refused", () => {
    expect(sbatchFilePattern("/w/runs/slurm", "ablate-%A_%a.log")).toBe("/w/runs/slurm/ablate-%A_%a.log");
    expect(sbatchFilePattern("/w/my runs 50%/slurm", "ablate-%A_%a.log")).toBe('"/w/my runs 50%%/slurm/ablate-%A_%a.log"');
    expect(() => sbatchFilePattern('/w/"x"', "a.log")).toThrow(/cannot go into an sbatch directive/);
    expect(() => sbatchFilePattern("/w/a\\b", "a.log")).toThrow(/cannot go into an sbatch directive/);
  });

  it("a task index with no cell, or no array task at all, runs nothing and says why", () => {
    const text = script({ harness: ["/usr/bin/printf", "%s\\0"] });
    const outside = argvOfTask(text, "2");
    expect(outside.status).toBe(2);
    expect(outside.stderr).toContain("harness ablate: no cell for array task 2");
    const unset = argvOfTask(text, undefined);
    expect(unset.status).not.toBe(0);
    expect(unset.stderr).toContain("SLURM_ARRAY_TASK_ID: unbound variable");
  });
});

const submission = (index: number, jobId: string, cells: string[], submittedAt = "2026-01-01T00:00:00.000Z"): ArraySubmission => ({
  version: 1,
  index,
  jobId,
  script: `/w/slurm/array-${index}.sbatch`,
  config: "/w/a.yaml",
  submittedAt,
  afterOk: [],
  tasks: arrayTasks(cells.map((id) => ({ id, key: `key-${id}` }))),
});

describe("task -> cell mapping", () => {
  it("maps task indices to cells in order; the latest submission that ran a cell is the one followed", async () => {
    const first = submission(1, "20", ["a", "b", "c"]);
    const second = submission(2, "31", ["c", "a"]);
    expect(first.tasks).toEqual([
      { task: 0, cell: "a", key: "key-a" },
      { task: 1, cell: "b", key: "key-b" },
      { task: 2, cell: "c", key: "key-c" },
    ]);
    expect(latestTaskOf([first, second], "a")).toMatchObject({ submission: { jobId: "31" }, task: { task: 1 } });
    expect(latestTaskOf([first, second], "b")).toMatchObject({ submission: { jobId: "20" }, task: { task: 1 } });
    expect(latestTaskOf([first, second], "d")).toBeNull();
    expect(nextIndex([])).toBe(1);

    const dir = await mkdtemp(join(tmpdir(), "harness-array-"));
    await writeSubmission(dir, second);
    await writeSubmission(dir, first);
    expect((await readSubmissions(dir)).map((s) => s.jobId)).toEqual(["20", "31"]);
    expect(nextIndex(await readSubmissions(dir))).toBe(3);
    expect(await readSubmissions(join(dir, "none"))).toEqual([]);
    await writeFile(join(dir, "array-3.json"), '{"version": 1}');
    await expect(readSubmissions(dir)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining("array-3.json: not an") });
  });
});

const job = (state: string, phase: JobState["phase"], more: Partial<JobState> = {}): JobState => ({
  state,
  phase,
  reason: null,
  exitCode: null,
  name: "harness-ablate",
  stdout: null,
  from: "squeue",
  ...more,
});

describe("a cell's state in the status view", () => {
  const sub = submission(1, "40", ["t-mind"], "2026-03-01T10:00:00.000Z");
  const found = { submission: sub, task: sub.tasks[0]! };
  const base = { reusable: false, record: null, found, job: null, log: "/w/slurm/ablate-40_0.log" };

  it("done from cell.json alone; queued with the scheduler's reason; running", () => {
    const record = { key: "k", status: "succeeded" as const, report: "/r/t-mind/report.json", finishedAt: "x" };
    expect(cellView("t-mind", { ...base, reusable: true, record })).toMatchObject({
      phase: "done",
      detail: "report /r/t-mind/report.json",
    });
    expect(cellView("t-mind", { ...base, job: job("PENDING", "pending", { reason: "Dependency" }) })).toMatchObject({
      phase: "queued",
      detail: "job 40_0: PENDING (from squeue), waiting: Dependency",
    });
    expect(cellView("t-mind", { ...base, job: job("RUNNING", "running") }).phase).toBe("running");
  });

  it("failed with the scheduler's state, reason, exit code and this task's cell.json error, never an older one's", () => {
    const failedJob = job("FAILED", "failed", { reason: "NonZeroExitCode", exitCode: "1:0", from: "scontrol" });
    const record = (finishedAt: string) => ({ key: "k", status: "failed" as const, error: "fine-tuning failed", finishedAt });
    expect(cellView("t-mind", { ...base, job: failedJob, record: record("2026-03-01T10:05:00.000Z") }).detail).toBe(
      "job 40_0: FAILED (from scontrol), reason NonZeroExitCode, exit code 1:0; cell.json: fine-tuning failed",
    );
    expect(cellView("t-mind", { ...base, job: failedJob, record: record("2026-02-01T00:00:00.000Z") }).detail).not.toContain("cell.json");
    expect(cellView("t-mind", { ...base, job: job("TIMEOUT", "failed") }).phase).toBe("failed");
    expect(cellView("t-mind", { ...base, job: job("CANCELLED", "cancelled") }).phase).toBe("cancelled");
    // The task ended well but left no finished cell for today's inputs: not done.
    expect(cellView("t-mind", { ...base, job: job("COMPLETED", "completed") })).toMatchObject({
      phase: "failed",
      detail: expect.stringContaining("but the cell has no finished record for the current inputs"),
    });
  });

  it("unknown when the scheduler forgot the task; not submitted when no array ran it", () => {
    expect(cellView("t-mind", base)).toMatchObject({ phase: "unknown", detail: expect.stringContaining("no longer knows it") });
    const stale = { key: "old", status: "succeeded" as const, report: "/r", finishedAt: "x" };
    expect(cellView("t-mind", { ...base, found: null, record: stale })).toMatchObject({
      phase: "not submitted",
      detail: "finished with other inputs (the config or a KB changed); not submitted since",
    });
  });

  it("the summary never calls a partial matrix complete", () => {
    const view = (phase: Parameters<typeof summaryLine>[0][number]["phase"]) => ({ id: "x", phase, detail: "", log: null });
    expect(summaryLine([view("done"), view("running"), view("failed")])).toBe(
      "1 of 3 cells done, 1 running, 1 failed: Table 3 is not complete",
    );
    expect(summaryLine([view("done"), view("done")])).toBe("all 2 cells done: `--collect` builds Table 3");
  });
});

/** Stand-in scheduler tools and a two-backbone-free config in a fresh folder. */
async function fixture(prefix: string) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const tool = async (name: string, body: string) => {
    await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return join(dir, name);
  };
  await writeFile(join(dir, "kb.csv"), "id_a,id_b\n");
  const config = join(dir, "ablation.yaml");
  await writeFile(
    config,
    [
      `backbones: { tiny: ${join(PROJECT_ROOT, "configs", "tiny-cpu.yaml")} }`,
      "recipes: [zero-shot, unfiltered, mind]",
      `data: { kb: ${join(dir, "kb.csv")} }`,
      `work_dir: ${join(dir, "runs")}`,
      `reports_dir: ${join(dir, "reports")}`,
    ].join("\n"),
  );
  const out = new PassThrough();
  const output = { text: "" };
  out.on("data", (c: Buffer) => {
    output.text += c.toString();
  });
  const io = { stdout: out, stderr: new PassThrough() } as unknown as Io;
  return { dir, tool, config, io, output };
}

describe("ablate --slurm and --status with stand-in scheduler tools", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it("--status: a failed task's reason and escaped log tail, a cancelled and a queued cell; exit 1 naming what will not finish", async () => {
    const { dir, tool, config, io, output } = await fixture("harness-ablate-status-");
    const slurmDir = join(dir, "runs", "slurm");
    await mkdir(slurmDir, { recursive: true });
    await writeSubmission(slurmDir, {
      ...submission(1, "88", ["tiny-zero-shot", "tiny-unfiltered", "tiny-mind"]),
      script: join(slurmDir, "array-1.sbatch"),
    });
    await writeFile(join(slurmDir, "ablate-88_0.log"), "starting\nTraceback: boom\n\u001b]0;pwned\u0007\n");
    await writeFile(
      join(slurmDir, "ablate-88_1.log"),
      "training\nslurmstepd: error: *** JOB 90 ON vm CANCELLED AT 2026-03-01T10:00:00 ***\n",
    );
    Object.assign(process.env, {
      HARNESS_SQUEUE: await tool("squeue", "echo '88_2|PENDING|Resources|harness-ablate'"),
      HARNESS_SCONTROL: await tool(
        "scontrol",
        "echo 'JobId=89 ArrayJobId=88 ArrayTaskId=0 JobName=harness-ablate JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0'\n" +
          "echo 'JobId=90 ArrayJobId=88 ArrayTaskId=1 JobName=harness-ablate JobState=CANCELLED Reason=None ExitCode=0:15'",
      ),
      HARNESS_SACCT: await tool("sacct", "exit 0"),
    });
    const error = await runAblateStatus({ config, tail: 2 }, io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).exitCode).toBe(1);
    expect((error as HarnessError).message).toContain("2 cell(s) will not finish without a resubmission: tiny-zero-shot, tiny-unfiltered;");
    const printed = output.text;
    expect(printed).toContain(
      "  tiny-zero-shot   failed         job 88_0: FAILED (from scontrol), reason NonZeroExitCode, exit code 1:0\n",
    );
    expect(printed).toContain(
      `    log: ${join(slurmDir, "ablate-88_0.log")} (last 2 lines)\n      Traceback: boom\n      \\u001b]0;pwned\\u0007\n`,
    );
    expect(printed).not.toContain("\u001b");
    expect(printed).toContain("  tiny-unfiltered  cancelled      job 88_1: CANCELLED (from scontrol)\n");
    expect(printed).toMatch(/^ {6}slurmstepd: error: \*\*\* JOB 90 ON vm CANCELLED AT /m);
    expect(printed).toMatch(/^ {2}tiny-mind +queued +job 88_2: PENDING \(from squeue\), waiting: Resources {2}log /m);
    expect(printed).toContain("0 of 3 cells done, 1 queued, 1 failed, 1 cancelled: Table 3 is not complete\n");

    // Only the queued cell left: on its way, exit 0.
    process.env.HARNESS_SCONTROL = await tool("scontrol", "exit 0");
    process.env.HARNESS_SQUEUE = await tool("squeue", "echo '88_0|PENDING|Priority|harness-ablate'");
    await writeSubmission(slurmDir, { ...submission(1, "88", ["tiny-mind"]), script: join(slurmDir, "array-1.sbatch") });
    const record = (key: string) => ({ key, status: "succeeded", report: join(dir, "kb.csv"), finishedAt: "x" });
    const plan = await planAblation({ config });
    for (const cell of plan.cells.filter((c) => c.id !== "tiny-mind")) {
      await mkdir(cell.dir, { recursive: true });
      await writeFile(join(cell.dir, "cell.json"), JSON.stringify(record(cell.key)));
    }
    output.text = "";
    const views = await runAblateStatus({ config }, io);
    expect(views.map((v) => v.phase)).toEqual(["done", "done", "queued"]);
    expect(output.text).toContain("2 of 3 cells done, 1 queued: Table 3 is not complete\n");
  });

  it("--status --wait polls until no cell is queued or running, then reports how they ended", async () => {
    const { dir, tool, config, io, output } = await fixture("harness-ablate-wait-");
    const slurmDir = join(dir, "runs", "slurm");
    await writeSubmission(slurmDir, {
      ...submission(1, "91", ["tiny-zero-shot", "tiny-unfiltered", "tiny-mind"]),
      script: join(slurmDir, "array-1.sbatch"),
    });
    // Asked three times, the tasks run; from then on squeue has forgotten them and scontrol says how they ended.
    const asked = join(dir, "asked");
    Object.assign(process.env, {
      HARNESS_SQUEUE: await tool(
        "squeue",
        `echo x >> ${asked}; [ $(wc -l < ${asked}) -le 3 ] && printf '91_0|RUNNING|None|h\\n91_1|RUNNING|None|h\\n91_2|PENDING|Resources|h\\n'; exit 0`,
      ),
      HARNESS_SCONTROL: await tool(
        "scontrol",
        `[ $(wc -l < ${asked}) -le 3 ] || printf 'JobId=92 ArrayJobId=91 ArrayTaskId=0 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15\\n'`,
      ),
      HARNESS_SACCT: await tool("sacct", "exit 0"),
    });
    const stderr = new PassThrough();
    let waited = "";
    stderr.on("data", (c: Buffer) => {
      waited += c.toString();
    });
    const error = await runAblateStatus({ config, wait: true, pollMs: 10 }, { ...io, stderr } as unknown as Io).catch((e: unknown) => e);
    expect((error as HarnessError).exitCode).toBe(1);
    expect(waited).toContain("0 of 3 cells done, 2 running, 1 queued: Table 3 is not complete\n");
    expect(output.text).toContain(
      "  tiny-zero-shot   failed         job 91_0: TIMEOUT (from scontrol), reason TimeLimit, exit code 0:15\n",
    );
    expect(output.text).toMatch(/^ {2}tiny-mind +unknown +job 91_2: the scheduler no longer knows it/m);
    expect(Number((await readFile(asked, "utf8")).split("\n").length - 1)).toBe(4);
  });

  it("a finished cell is not submitted; a failed one is, once more (its dead node's locks cleared); one still running is not", async () => {
    const { dir, tool, config, io, output } = await fixture("harness-ablate-submit-");
    Object.assign(process.env, {
      LLAMAFACTORY_CLI: await tool("llamafactory-cli", "exit 0"),
      // Job ids 77, 78, ...; the arguments of the last call kept.
      HARNESS_SBATCH: await tool(
        "sbatch",
        `n=$(cat ${dir}/n 2>/dev/null || echo 76); n=$((n+1)); echo $n > ${dir}/n; echo "$@" > ${dir}/sbatch-args; echo $n`,
      ),
      HARNESS_SQUEUE: await tool("squeue", "exit 0"),
      HARNESS_SCONTROL: await tool("scontrol", "exit 0"),
      HARNESS_SACCT: await tool("sacct", "exit 0"),
      INTENTIONQA_DIR: "",
    });
    // tiny-zero-shot finished with today's inputs.
    const plan = await planAblation({ config });
    const zeroShot = plan.cells.find((c) => c.id === "tiny-zero-shot")!;
    await mkdir(zeroShot.dir, { recursive: true });
    await writeFile(join(dir, "report.json"), "{}");
    const record = { key: zeroShot.key, status: "succeeded", report: join(dir, "report.json"), finishedAt: "x" };
    await writeFile(join(zeroShot.dir, "cell.json"), JSON.stringify(record));

    const slurmDir = join(dir, "runs", "slurm");
    expect(await submitAblation({ config, cacheDir: join(dir, "cache") }, io)).toEqual({
      jobId: "77",
      cells: ["tiny-unfiltered", "tiny-mind"],
    });
    const text = await readFile(join(slurmDir, "array-1.sbatch"), "utf8");
    expect(text).toContain("#SBATCH --array=0-1\n");
    expect(text).toContain("  0) cell=tiny-unfiltered ;;\n  1) cell=tiny-mind ;;\n");
    expect(text).toContain(`--cell "$cell" --cache-dir ${join(dir, "cache")}\n`);
    expect(await readFile(join(dir, "sbatch-args"), "utf8")).toBe(`--parsable ${join(slurmDir, "array-1.sbatch")}\n`);
    expect(output.text).toContain("submitted SLURM array job 77: 2 cell(s)\n");
    expect(output.text).toContain(`  77_1  tiny-mind  log ${join(slurmDir, "ablate-77_1.log")}\n`);

    // Task 0 still runs, task 1 failed: only tiny-mind goes again, after job 12.
    process.env.HARNESS_SQUEUE = await tool("squeue", "echo '77_0|RUNNING|None|harness-ablate'");
    process.env.HARNESS_SCONTROL = await tool(
      "scontrol",
      "echo 'JobId=79 ArrayJobId=77 ArrayTaskId=1 JobName=harness-ablate JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0'",
    );
    // The failed task's node died holding its locks; the running task's lock is its own.
    const lock = { pid: 4242, host: "node-that-died", command: "ablate", startedAt: "x", token: "t" };
    const mind = plan.cells.find((c) => c.id === "tiny-mind")!;
    const unfiltered = plan.cells.find((c) => c.id === "tiny-unfiltered")!;
    for (const d of [mind.dir, join(mind.dir, "sft"), unfiltered.dir]) {
      await mkdir(d, { recursive: true });
      await writeFile(join(d, ".harness.lock"), JSON.stringify(lock));
    }
    output.text = "";
    expect(await submitAblation({ config, slurmAfter: ["12"] }, io)).toEqual({ jobId: "78", cells: ["tiny-mind"] });
    expect(existsSync(join(mind.dir, ".harness.lock"))).toBe(false);
    expect(existsSync(join(mind.dir, "sft", ".harness.lock"))).toBe(false);
    expect(existsSync(join(unfiltered.dir, ".harness.lock"))).toBe(true);
    expect(await readFile(join(dir, "sbatch-args"), "utf8")).toBe(
      `--parsable --dependency=afterok:12 ${join(slurmDir, "array-2.sbatch")}\n`,
    );
    expect((await readSubmissions(slurmDir)).map((s) => [s.jobId, s.afterOk, s.tasks.map((t) => t.cell)])).toEqual([
      ["77", [], ["tiny-unfiltered", "tiny-mind"]],
      ["78", ["12"], ["tiny-mind"]],
    ]);

    // Both now in flight (tiny-mind as task 0 of job 78): nothing to submit.
    process.env.HARNESS_SQUEUE = await tool("squeue", "echo '77_0|RUNNING|None|x'; echo '78_0|PENDING|Dependency|x'");
    output.text = "";
    expect(await submitAblation({ config }, io)).toEqual({ jobId: null, cells: [] });
    expect(output.text).toContain("nothing to submit: every unfinished cell is still queued or running");
  });
});
