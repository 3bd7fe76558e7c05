/**
 * The README's "Extending the harness" lists, checked by doing it: a toy task that is only an
 * entry in the task table and a toy parse that is only an entry in the parse table go through
 * eval, the run's report, `harness report`'s loader and tables, with nothing else added.
 *
 * Only the tables are imported statically: the task is registered before the modules built from
 * the table (the report schema's enum) are first imported, as an entry in benchmark/tasks.ts is.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { registerTask } from "../../harness/benchmark/tasks.ts";
import { registerParse } from "../../harness/scoring/parses.ts";

const dir = await mkdtemp(join(tmpdir(), "harness-extending-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

const question = (id: string, gold: string, relation: string) => ({
  id,
  item_a_id: `${id}-a`,
  item_b_id: `${id}-b`,
  item_a_name: `lamp ${id}`,
  item_b_name: `bulb ${id}`,
  relation,
  assertion: "PersonX bought them because they wanted light",
  typicality: 1,
  gold_ind: gold,
  options: { A: "to read at night", B: "to cook", C: "to swim", D: "to sleep" },
});
const text = `${[question("toy-1", "A", "xWant"), question("toy-2", "C", "xIntent")].map((q) => JSON.stringify(q)).join("\n")}\n`;
await writeFile(join(dir, "toy.jsonl"), text);

const TOY = "toy";
registerTask({
  name: TOY,
  title: "Toy",
  heading: "Toy task (two questions)",
  inAll: false,
  prompt: "intention",
  file: {
    path: "data/toy/toy.jsonl",
    fileName: "toy.jsonl",
    lines: 2,
    bytes: Buffer.byteLength(text),
    sha256: createHash("sha256").update(text).digest("hex"),
  },
});

// Reads the last option letter standing alone in the response: "B" -> B, "A, no: C" -> C.
registerParse({
  name: "last-letter",
  describe: "the last option letter standing alone in the response",
  extract: ({ responses, letters }) => ({
    answer: [...responses[0]!.matchAll(/\b([A-Z])\b/g)].map((m) => m[1]!).findLast((l) => letters.includes(l)) ?? null,
  }),
});

const { runEval, parseTasks } = await import("../../harness/eval/run.ts");
const { EVAL_DEFAULTS } = await import("../../harness/eval/defaults.ts");
const { loadReports } = await import("../../harness/reports/load.ts");
const { buildTables } = await import("../../harness/reports/tables.ts");
const { renderReport } = await import("../../harness/reports/render.ts");

/** One baseline:random run of the toy task, its stdout kept. */
async function evalToy(runId: string) {
  let stdout = "";
  const io = {
    stdout: new Writable({
      write: (chunk, _encoding, done) => {
        stdout += String(chunk);
        done();
      },
    }),
    stderr: new Writable({ write: (_chunk, _encoding, done) => done() }) as unknown as NodeJS.WriteStream,
  };
  const config = { ...EVAL_DEFAULTS, task: TOY, model: ["baseline:random"], data: dir, out: join(dir, "reports"), runId, progress: false };
  const outcome = await runEval(config, io);
  return { ...outcome.reports[0]!, stdout };
}

describe("a task added as one task table entry", () => {
  it("is a --task choice, but not part of all unless the entry says so", () => {
    expect(parseTasks("toy")).toEqual(["toy"]);
    expect(parseTasks("all")).toEqual(["understanding", "utilization"]);
    expect(() => parseTasks("toys")).toThrow("expected understanding, utilization, by-relation, toy or all");
  });

  it("runs through eval with its own file, checksum, prompt and heading, and reads back into the tables", async () => {
    const { dir: runDir, report, stdout } = await evalToy("toy-task");
    expect(report.config.tasks).toEqual(["toy"]);
    const [result] = report.results;
    expect(result).toMatchObject({ task: "toy", data: { matchesRelease: true }, questions: { inFile: 2, scorable: 2, selected: 2 } });
    expect(Object.keys(result!.relations ?? {}).sort()).toEqual(["xIntent", "xWant"]);
    expect(stdout).toContain("Toy task (two questions), per relation:");
    expect(await readFile(join(runDir, "report.md"), "utf8")).toContain("## Toy task (two questions), per relation");

    const sample = JSON.parse((await readFile(join(runDir, "samples.jsonl"), "utf8")).split("\n")[0]!);
    expect(sample.messages[0].content).toBe(
      "A customer buys lamp toy-1 and bulb toy-1. What is the most likely intention for buying them?\n" +
        "A. to read at night\nB. to cook\nC. to swim\nD. to sleep\nAnswer A or B or C or D only without any other word.",
    );

    // The loader checks the report against the schema (its task enum) and the pinned checksum.
    const loaded = await loadReports([runDir]);
    const built = buildTables(loaded, { table: "2" });
    expect(built.tables[0]!.columns.map((c) => c.task)).toEqual(["toy", "toy", "toy", "toy"]);
    expect(renderReport(built, "csv").split("\n")[0]).toContain("Toy Avg");
    expect(built.warnings).toEqual([]);
  });
});

describe("a parse added as one parse table entry", () => {
  it("scores every answer, shows in the run's summary, and is a --metric choice of the tables", async () => {
    const { dir: runDir, report, stdout } = await evalToy("toy-parse");
    const avg = report.results[0]!.splits.avg!;
    // baseline:random answers one letter: the last letter is that letter, as the official parse reads it.
    expect(avg.parses["last-letter"]).toEqual({ ...avg.parses["official"], ci95: expect.any(Object) });
    expect(report.results[0]!.outcomes.every((o) => o.parses["last-letter"] === o.parses["official"])).toBe(true);
    expect(stdout).toMatch(/^toy\s+last-letter\s/m);

    const built = buildTables(await loadReports([runDir]), { table: "2", parse: "last-letter" });
    expect(built.tables[0]!.metric).toBe("last-letter");
    expect(built.tables[0]!.notes[0]).toContain("last-letter parse (the last option letter standing alone in the response)");
    expect(built.tables[0]!.blocks[0]!.rows[0]!.cells.at(-1)!.value).toBe(avg.parses["last-letter"]!.accuracy);
  });
});
