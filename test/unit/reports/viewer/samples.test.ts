import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readViewerSamples } from "../../../../harness/reports/viewer/samples.ts";

async function samplesFile(lines: readonly string[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), "harness-viewer-samples-")), "samples.jsonl");
  await writeFile(path, `${lines.join("\n")}\n`);
  return path;
}

const current = {
  task: "understanding",
  id: "Q1",
  gold: "A",
  letters: ["A", "B", "C", "D"],
  messages: [{ role: "user", content: "q" }],
  responses: ["B"],
  parses: { official: { answer: "B", correct: 0, perSample: ["B"] } },
  latencyMs: 1,
  cached: false,
};

describe("readViewerSamples", () => {
  it("reads eval's records, and a report@1 run's one-field-per-parse records as parses", async () => {
    const legacy = {
      ...current,
      id: "Q2",
      parses: undefined,
      official: "A",
      strict: null,
      correct: 1,
      strictCorrect: 0,
      letterProbs: { A: 0.9 },
      logprobLetter: "A",
      logprobCorrect: 1,
    };
    const failed = {
      ...legacy,
      id: "Q3",
      responses: [],
      official: null,
      strict: null,
      correct: null,
      strictCorrect: null,
      error: "HTTP 500",
    };
    for (const record of [legacy, failed]) delete (record as { parses?: unknown }).parses;
    const samples = await readViewerSamples(
      await samplesFile([JSON.stringify(current), "", JSON.stringify(legacy), JSON.stringify(failed)]),
    );
    expect(samples.map((s) => s.id)).toEqual(["Q1", "Q2", "Q3"]);
    expect(samples[0]!.parses).toEqual(current.parses);
    expect(samples[1]!.parses).toEqual({
      official: { answer: "A", correct: 1 },
      strict: { answer: null, correct: 0 },
      logprob: { answer: "A", correct: 1 },
    });
    expect(samples[2]).toMatchObject({ parses: {}, error: "HTTP 500" });
  });

  it("names the file, the line and the key of a record it cannot read (exit code 2)", async () => {
    const notJson = await samplesFile([JSON.stringify(current), "{oops"]);
    await expect(readViewerSamples(notJson)).rejects.toMatchObject({
      exitCode: 2,
      message: `${notJson}:2: not valid JSON (a samples.jsonl line is one JSON object)`,
    });
    const badKey = await samplesFile([JSON.stringify({ ...current, responses: "B" })]);
    await expect(readViewerSamples(badKey)).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining(`${badKey}:1: not a sample record of \`harness eval\`: at "responses"`),
    });
  });
});
