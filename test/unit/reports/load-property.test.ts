/**
 * Property tests over the report.json reader (issue 17, scope 8, for the reports class): whatever
 * bytes, JSON or damaged report it is given, `loadReportFile`/`parseReport` either return a report
 * whose numbers follow from its outcomes or throw a one-line HarnessError that starts with the
 * file's path (exit 2); never another error (which the CLI would turn into exit 70), never a hang.
 * And any edit of a stored accuracy, correct count or n that its outcomes do not give is refused,
 * naming that field. A few mutated reports go through the real CLI as well.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { loadReportFile, parseReport } from "../../../harness/reports/load.ts";
import { REPORT_SCHEMA_ID, type EvalReport } from "../../../harness/reports/schema.ts";
import { EXIT, HarnessError } from "../../../harness/util/errors.ts";
import { runHarness } from "../../helpers/cli.ts";
import { evalBaselines } from "../../helpers/reports.ts";

const PATH = "reports/x/report.json";
let dir: string;
/** A real report of `harness eval` (the majority baseline, 15 questions a task, with difficulty levels). */
let validText: string;
/** Its samples.jsonl, as eval wrote it beside the report. */
let samplesText: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "harness-report-property-"));
  const { majority } = await evalBaselines(join(dir, "runs"), { difficulty: true, limit: 15 });
  validText = await readFile(majority, "utf8");
  samplesText = await readFile(join(dirname(majority), "samples.jsonl"), "utf8");
});

/** What the reader may do with any input: return a report, or refuse it with a clear error naming the file. */
function readsOrRefuses(read: () => unknown, path = PATH): "read" | "refused" {
  try {
    read();
    return "read";
  } catch (error) {
    if (!(error instanceof HarnessError)) throw error;
    expect(error.exitCode).toBe(EXIT.usage);
    expect(error.message.startsWith(`${path}: `), error.message).toBe(true);
    expect(hasControlCharacters(error.message), error.message).toBe(false);
    return "refused";
  }
}

const hasControlCharacters = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value inside a JSON tree. */
function pathsOf(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const here = [prefix];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => pathsOf(v, [...prefix, i]))];
  if (value !== null && typeof value === "object")
    return [...here, ...Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...prefix, k]))];
  return here;
}

type Mutation =
  | { kind: "replace"; value: Json }
  | { kind: "delete" }
  | { kind: "nudge"; by: number }
  | { kind: "duplicate" }
  | { kind: "truncate"; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> }),
  fc.record({ kind: fc.constant("delete" as const) }),
  fc.record({
    kind: fc.constant("nudge" as const),
    by: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -50, max: 50, noNaN: true })),
  }),
  fc.record({ kind: fc.constant("duplicate" as const) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

/** Applies one mutation at one path; returns the report's text after it. */
function mutate(text: string, pick: number, mutation: Mutation): string {
  if (mutation.kind === "truncate") return text.slice(0, mutation.at % text.length);
  const root = JSON.parse(text) as Json;
  const paths = pathsOf(root).filter((p) => p.length > 0);
  const path = paths[pick % paths.length]!;
  let parent = root as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const key = path[path.length - 1]!;
  const value = parent[key]!;
  switch (mutation.kind) {
    case "replace":
      parent[key] = mutation.value;
      break;
    case "delete":
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case "nudge":
      parent[key] = typeof value === "number" ? value + mutation.by : mutation.by;
      break;
    case "duplicate":
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(value));
      else parent[key] = [value, structuredClone(value)];
      break;
  }
  return JSON.stringify(root);
}

describe("the report.json reader, given anything", () => {
  it("refuses arbitrary bytes with an error naming the file", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
        const file = join(dir, `bytes-${n++}.json`);
        await writeFile(file, bytes);
        try {
          await loadReportFile(file);
        } catch (error) {
          if (!(error instanceof HarnessError)) throw error;
          // "<file>: ..." or, for bytes that are not UTF-8, "<file>:<line>: ...".
          expect(error.message.startsWith(`${file}:`), error.message).toBe(true);
          expect(hasControlCharacters(error.message), error.message).toBe(false);
          expect(error.exitCode).toBe(EXIT.usage);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("refuses arbitrary text and JSON with an error naming the file", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.json({ maxDepth: 4 })), (text) => {
        expect(readsOrRefuses(() => parseReport(text, PATH))).toBe("refused");
      }),
      { numRuns: 400 },
    );
  });

  it("refuses arbitrary objects that claim the report schema", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), fc.boolean(), (object, withResults) => {
        const text = JSON.stringify({ ...object, schema: REPORT_SCHEMA_ID, ...(withResults ? { results: object["results"] ?? [] } : {}) });
        expect(readsOrRefuses(() => parseReport(text, PATH))).toBe("refused");
      }),
      { numRuns: 300 },
    );
  });

  it("reads the real report, and reads or refuses every mutation of it (never another error)", () => {
    expect(readsOrRefuses(() => parseReport(validText, PATH))).toBe("read");
    fc.assert(
      fc.property(fc.nat(), mutationArb, (pick, mutation) => {
        readsOrRefuses(() => parseReport(mutate(validText, pick, mutation), PATH));
      }),
      { numRuns: 1500 },
    );
  });

  it("refuses every edited accuracy, correct count or n, naming the field", () => {
    const report = JSON.parse(validText) as EvalReport;
    const targets = report.results.flatMap((result, r) =>
      Object.entries(result.splits).flatMap(([split, stored]) =>
        stored
          ? [
              { r, task: result.task, split, parse: undefined as string | undefined },
              ...Object.keys(stored.parses).map((parse) => ({ r, task: result.task, split, parse })),
            ]
          : [],
      ),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...targets),
        fc.constantFrom("accuracy", "correct", "n"),
        fc.integer({ min: 0, max: 5000 }),
        fc.double({ min: -200, max: 200, noNaN: true }),
        (target, field, count, percent) => {
          const copy = JSON.parse(validText) as EvalReport;
          const split = copy.results[target.r]!.splits[target.split as "avg"]!;
          let at: string;
          if (target.parse === undefined) {
            fc.pre(count !== split.n);
            split.n = count;
            // A split with n 0 is read as no split (older reports wrote empty ones so): then it is missing.
            at = `results.${target.r} (${target.task}).splits.${target.split}${count === 0 ? " is missing" : `.n is ${count}`}`;
          } else {
            const metric = split.parses[target.parse]!;
            if (field === "accuracy") {
              fc.pre(Math.abs(percent - metric.accuracy) > 0.006);
              metric.accuracy = percent;
            } else {
              fc.pre(count !== metric[field as "n" | "correct"]);
              metric[field as "n" | "correct"] = count;
            }
            at = `results.${target.r} (${target.task}).splits.${target.split}.parses.${target.parse}.${field} is`;
          }
          const text = JSON.stringify(copy);
          expect(() => parseReport(text, PATH)).toThrow(HarnessError);
          try {
            parseReport(text, PATH);
          } catch (error) {
            expect((error as Error).message).toContain(`${PATH}: ${at}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads or refuses a run folder whose samples.jsonl was mutated, naming the report or the samples file", async () => {
    const lines = samplesText.trimEnd().split("\n");
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), mutationArb, async (line, pick, mutation) => {
        const run = join(dir, `run-${n++}`);
        await mkdir(run, { recursive: true });
        const changed = [...lines];
        const at = line % changed.length;
        changed[at] = mutate(changed[at]!, pick, mutation);
        await writeFile(join(run, "report.json"), validText);
        await writeFile(join(run, "samples.jsonl"), `${changed.join("\n")}\n`);
        try {
          await loadReportFile(join(run, "report.json"));
        } catch (error) {
          if (!(error instanceof HarnessError)) throw error;
          expect(error.exitCode).toBe(EXIT.usage);
          expect(
            error.message.startsWith(`${join(run, "report.json")}: `) || error.message.startsWith(`${join(run, "samples.jsonl")}:`),
            error.message,
          ).toBe(true);
          expect(hasControlCharacters(error.message), error.message).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("through the CLI, mutated reports exit 0 or 2 with one line, never 70", { timeout: 120_000 }, async () => {
    const cases = fc.sample(fc.tuple(fc.nat(), mutationArb), { numRuns: 6, seed: 17 });
    for (const [i, [pick, mutation]] of cases.entries()) {
      const file = join(dir, `mutated-${i}.json`);
      await writeFile(file, mutate(validText, pick, mutation));
      const result = await runHarness(["report", file], { env: { HARNESS_CACHE_DIR: join(dir, "cache") } });
      expect([EXIT.ok, EXIT.usage], result.stderr).toContain(result.exitCode);
      expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
      if (result.exitCode === EXIT.usage) expect(result.stderr).toContain(`harness: error: ${file}: `);
    }
  });
});
