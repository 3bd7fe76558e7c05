import { existsSync } from "node:fs";
import { mkdtemp, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { arraySubmissionSchema } from "../../harness/ablate/array.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";
import { type CliResult, runHarness } from "../helpers/cli.ts";
import { intentionqaDir } from "../helpers/paths.ts";
import { LLAMAFACTORY_CLI, slurmGate } from "../helpers/slurm-cluster.ts";

/**
 * `harness ablate --slurm` against a real scheduler (the one-node cluster of .ci/slurm-cluster.sh):
 * a tiny two-cell ablation (zero-shot and mind on a tiny random Llama, CPU) submitted as one array
 * job, followed with `ablate --status` until both cells are done, collected into Table 3; a second
 * `--slurm` submits nothing. Skips locally without a cluster; fails in one line in CI.
 */

const VENV = join(PROJECT_ROOT, "finetune", ".venv");
const gate = slurmGate("ablate --slurm on a real scheduler", { needsLlamaFactory: true });
const env = { LLAMAFACTORY_CLI, HF_HUB_OFFLINE: "1" };
const submitted: string[] = [];

/** A KB of 16 rows in the released CSV layout: enough for the mind recipe's few training steps. */
async function writeFixtureKb(file: string): Promise<void> {
  const header = "id_a,id_b,Product_a,Product_b,Relation,product_a_desc,product_b_desc,Intention,tail,Agreement";
  const relations = ["usedFor", "can", "isA", "open"];
  const rows = Array.from({ length: 16 }, (_, i) =>
    [`A${i}`, `B${i}`, `Trail shoe ${i}`, `Wool sock ${i}`, relations[i % 4], "A light shoe.", "Warm socks."]
      .concat([`they are both used for running trail ${i}`, "running", "Yes"])
      .join(","),
  );
  await writeFile(file, `${header}\n${rows.join("\n")}\n`);
}

describe.skipIf(gate.skip)(gate.title, () => {
  afterAll(async () => {
    // Nothing of this test left in the queue, whatever failed.
    if (submitted.length > 0) await execa("scancel", submitted, { reject: false });
  });

  it("submits the unfinished cells as one array, follows them to done, collects Table 3, and submits nothing twice", async () => {
    gate.assertUsable();
    // A blank and a "%" in the path: sbatch splits directives at blanks and expands "%".
    const work = await mkdtemp(join(tmpdir(), "harness-ablate slurm 50%-"));
    await execa(join(VENV, "bin", "python"), [join(PROJECT_ROOT, "test", "helpers", "make_tiny_model.py"), join(work, "tiny")]);
    await writeFixtureKb(join(work, "kb.csv"));
    await writeFile(
      join(work, "ablation.yaml"),
      [
        "backbones:",
        "  tiny:",
        `    config: ${join(PROJECT_ROOT, "configs", "tiny-cpu.yaml")}`,
        "    model_path: tiny",
        "    max_steps: 1",
        "recipes: [zero-shot, mind]",
        "data:",
        "  kb: kb.csv",
        "eval: { tasks: understanding, decoding: official, limit: 4, concurrency: 2 }",
        "work_dir: runs",
        "reports_dir: reports",
        "",
      ].join("\n"),
    );
    // Relative paths, as a user writes them: each task must run where the config was submitted from.
    const ablate = (extra: string[]) =>
      runHarness(["ablate", "--config", "ablation.yaml", "--data", intentionqaDir(), "--cache-dir", "cache", ...extra], {
        cwd: work,
        env,
        timeoutMs: 120_000,
      });

    const first = await ablate(["--slurm"]);
    expect(first.exitCode, first.stderr).toBe(0);
    const jobId = /^submitted SLURM array job (\d+): 2 cell\(s\)$/m.exec(first.stdout)?.[1];
    expect(jobId, first.stdout).toBeDefined();
    submitted.push(jobId!);
    const manifest = arraySubmissionSchema.parse(JSON.parse(await readFile(join(work, "runs", "slurm", "array-1.json"), "utf8")));
    expect(manifest).toMatchObject({
      jobId,
      tasks: [
        { task: 0, cell: "tiny-zero-shot" },
        { task: 1, cell: "tiny-mind" },
      ],
    });
    expect(await readFile(manifest.script, "utf8")).toContain("#SBATCH --array=0-1\n");

    // `ablate --status` every few seconds, as a user would, until no cell is queued or running.
    const deadline = Date.now() + 900_000;
    let status: CliResult;
    for (;;) {
      status = await ablate(["--status"]);
      const moving = /^ {2}tiny-\S+ +(queued|running) /m.test(status.stdout);
      if (!moving) break;
      // While cells are on their way: exit 0, and the summary never calls the table complete.
      expect(status.exitCode, status.stdout + status.stderr).toBe(0);
      expect(status.stdout).toMatch(/^\d of 2 cells done, .*: Table 3 is not complete$/m);
      if (Date.now() > deadline) throw new Error(`the cells did not finish in 900s:\n${status.stdout}`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^ {2}tiny-zero-shot +done +report .*tiny-zero-shot\/report\.json$/m);
    expect(status.stdout).toMatch(/^ {2}tiny-mind +done +report /m);
    expect(status.stdout).toMatch(/^all 2 cells done: `--collect` builds Table 3$/m);
    expect(existsSync(join(work, "runs", "slurm", `ablate-${jobId}_1.log`))).toBe(true);

    const collected = await ablate(["--collect"]);
    expect(collected.exitCode, collected.stderr).toBe(0);
    // The table marks --limit rows partial itself; no cell is missing from it.
    expect(collected.stdout).not.toMatch(/^PARTIAL: /m);
    expect(collected.stdout).toContain("mind");
    expect(await readFile(join(work, "reports", "ablation.md"), "utf8")).toContain("| tiny-mind | no |");

    // Everything finished: a second --slurm submits nothing and writes no second script.
    const again = await ablate(["--slurm"]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toContain("nothing to submit: all 2 cells are finished with the same inputs");
    expect(existsSync(join(work, "runs", "slurm", "array-2.sbatch"))).toBe(false);

    // A cell whose record is gone: its task completed without a finished cell; the table says it is partial.
    const record = join(work, "runs", "cells", "tiny-mind", "cell.json");
    await rename(record, `${record}.aside`);
    const broken = await ablate(["--status"]);
    expect(broken.exitCode).toBe(1);
    expect(broken.stdout).toMatch(
      new RegExp(`^ {2}tiny-mind +failed +job ${jobId}_1: COMPLETED .*but the cell has no finished record for the current inputs$`, "m"),
    );
    expect(broken.stderr).toContain("1 cell(s) will not finish without a resubmission: tiny-mind;");
    const partial = await ablate(["--collect"]);
    expect(partial.stdout).toContain("PARTIAL: 1 of 2 cells finished; not in the table: tiny-mind\n");
    await rename(`${record}.aside`, record);
  }, 1_200_000);
});
