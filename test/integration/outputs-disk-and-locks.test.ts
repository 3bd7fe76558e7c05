/**
 * Outputs under real pressure (issue 17, scope 1): a full disk (a real, tiny tmpfs) is one line
 * naming the file, exit 1, no temp file, nothing finished-looking, and a rerun completes from the
 * request cache; two runs started at once into one run folder do not both succeed; Ctrl-C removes
 * the lock. Mounting needs root: without it the full-disk tests are skipped, saying why.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUN_LOCK_FILE } from "../../harness/util/run-lock.ts";
import { filesUnder } from "../helpers/bad-input-table.ts";
import { evalAgainst, runHarness, spawnHarness } from "../helpers/cli.ts";
import { distillFixtureArgs, fakeVlm, writeFixture } from "../helpers/distill-fixtures.ts";
import { startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

let root = "";
let server: TestServer;
const mounts: string[] = [];

/** A tmpfs of `kib` KiB at `dir`: a real file system that fills up. */
function tinyDisk(dir: string, kib: number): void {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k`, "tmpfs", dir]);
  mounts.push(dir);
}

function canMount(): string | null {
  const probe = join(tmpdir(), `harness-mount-probe-${process.pid}`);
  try {
    mkdirSync(probe, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return null;
  } catch {
    return "mounting a tmpfs is not permitted here (needs root): the full-disk tests are skipped";
  } finally {
    execFileSync("rm", ["-rf", probe]);
  }
}
const noMount = canMount();
if (noMount) console.warn(noMount);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "harness-outputs-"));
  server = await startOpenAIServer({
    models: ["test-model", "slow-model", "hang", "llava-test"],
    latencyMs: 0,
    chat: (body) => {
      if (body["model"] === "hang") return { hang: true };
      // Slow enough that two runs started together overlap.
      if (body["model"] === "slow-model") return new Promise((resolve) => setTimeout(() => resolve("A"), 100));
      if (body["model"] === "llava-test") return fakeVlm(body);
      return "A";
    },
  });
});

afterAll(async () => {
  for (const dir of mounts.reverse()) execFileSync("umount", ["-l", dir]);
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** What every full-disk failure must look like: one line naming the path, exit 1, no stack, nothing left. */
async function expectFullDiskFailure(result: { exitCode: number; stderr: string }, disk: string): Promise<void> {
  expect(result.exitCode, result.stderr).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`harness: error: cannot write ${disk}/\\S+: no space left on the device`));
  expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(result.stderr).not.toContain("unexpected error");
  const left = await filesUnder(disk);
  expect(
    left.filter((f) => f.endsWith(".tmp")),
    "temp files",
  ).toEqual([]);
  expect(
    left.filter((f) => /(report\.json|mind_kb\.(csv|jsonl)|dataset_info\.json)$/.test(f)),
    "finished-looking files",
  ).toEqual([]);
  expect(left.filter((f) => f.endsWith(RUN_LOCK_FILE))).toEqual([]);
}

describe.skipIf(noMount !== null)("a full disk", () => {
  it("eval: a report that does not fit is one line; the rerun elsewhere answers from the cache", async () => {
    const disk = join(root, "eval-disk");
    tinyDisk(disk, 8);
    const cache = join(root, "eval-cache");
    const args = [...evalAgainst(server.url, disk, cache), "--task", "understanding", "--limit", "60", "--run-id", "r"];
    const result = await runHarness(args);
    await expectFullDiskFailure(result, disk);
    const asked = server.chatRequests().length;
    const rerun = await runHarness(args.map((a) => (a === disk ? join(root, "eval-roomy") : a)));
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(server.chatRequests().length, "the rerun asks nothing again").toBe(asked);
  });

  it("eval: a request cache that fills up is one line; after space is freed the rerun completes", async () => {
    const cache = join(root, "cache-disk");
    tinyDisk(cache, 8);
    const out = join(root, "cache-out");
    const args = [...evalAgainst(server.url, out, cache), "--task", "understanding", "--limit", "60", "--run-id", "r"];
    const result = await runHarness(args);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`harness: error: cannot write ${cache}/requests/\\S+\\.jsonl: no space left on the device`));
    expect(result.stderr).not.toContain("unexpected error");
    expect(existsSync(join(out, "r", "report.json"))).toBe(false);
    execFileSync("mount", ["-o", "remount,size=4096k", cache]);
    const rerun = await runHarness(args);
    expect(rerun.exitCode, rerun.stderr).toBe(0);
    expect(existsSync(join(out, "r", "report.json"))).toBe(true);
  });

  it("distill: a KB that does not fit leaves no KB and no temp file", async () => {
    const disk = join(root, "distill-disk");
    tinyDisk(disk, 4);
    const fixture = await writeFixture(join(root, "distill-in"));
    const result = await runHarness(distillFixtureArgs(fixture, server.url, { out: disk, cache: join(root, "distill-cache") }, "all"));
    await expectFullDiskFailure(result, disk);
  });

  it("annotate export: a sheet that does not fit is one line and no file", async () => {
    const disk = join(root, "annotate-disk");
    tinyDisk(disk, 4);
    const kb = join(root, "annotate-kb.jsonl");
    const rows = Array.from({ length: 400 }, (_, i) =>
      JSON.stringify({
        id_a: `A${i}`,
        id_b: `B${i}`,
        Product_a: "Shoe",
        Product_b: "Sock",
        Relation: "usedFor",
        product_a_desc: "a shoe",
        product_b_desc: "a sock",
        Intention: `they are both used for running, reason number ${i}`,
        tail: "because",
        Agreement: "Yes",
      }),
    );
    await writeFile(kb, `${rows.join("\n")}\n`);
    const result = await runHarness(["annotate", "export", "--kb", kb, "--out", join(disk, "sheet.csv")]);
    await expectFullDiskFailure(result, disk);
    expect(await readdir(disk)).toEqual([]);
  });
});

describe("one writer per run folder", () => {
  it("two evals started at once with one --run-id: one runs, the other says which run holds the folder", async () => {
    const out = join(root, "race");
    const args = (cache: string) => [
      ...evalAgainst(server.url, out, join(root, cache)).map((a) => (a === "openai:test-model" ? "openai:slow-model" : a)),
      ...["--task", "understanding", "--limit", "40", "--concurrency", "1", "--run-id", "same"],
    ];
    const children = [spawnHarness(args("race-cache-a")), spawnHarness(args("race-cache-b"))];
    const pids = children.map((child) => child.pid);
    const results = (await Promise.all(children)).map((r, i) => ({ ...r, pid: pids[i] }));
    results.sort((x, y) => (x.exitCode ?? -1) - (y.exitCode ?? -1));
    expect(
      results.map((r) => r.exitCode),
      results.map((r) => r.stderr).join("\n"),
    ).toEqual([0, 1]);
    const winner = results[0]!;
    expect(String(results[1]!.stderr)).toMatch(
      new RegExp(
        `harness: error: --out/--run-id ${out}/same: another run is writing there \\(pid ${winner.pid} on .*harness eval.*started `,
      ),
    );
    expect(existsSync(join(out, "same", "report.json"))).toBe(true);
    expect(existsSync(join(out, "same", RUN_LOCK_FILE))).toBe(false);
  });

  it("Ctrl-C removes the lock", async () => {
    const out = join(root, "interrupted");
    const child = spawnHarness([
      ...evalAgainst(server.url, out, join(root, "int-cache")).map((a) => (a === "openai:test-model" ? "openai:hang" : a)),
      ...["--task", "understanding", "--limit", "2", "--run-id", "r"],
    ]);
    const lock = join(out, "r", RUN_LOCK_FILE);
    const asked = () => server.requests.some((r) => r.body?.["model"] === "hang");
    for (let i = 0; i < 300 && !asked(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(existsSync(lock), "the running eval holds the lock").toBe(true);
    child.kill("SIGINT");
    const result = await child;
    expect(result.exitCode, String(result.stderr)).toBe(130);
    expect(existsSync(lock)).toBe(false);
  });
});
