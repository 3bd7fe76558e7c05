import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { EVAL_DEFAULTS } from "../../../harness/eval/defaults.ts";
import { runEval } from "../../../harness/eval/run.ts";
import { loadReportFile } from "../../../harness/reports/load.ts";
import { renderRunMarkdown, renderRunText } from "../../../harness/reports/run-report.ts";
import { buildTables, displayLabel, rowIdentity } from "../../../harness/reports/tables.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import { intentionqaDir } from "../../helpers/paths.ts";

/** A run with --permute-options is told apart from the official order wherever runs are shown together. */

const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
const io = { stdout: sink, stderr: sink as unknown as NodeJS.WriteStream };

async function majority(out: string, runId: string, permuteOptions?: number) {
  await runEval(
    {
      ...EVAL_DEFAULTS,
      model: ["baseline:majority"],
      task: "understanding",
      data: intentionqaDir(),
      out,
      runId,
      limit: 40,
      cache: false,
      topLogprobs: 0,
      bootstrap: 50,
      timeoutMs: 30_000,
      progress: false,
      ...(permuteOptions !== undefined ? { permuteOptions } : {}),
    },
    io,
  );
  return loadReportFile(join(out, runId, "report.json"));
}

describe("a permuted-options run beside the official order", () => {
  it("is its own row in the tables, says so in its own text, and the official run's report has no trace of it", async () => {
    const out = await mkdtemp(join(tmpdir(), "harness-order-"));
    const official = await majority(out, "official");
    const permuted = await majority(out, "permuted", 3);
    expect(official.report.config.permuteOptions).toBeUndefined();
    expect(permuted.report.config.permuteOptions).toBe(3);
    expect(rowIdentity(official.report).key).not.toBe(rowIdentity(permuted.report).key);
    expect(rowIdentity(permuted.report).table2Label).toBe("baseline:majority [options permuted, seed 3]");
    const tables = buildTables([official, permuted], { table: "2" });
    expect(tables.warnings.filter((w) => w.includes("the later one"))).toEqual([]);
    expect(tables.tables[0]!.blocks.flatMap((b) => b.rows.map(displayLabel))).toEqual([
      "baseline:majority [partial: --limit 40]",
      "baseline:majority [options permuted, seed 3] [partial: --limit 40]",
    ]);
    expect(renderRunText(permuted.report)).toMatch(/options permuted \(seed 3\)/);
    expect(renderRunMarkdown(permuted.report)).toMatch(/options shown in a seeded order: permuted \(seed 3\)/);
    expect(renderRunText(official.report)).not.toMatch(/permuted/);
  });

  it("refuses a seed that is not an integer >= 0 before reading anything", async () => {
    const out = await mkdtemp(join(tmpdir(), "harness-order-"));
    for (const bad of [-1, 0.5, Number.NaN]) {
      const run = majority(out, `bad-${bad}`, bad);
      await expect(run).rejects.toThrow(HarnessError);
      await expect(run).rejects.toThrow(/--permute-options must be an integer >= 0/);
    }
  });
});
