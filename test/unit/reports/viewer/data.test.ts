import { describe, expect, it } from "vitest";
import { reportSchema, type EvalReport, type QuestionOutcome } from "../../../../harness/reports/schema.ts";
import { buildViewerData, flipBetween, outcomeOf } from "../../../../harness/reports/viewer/data.ts";
import type { ViewerRunInput, ViewerSample } from "../../../../harness/reports/viewer/samples.ts";

/** A report as eval writes it, with these outcomes (the viewer reads only ids, levels, relations and parses). */
function report(runId: string, outcomes: Record<string, QuestionOutcome[]>): EvalReport {
  return reportSchema.parse({
    schema: "intentionqa-harness/report@2",
    runId,
    createdAt: "2026-01-01T00:00:00.000Z",
    status: "complete",
    harness: { version: "0.1.0", gitCommit: null, protocolVersion: "intentionqa-1" },
    backend: { id: `baseline:${runId}`, kind: "baseline", model: runId },
    labels: {},
    config: {
      tasks: Object.keys(outcomes),
      mode: "zero-shot",
      decoding: { maxTokens: 10, temperature: 0.1, samples: 1 },
      topLogprobs: 0,
      seed: 0,
      limit: null,
      ids: null,
      concurrency: 1,
      timeoutMs: 1000,
      maxAttempts: 1,
      bootstrapResamples: 10,
      cache: false,
    },
    data: { dir: "d", origin: "--data" },
    requests: { sent: 0, cacheHits: 0, retries: 0, failures: 0 },
    wallTimeMs: 0,
    results: Object.entries(outcomes).map(([task, list]) => ({
      task,
      data: { file: "f", sha256: "x", matchesRelease: false },
      questions: { inFile: list.length, scorable: list.length, selected: list.length, apiErrors: 0 },
      difficulty: { kind: "none", approximate: false, description: "" },
      splits: {},
      outcomes: list,
    })),
  });
}

const sample = (task: string, id: string, fields: Partial<ViewerSample> = {}): ViewerSample => ({
  task,
  id,
  gold: "A",
  letters: ["A", "B", "C", "D"],
  messages: [{ role: "user", content: `question ${id}` }],
  responses: ["A"],
  parses: { official: { answer: "A", correct: 1 } },
  ...fields,
});

const run = (path: string, r: EvalReport, samples: ViewerSample[] | null): ViewerRunInput => ({ path, report: r, samples });

describe("outcomeOf and flipBetween", () => {
  it("reads a score and a letter as right, wrong, unreadable or an API error", () => {
    expect(outcomeOf(1, "A")).toBe("right");
    expect(outcomeOf(0, "B")).toBe("wrong");
    expect(outcomeOf(0, null)).toBe("unreadable");
    expect(outcomeOf(null, undefined)).toBe("error");
    // Without samples the letter is unknown: a miss is counted wrong.
    expect(outcomeOf(0, undefined)).toBe("wrong");
  });

  it("flips right to not-right and back, never through a missing or failed answer", () => {
    expect(flipBetween("right", "wrong")).toBe("lost");
    expect(flipBetween("right", "unreadable")).toBe("lost");
    expect(flipBetween("unreadable", "right")).toBe("gained");
    expect(flipBetween("wrong", "right")).toBe("gained");
    expect(flipBetween("wrong", "unreadable")).toBeNull();
    expect(flipBetween("right", "right")).toBeNull();
    expect(flipBetween("right", "error")).toBeNull();
    expect(flipBetween(undefined, "right")).toBeNull();
  });
});

describe("buildViewerData", () => {
  const a = report("run", {
    understanding: [
      { id: "Q1", level: "easy", relation: "xIntent", parses: { official: 1, strict: 1 } },
      { id: "Q2", level: "hard", parses: { official: 0, strict: 0 } },
      { id: "Q3", parses: { official: null, strict: null } },
    ],
  });
  const b = report("run", {
    understanding: [
      { id: "Q1", level: "easy", relation: "xIntent", parses: { official: 0, strict: 0 } },
      { id: "Q2", level: "hard", parses: { official: 1, strict: 1 } },
    ],
    utilization: [{ id: "Q1", parses: { official: 1, strict: 1 } }],
  });
  const samplesA = [
    sample("understanding", "Q1", {
      parses: { official: { answer: "A", correct: 1 }, strict: { answer: "A", correct: 1 } },
      letterProbs: { A: 0.7, B: 0.3 },
    }),
    sample("understanding", "Q2", {
      responses: ["I cannot tell"],
      parses: { official: { answer: "B", correct: 0 }, strict: { answer: null, correct: 0 } },
    }),
    sample("understanding", "Q3", { responses: [], parses: {}, error: "HTTP 500: boom" }),
  ];
  const data = buildViewerData([run("a/report.json", a, samplesA), run("b/report.json", b, null)], "strict");

  it("keeps every question of every run once, keyed by task and id, each with every run's answer", () => {
    expect(data.questions.map((q) => `${q.task}/${q.id}`)).toEqual([
      "understanding/Q1",
      "understanding/Q2",
      "understanding/Q3",
      "utilization/Q1",
    ]);
    expect(data.questions[2]!.answers[1]).toBeNull();
    expect(data.questions[3]!.answers[0]).toBeNull();
    expect(data.tasks).toEqual(["understanding", "utilization"]);
    expect(data.relations).toEqual(["xIntent"]);
    expect(data.levels).toEqual(["easy", "hard"]);
    expect(data.parses).toEqual(["strict", "official"]);
  });

  it("shows each parse's reading and outcome, the raw answers, probabilities, gold and errors", () => {
    const q2 = data.questions[1]!;
    expect(q2.gold).toBe("A");
    expect(q2.letters).toEqual(["A", "B", "C", "D"]);
    expect(q2.answers[0]).toMatchObject({
      responses: ["I cannot tell"],
      readings: { official: "B", strict: null },
      outcomes: { official: "wrong", strict: "unreadable" },
    });
    expect(data.texts[q2.answers[0]!.prompt!]).toBe("user:\nquestion Q2");
    expect(data.questions[0]!.answers[0]!.probs).toEqual({ A: 0.7, B: 0.3 });
    expect(data.questions[2]!.answers[0]).toMatchObject({ error: "HTTP 500: boom", outcomes: { official: "error" } });
  });

  it("shows a run without samples from its outcomes alone, and says so", () => {
    expect(data.runs.map((r) => r.samples)).toEqual([true, false]);
    expect(data.questions[1]!.answers[1]).toEqual({
      prompt: null,
      responses: [],
      readings: {},
      outcomes: { official: "right", strict: "right" },
    });
    expect(flipBetween(data.questions[1]!.answers[0]!.outcomes["strict"], data.questions[1]!.answers[1]!.outcomes["strict"])).toBe(
      "gained",
    );
    expect(flipBetween(data.questions[0]!.answers[0]!.outcomes["strict"], data.questions[0]!.answers[1]!.outcomes["strict"])).toBe("lost");
  });

  it("names two runs with the same id by their paths, and embeds a prompt shared by runs once", () => {
    expect(data.runs.map((r) => r.name)).toEqual(["run (a/report.json)", "run (b/report.json)"]);
    const twice = buildViewerData(
      [
        run("x/report.json", report("x", { understanding: [{ id: "Q1", parses: { official: 1 } }] }), [sample("understanding", "Q1")]),
        run("y/report.json", report("y", { understanding: [{ id: "Q1", parses: { official: 1 } }] }), [sample("understanding", "Q1")]),
      ],
      "official",
    );
    expect(twice.runs.map((r) => r.name)).toEqual(["x", "y"]);
    expect(twice.texts).toEqual(["user:\nquestion Q1"]);
    expect(twice.questions[0]!.answers.map((answer) => answer!.prompt)).toEqual([0, 0]);
  });

  it("shows an image part of a prompt as [image], never its URL", () => {
    const withImage = sample("understanding", "Q1", {
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "look" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          ],
        },
      ],
    });
    const built = buildViewerData(
      [run("r/report.json", report("r", { understanding: [{ id: "Q1", parses: { official: 1 } }] }), [withImage])],
      "official",
    );
    expect(built.texts).toEqual(["user:\nlook\n[image]"]);
  });
});
