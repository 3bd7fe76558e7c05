import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { stringify } from "csv-stringify/sync";
import { expect, it } from "vitest";
import { ANNOTATE_DEFAULTS } from "../../../harness/annotate/defaults.ts";
import { runAnnotateExport, runAnnotateScore } from "../../../harness/annotate/run.ts";
import { KB_COLUMNS } from "../../../harness/kb/schema.ts";
import type { Io } from "../../../harness/util/io.ts";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";

const FLEISS = join(PROJECT_ROOT, "test", "fixtures", "annotate", "fleiss1971.csv");

/** An Io whose two streams are collected as text: the stages run without the CLI. */
function capturedIo(): { io: Io; stdout: () => string; stderr: () => string } {
  const collect = (stream: PassThrough) => {
    let text = "";
    stream.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
    });
    return () => text;
  };
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  return { io: { stdout, stderr: stderr as unknown as NodeJS.WriteStream }, stdout: collect(stdout), stderr: collect(stderr) };
}

const signalListeners = () => process.listenerCount("SIGINT") + process.listenerCount("SIGTERM");

it("runAnnotateExport(config, io): writes the sheet and prints its summary and note to the given streams", async () => {
  const dir = await mkdtemp(join(tmpdir(), "annotate-run-"));
  const rows = ["isA", "isA", "isA", "UsedFor"].map((relation, i) => {
    const row: Record<string, string> = {
      id_a: `A${i}`,
      id_b: `B${i}`,
      Product_a: `product a ${i}`,
      Product_b: `product b ${i}`,
      Relation: relation,
      product_a_desc: "",
      product_b_desc: "",
      Intention: `intention ${i}`,
      tail: "",
      Agreement: "Yes, it works.",
    };
    return KB_COLUMNS.map((c) => row[c]!);
  });
  const kb = join(dir, "kb.csv");
  writeFileSync(kb, stringify([[...KB_COLUMNS], ...rows]));
  const out = join(dir, "sheet.csv");
  const captured = capturedIo();
  const listeners = signalListeners();
  const outcome = await runAnnotateExport({ ...ANNOTATE_DEFAULTS.export, kb, out, perRelation: 2 }, captured.io);
  expect(signalListeners()).toBe(listeners);
  expect(outcome.items).toHaveLength(3);
  expect(outcome.questions).toEqual(["plausible", "typical", "filter_correct", "rationale_ok"]);
  expect(captured.stdout()).toBe(
    `3 item(s) from 4 kept row(s) in 2 relation(s), seed 42 -> ${out}\n` +
      "questions: plausible, typical, filter_correct, rationale_ok (fill one copy per annotator, or write item_id,annotator,question,label rows)\n",
  );
  expect(captured.stderr()).toBe("note: fewer eligible rows than asked in usedFor (1): all of them are in the sheet\n");
  expect(readFileSync(out, "utf8").split("\n")[0]).toMatch(/^item_id,relation,/);
});

it("runAnnotateScore(config, io): the table on stdout, or the file with a note on stderr", async () => {
  const config = { ...ANNOTATE_DEFAULTS.score, files: [FLEISS], questions: ["rating=1,2,3,4,5"] };
  const terminal = capturedIo();
  const result = await runAnnotateScore(config, terminal.io);
  expect(result.questions[0]?.agreement.fleiss?.kappa).toBeCloseTo(0.21, 2);
  expect(terminal.stdout()).toMatch(/rating .* 10 +140 +14 +0\.378 +0\.210 \(SE 0\.017\)/);
  expect(terminal.stderr()).toBe("");

  const out = join(await mkdtemp(join(tmpdir(), "annotate-run-")), "scores.json");
  const toFile = capturedIo();
  await runAnnotateScore({ ...config, format: "json", out }, toFile.io);
  expect(toFile.stdout()).toBe("");
  expect(toFile.stderr()).toBe(`wrote ${out}\n`);
  expect(JSON.parse(readFileSync(out, "utf8")).schema).toBe("intentionqa-harness/annotation-scores@1");
});
