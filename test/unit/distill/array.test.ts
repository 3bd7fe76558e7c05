import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { distillArrayConfigFromFlags, distillConfigFromFlags, type DistillFlags } from "../../../harness/commands/distill.ts";
import { shardPhase } from "../../../harness/distill/array-status.ts";
import { buildArrayScript, shardFlags, type ArrayScriptOptions } from "../../../harness/distill/array.ts";
import { DISTILL_DEFAULTS, type DistillConfig } from "../../../harness/distill/defaults.ts";
import type { JobState } from "../../../harness/slurm/jobs.ts";

const config = (over: Partial<DistillConfig> = {}): DistillConfig => ({
  ...DISTILL_DEFAULTS,
  records: "data/folkscope.csv",
  model: "llava-hf/llava-1.5-13b-hf",
  out: "/scratch/run",
  ...over,
});

const options = (over: Partial<ArrayScriptOptions> = {}): ArrayScriptOptions => ({
  jobName: "harness-distill-run",
  shards: 4,
  arrayDir: "/scratch/run",
  cwd: "/home/me/project",
  harness: ["/usr/bin/node", "/opt/harness/bin/harness.js"],
  flags: shardFlags(config(), "/scratch/cache"),
  baseUrls: ["http://gpu-node:8000/v1"],
  serverPort: 8000,
  serverTimeoutS: 600,
  ...over,
});

describe("the distill array script", () => {
  it("is one array of n tasks, task i running shard i/n into shards/i-of-n with its own log", () => {
    const script = buildArrayScript(options({ extraDirectives: ["--partition=gpu", "--gres=gpu:1", "--time=12:00:00"] }));
    expect(script.split("\n").filter((l) => l.startsWith("#SBATCH"))).toEqual([
      "#SBATCH --job-name=harness-distill-run",
      "#SBATCH --array=1-4",
      "#SBATCH --ntasks=1",
      "#SBATCH --output=/scratch/run/logs/shard-%a-of-4.log",
      "#SBATCH --partition=gpu",
      "#SBATCH --gres=gpu:1",
      "#SBATCH --time=12:00:00",
    ]);
    expect(script).toContain("cd /home/me/project\n");
    expect(script).toContain('"--shard=$shard/4" --out=/scratch/run/shards/"$shard"-of-4\n');
    expect(script).toContain("--base-url=http://gpu-node:8000/v1");
    expect(script).toContain("--cache-dir=/scratch/cache --no-progress");
    expect(script).not.toContain("setsid");
  });

  it("writes every setting of the run out, and names the key's variable, never a key", () => {
    const flags = shardFlags(
      config({
        apiKeyEnv: "MY_KEY",
        textOnly: true,
        textPrompts: "image-phrased",
        padImages: false,
        concurrency: 8,
        concurrencyMode: "fixed",
      }),
      "/c",
    );
    expect(flags).toEqual([
      "--records=data/folkscope.csv",
      "--model=llava-hf/llava-1.5-13b-hf",
      "--api-key-env=MY_KEY",
      "--text-only",
      "--text-prompts=image-phrased",
      "--image-layout=stacked",
      "--no-pad-images",
      `--max-image-bytes=${DISTILL_DEFAULTS.maxImageBytes}`,
      "--temperature=0.2",
      "--max-tokens=512",
      "--concurrency=fixed:8",
      "--timeout=300",
      `--retries=${DISTILL_DEFAULTS.retries}`,
      "--cache-dir=/c",
      "--no-progress",
    ]);
  });

  it("with a server command: starts it on $PORT (port + i - 1), waits for /models with a limit, asks it, stops it on exit", () => {
    const script = buildArrayScript(options({ baseUrls: [], serverCommand: "vllm serve m --port $PORT", serverPort: 9000 }));
    expect(script).toContain("export PORT=$((9000 + shard - 1))\n");
    expect(script).toContain("setsid bash -c 'vllm serve m --port $PORT' >\"$server_log\" 2>&1 &\n");
    expect(script).toMatch(/trap '.*kill -TERM -- "-\$server_pid".*' EXIT/);
    expect(script).toContain('"$url/models"; do');
    expect(script).toContain("did not answer within 600s");
    expect(script).toContain('"--base-url=$url" "--shard=$shard/4"');
  });

  it("writes an array folder with % or blanks into --output as sbatch reads it; refuses one with a quote", () => {
    const lines = (dir: string) => buildArrayScript(options({ arrayDir: dir })).split("\n");
    expect(lines("/scratch/50%")).toContain("#SBATCH --output=/scratch/50%%/logs/shard-%a-of-4.log");
    expect(lines("/scratch/my run")).toContain('#SBATCH --output="/scratch/my run/logs/shard-%a-of-4.log"');
    expect(lines("/scratch/my run").join("\n")).toContain("--out='/scratch/my run/shards'/\"$shard\"-of-4");
    expect(() => lines('/scratch/"q"')).toThrow("cannot go into an sbatch directive");
  });

  it("refuses a directive with a line break (it would be a command of its own)", () => {
    expect(() => buildArrayScript(options({ extraDirectives: ["--time=1\ntouch /tmp/pwned"] }))).toThrow(/line break or control character/);
  });
});

describe("hostile strings in the array script", () => {
  let dir: string;
  let shims: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "distill-array-quote-"));
    shims = join(dir, "bin");
    execFileSync("mkdir", ["-p", shims, join(dir, "cwd"), join(dir, "run", "logs")]);
    // Stand-ins: "node" writes its argv, setsid writes its own; neither runs anything.
    await writeFile(join(shims, "argv"), '#!/bin/bash\nprintf \'%s\\0\' "$@" > "$ARGV_OUT"\n');
    await writeFile(join(shims, "setsid"), '#!/bin/bash\nprintf \'%s\\0\' "$@" > "$SETSID_OUT"\n');
    await chmod(join(shims, "argv"), 0o755);
    await chmod(join(shims, "setsid"), 0o755);
  });

  const hostile = fc.oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\0")),
    fc.constantFrom("$(touch pwned)", "`touch pwned`", "'; touch pwned; '", '"; touch pwned; "', "a\nb", "-x", "$HOME", "\\'"),
  );

  it("every value reaches the task's command, and the server command reaches bash -c, exactly as given; none runs", async () => {
    await fc.assert(
      fc.asyncProperty(hostile, hostile, hostile, hostile, async (records, model, url, server) => {
        const flags = shardFlags(config({ records, model, images: url }), join(dir, "cache"));
        const base = { harness: [join(shims, "argv"), "ENTRY"], flags, cwd: join(dir, "cwd"), arrayDir: join(dir, "run"), shards: 2 };
        for (const serverCommand of [undefined, server]) {
          const script = buildArrayScript(
            options({ ...base, baseUrls: [url], ...(serverCommand !== undefined ? { serverCommand, baseUrls: [] } : {}) }),
          );
          await writeFile(join(dir, "job.sh"), script);
          const env = {
            PATH: `${shims}:/usr/bin:/bin`,
            SLURM_ARRAY_TASK_ID: "2",
            ARGV_OUT: join(dir, "argv.out"),
            SETSID_OUT: join(dir, "setsid.out"),
          };
          execFileSync("bash", [join(dir, "job.sh")], { env, stdio: "pipe" });
          const argv = (await readFile(join(dir, "argv.out"), "utf8")).split("\0").slice(0, -1);
          const baseUrl = serverCommand === undefined ? `--base-url=${url}` : "--base-url=http://127.0.0.1:8001/v1";
          expect(argv).toEqual(["ENTRY", "distill", ...flags, baseUrl, "--shard=2/2", `--out=${join(dir, "run", "shards", "2-of-2")}`]);
          if (serverCommand !== undefined)
            expect((await readFile(join(dir, "setsid.out"), "utf8")).split("\0").slice(0, -1)).toEqual(["bash", "-c", server]);
        }
        expect(readdirSync(join(dir, "cwd"))).toEqual([]);
        expect(existsSync(join(dir, "pwned"))).toBe(false);
      }),
      { numRuns: 25 },
    );
  }, 60_000);
});

describe("a task of a resubmitted array", () => {
  it("removes its shard's run lock left by an earlier task (a node that died: another host), saying so", async () => {
    const dir = await mkdtemp(join(tmpdir(), "distill-array-lock-"));
    const bin = join(dir, "bin");
    execFileSync("mkdir", ["-p", bin, join(dir, "run", "shards", "1-of-2")]);
    await writeFile(join(bin, "argv"), "#!/bin/bash\nexit 0\n");
    await chmod(join(bin, "argv"), 0o755);
    const lock = join(dir, "run", "shards", "1-of-2", ".harness.lock");
    await writeFile(lock, '{"pid":4242,"host":"gpu-node-17","command":"distill","startedAt":"x","token":"t"}\n');
    await writeFile(
      join(dir, "job.sh"),
      buildArrayScript(options({ harness: [join(bin, "argv")], arrayDir: join(dir, "run"), cwd: dir, shards: 2 })),
    );
    const out = execFileSync("bash", [join(dir, "job.sh")], { env: { PATH: "/usr/bin:/bin", SLURM_ARRAY_TASK_ID: "1" }, encoding: "utf8" });
    expect(existsSync(lock)).toBe(false);
    expect(out).toContain(
      `harness distill: removing ${lock}, left by an earlier task of this array folder: {"pid":4242,"host":"gpu-node-17"`,
    );
  });
});

describe("distill --slurm's flags", () => {
  const flags = (over: Partial<DistillFlags> = {}): DistillFlags => ({
    records: "r.csv",
    model: "m",
    out: "o",
    textOnly: false,
    imageLayout: "stacked",
    padImages: true,
    maxImageBytes: DISTILL_DEFAULTS.maxImageBytes,
    temperature: 0.2,
    maxTokens: 512,
    concurrency: "16",
    timeout: 300,
    retries: 7,
    ...over,
  });

  it("array-only flags without --slurm are refused, naming the flag", () => {
    expect(() => distillConfigFromFlags(flags({ serverCommand: "vllm serve m" }))).toThrow("--server-command belongs to an array job");
    expect(() => distillConfigFromFlags(flags({ slurmDirective: ["--time=1"] }))).toThrow("--slurm-directive belongs to an array job");
  });

  it("--slurm N maps onto the array's config, the rest onto the run each task makes", () => {
    const array = distillArrayConfigFromFlags({
      ...flags(),
      slurm: 8,
      serverCommand: "x",
      serverTimeout: 60,
      slurmDirective: ["--time=1"],
    });
    expect(array).toMatchObject({
      shards: 8,
      serverCommand: "x",
      serverTimeoutMs: 60_000,
      serverPort: 8000,
      slurmDirectives: ["--time=1"],
    });
    expect(array.distill).toMatchObject({ records: "r.csv", out: "o", timeoutMs: 300_000 });
  });
});

describe("a shard's phase", () => {
  const task = (phase: JobState["phase"]): JobState => ({
    state: phase.toUpperCase(),
    phase,
    reason: null,
    exitCode: null,
    name: null,
    stdout: null,
    from: "squeue",
  });
  it("is the scheduler's while the task is queued or running, then what its folder holds", () => {
    expect(shardPhase(task("pending"), 5)).toBe("queued");
    expect(shardPhase(task("running"), 5)).toBe("running");
    expect(shardPhase(task("completed"), 5)).toBe("done");
    expect(shardPhase(null, 5)).toBe("done");
    expect(shardPhase(task("completed"), null)).toBe("failed");
    expect(shardPhase(task("failed"), null)).toBe("failed");
    expect(shardPhase(task("cancelled"), null)).toBe("cancelled");
    expect(shardPhase(null, null)).toBe("unknown");
  });
});
