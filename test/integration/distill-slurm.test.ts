import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { runHarness } from "../helpers/cli.ts";
import { slurmGate } from "../helpers/slurm-cluster.ts";
import { fakeVlm, FIXTURE_NAMES, FIXTURE_SIZES, writeFixture } from "../helpers/distill-fixtures.ts";
import { startOpenAIServer, type TestServer } from "../helpers/openai-server.ts";

/**
 * `harness distill --slurm 2` against a real scheduler: the one-node cluster of
 * .ci/slurm-cluster.sh (CI starts it; locally: `bash .ci/slurm-cluster.sh start`). The array's
 * tasks ask a fake VLM on this machine (the test's own, or one each task starts with
 * --server-command), `harness status` follows the shards, and `harness distill merge` gives the KB,
 * stats and Table-1 view of the same run without shards.
 */

const MODEL = "llava-test";
const gate = slurmGate("distill --slurm on a real scheduler", { needsLlamaFactory: false });

let work: string;
let server: TestServer;
let common: string[];
/** What the run without shards printed: the Table-1 view and the totals, then "kb: <its csv>". */
let fullSummary: string;
const at = (...parts: string[]) => join(work, ...parts);
const submitted: string[] = [];

/** Ten pairs over four products (both shards of 2 get some), each under two relations. */
const PAIRS = ["P1-P3", "P1-P4", "P2-P4", "P4-P1", "P3-P1", "P4-P2", "P2-P1"].map((pair) => {
  const [a, b] = pair.split("-") as [string, string];
  const image = (id: string) => `${id}.${FIXTURE_SIZES[id]!.format === "png" ? "png" : "jpg"}`;
  return { id_a: a, name_a: FIXTURE_NAMES[a], image_a: image(a), id_b: b, name_b: FIXTURE_NAMES[b], image_b: image(b) };
});

/** Submits `distill ... --slurm 2` into `dir` and returns the array job id. */
async function submitArray(dir: string, extra: string[]): Promise<string> {
  const result = await runHarness([...common, "--out", dir, "--slurm", "2", ...extra], { cwd: work });
  expect(result.exitCode, result.stderr).toBe(0);
  const jobId = /^submitted SLURM array job (\d+) \(2 shard\(s\)\): /m.exec(result.stdout)?.[1];
  expect(jobId, result.stdout).toBeDefined();
  submitted.push(jobId!);
  return jobId!;
}

/** `harness status --wait`: generous, the other tests of the cluster may hold its two cores. */
const waitFor = (dir: string) => runHarness(["status", dir, "--wait", "--tail", "5"], { cwd: work, timeoutMs: 840_000 });

const text = (...parts: string[]) => readFile(join(...parts), "utf8");
const json = async (...parts: string[]) => JSON.parse(await text(...parts)) as Record<string, unknown>;

/** The merged folder holds what the unsharded run wrote: the same KB, skipped records and stats. */
async function expectSameAsUnsharded(merged: string, operational: string[] = []): Promise<void> {
  const full = at("full");
  for (const file of ["mind_kb.csv", "mind_kb.jsonl", "skipped.jsonl", "stats.md", "preserve_rate.svg", "preserve_rate.vl.json"])
    expect(await text(merged, file), file).toBe(await text(full, file));
  const [a, b] = [await json(merged, "stats.json"), await json(full, "stats.json")];
  // When and how many requests (the array asked its own cache) are the run's, not the KB's.
  for (const doc of [a, b]) for (const key of ["createdAt", "requests"]) delete doc[key];
  // Settings of how the run asked (not what): the same for every row, recorded as the shards' own.
  for (const doc of [a, b]) for (const key of operational) delete (doc.config as Record<string, unknown>)[key];
  expect(a).toEqual(b);
  const [m, n] = [await json(merged, "mind_kb.meta.json"), await json(full, "mind_kb.meta.json")];
  delete m.createdAt;
  delete n.createdAt;
  expect(m).toEqual(n);
}

describe.skipIf(gate.skip)(gate.title, () => {
  beforeAll(async () => {
    gate.assertUsable();
    work = await mkdtemp(join(tmpdir(), "harness-distill-slurm-"));
    const fixture = await writeFixture(work, PAIRS);
    server = await startOpenAIServer({ chat: (body) => fakeVlm(body), models: [MODEL] });
    common = ["distill", "--records", fixture.records, "--images", fixture.images, "--model", MODEL, "--relations", "usedFor,other"];
    const full = await runHarness([...common, "--base-url", server.url, "--out", at("full"), "--cache-dir", at("c-full"), "--no-progress"]);
    expect(full.exitCode, full.stderr).toBe(0);
    fullSummary = full.stdout.replace(/^kb: .*$/m, "");
  }, 120_000);

  afterAll(async () => {
    if (submitted.length > 0) await execa("scancel", submitted, { reject: false });
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("a 2-shard array against a local fake VLM merges into the KB, stats and Table 1 of the run without shards", async () => {
    const jobId = await submitArray(at("array"), ["--base-url", server.url, "--cache-dir", at("c-array")]);
    const status = await waitFor(at("array"));
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^array job ${jobId}: 2 shard\\(s\\): 2 done, 0 running, 0 queued, 0 failed$`, "m"));
    expect(status.stdout).toMatch(/^shard 1\/2: done, \d+ row\(s\) \(task 1: COMPLETED, from (squeue|scontrol|sacct)\)$/m);
    expect(status.stdout).toMatch(/^shard 2\/2: done, \d+ row\(s\) \(task 2: COMPLETED, from (squeue|scontrol|sacct)\)$/m);
    expect(status.stdout).toContain(`next: harness distill merge ${at("array")} --out ${at("array", "kb")}`);
    // Each shard asked for its own records: the shards' rows add up to the whole run's 20.
    const rows = [...status.stdout.matchAll(/^shard \d\/2: done, (\d+) row/gm)].map((m) => Number(m[1]));
    expect(rows.every((n) => n > 0) && rows[0]! + rows[1]! === 20, status.stdout).toBe(true);

    const merged = await runHarness(["distill", "merge", at("array"), "--out", at("merged")], { cwd: work });
    expect(merged.exitCode, merged.stderr).toBe(0);
    // The same Table-1 view and totals as the run without shards.
    expect(merged.stdout.replace(/^kb: .*$/m, "")).toBe(fullSummary);
    expect(merged.stdout).toMatch(/^Total +20 +0 +20 /m);
    expect(merged.stdout).toContain(`kb: ${at("merged", "mind_kb.csv")}`);
    await expectSameAsUnsharded(at("merged"));
  }, 900_000);

  // A folder with a blank and a %: sbatch reads both in its --output directive.
  it("--server-command: each task starts its own server on $PORT, waits for it, asks it and stops it", async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const command = `exec node ${join(PROJECT_ROOT, "test", "helpers", "fake-vlm-server.mjs")} ${MODEL}`;
    await submitArray(at("served 50%"), ["--server-command", command, "--server-port", String(port), "--cache-dir", at("c-served")]);
    const status = await waitFor(at("served 50%"));
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^array job \d+: 2 shard\(s\): 2 done/m);
    for (const shard of [1, 2]) {
      const log = await text(at("served 50%", "logs", `shard-${shard}-of-2.log`));
      expect(log).toContain(`harness distill: the server answers at http://127.0.0.1:${port + shard - 1}/v1`);
      expect(await text(at("served 50%", "logs", `server-${shard}-of-2.log`))).toContain(
        `fake VLM at http://127.0.0.1:${port + shard - 1}/v1`,
      );
      // Stopped with the task: nothing answers on its port any more.
      await expect(fetch(`http://127.0.0.1:${port + shard - 1}/v1/models`)).rejects.toThrow();
    }
    const merged = await runHarness(["distill", "merge", at("served 50%"), "--out", at("merged-served")], { cwd: work });
    expect(merged.exitCode, merged.stderr).toBe(0);
    await expectSameAsUnsharded(at("merged-served"));
  }, 900_000);

  it("scancel: the shards are reported cancelled with the log tail; the same command again resumes from the cache", async () => {
    // Slow answers, one at a time per task: the array is still running when it is cancelled.
    const slow = await startOpenAIServer({ chat: (body) => fakeVlm(body), models: [MODEL], latencyMs: 1500 });
    try {
      const args = ["--base-url", slow.url, "--cache-dir", at("c-cancel"), "--concurrency", "fixed:1"];
      const jobId = await submitArray(at("cancel"), args);
      const deadline = Date.now() + 600_000;
      while (slow.chatRequests().length < 4) {
        if (Date.now() > deadline) throw new Error(`array ${jobId} asked nothing in 600s`);
        await new Promise((r) => setTimeout(r, 500));
      }
      // While it runs, the same folder is not submitted twice.
      const twice = await runHarness([...common, "--out", at("cancel"), "--slurm", "2", ...args], { cwd: work });
      expect(twice.exitCode).toBe(2);
      expect(twice.stderr).toContain(
        `its SLURM array job ${jobId} is still queued or running; follow it with \`harness status ${at("cancel")}\``,
      );
      await execa("scancel", [jobId]);
      const status = await waitFor(at("cancel"));
      expect(status.exitCode, status.stdout).toBe(1);
      expect(status.stdout).toMatch(/^shard \d\/2: cancelled: JOB \d+ ON \S+ CANCELLED AT \S+ \(task \d: CANCELLED/m);
      expect(status.stdout).toMatch(/^log of shard \d: .*shard-\d-of-2\.log \(last \d lines?\)$/m);
      expect(status.stdout).toMatch(/^ {2}.*\*\*\* JOB \d+ ON \S+ CANCELLED AT /m);
      expect(status.stdout).toContain("resubmit: the same `harness distill ... --slurm N` command");
      const asked = slow.chatRequests().length;

      await submitArray(at("cancel"), args);
      const again = await waitFor(at("cancel"));
      expect(again.exitCode, again.stdout).toBe(0);
      // What was answered before the cancel came from the shared cache; only the rest was asked.
      const requests = await Promise.all(
        [1, 2].map(
          async (i) => (await json(at("cancel", "shards", `${i}-of-2`), "stats.json")).requests as { sent: number; cacheHits: number },
        ),
      );
      expect(requests[0]!.cacheHits + requests[1]!.cacheHits).toBeGreaterThan(0);
      expect(requests[0]!.sent + requests[1]!.sent).toBe(slow.chatRequests().length - asked);
      const merged = await runHarness(["distill", "merge", at("cancel"), "--out", at("merged-cancel")], { cwd: work });
      expect(merged.exitCode, merged.stderr).toBe(0);
      await expectSameAsUnsharded(at("merged-cancel"), ["concurrency", "concurrencyMode"]);
    } finally {
      await slow.close();
    }
  }, 900_000);

  it("a server that does not come up fails its shard, reported with the reason and log tail; merge refuses the array", async () => {
    const jobId = await submitArray(at("broken"), ["--server-command", "echo 'no GPU here' >&2; exit 3", "--server-port", "31000"]);
    const status = await waitFor(at("broken"));
    expect(status.exitCode).toBe(1);
    expect(status.stderr).toContain(`harness: error: distill array: 2 shard(s) did not finish: ${at("broken")}`);
    expect(status.stdout).toMatch(new RegExp(`^array job ${jobId}: 2 shard\\(s\\): 0 done, 0 running, 0 queued, 2 failed$`, "m"));
    expect(status.stdout).toMatch(
      /^shard 1\/2: failed: FAILED, (reason \S+, )?exit code 1:0, harness distill: the server command exited before http:\/\/127\.0\.0\.1:31000\/v1\/models answered; the end of .*server-1-of-2\.log: \(task 1: FAILED/m,
    );
    expect(status.stdout).toMatch(/^log of shard 2: .*shard-2-of-2\.log \(last \d lines?\)$/m);
    expect(status.stdout).toMatch(/^ {2}no GPU here$/m);
    expect(status.stdout).toContain("resubmit: the same `harness distill ... --slurm N` command");

    const merged = await runHarness(["distill", "merge", at("broken"), "--out", at("merged-broken")], { cwd: work });
    expect(merged.exitCode).toBe(2);
    expect(merged.stderr).toContain(`distill merge: ${at("broken", "shards", "1-of-2")}: no such folder: the shard has not run yet`);
    expect(existsSync(at("merged-broken", "mind_kb.csv"))).toBe(false);
  }, 900_000);
});
