import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadReports, parseReport } from "../../../harness/reports/load.ts";
import { HarnessError } from "../../../harness/util/errors.ts";
import { evalBaselines, readReport, writeVariant } from "../../helpers/reports.ts";

let dir: string;
let valid: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "harness-load-"));
  valid = (await evalBaselines(join(dir, "runs"))).random;
});

async function loadError(paths: string[]): Promise<HarnessError> {
  try {
    await loadReports(paths);
  } catch (error) {
    if (error instanceof HarnessError) return error;
    throw error;
  }
  throw new Error("expected an error");
}

describe("loadReports", () => {
  it("names the file when it is not JSON", async () => {
    const file = join(dir, "broken.json");
    await writeFile(file, "{ not json");
    const error = await loadError([file]);
    expect(error.message).toMatch(new RegExp(`^${file}: not a harness report: not valid JSON`));
    expect(error.exitCode).toBe(2);
  });

  it("names the file when it is some other JSON", async () => {
    const file = join(dir, "package.json");
    await writeFile(file, JSON.stringify({ name: "x" }));
    expect((await loadError([file])).message).toBe(
      `${file}: not a harness report: "schema" is missing, expected "intentionqa-harness/report@2" or an earlier "intentionqa-harness/report@1" (the report.json that \`harness eval\` writes)`,
    );
  });

  it("names the first failing key of a damaged report", async () => {
    const report = JSON.parse(JSON.stringify(await readReport(valid)));
    report.results[0].splits.avg.parses.official.accuracy = "high";
    const file = join(dir, "damaged.json");
    await writeFile(file, JSON.stringify(report));
    expect((await loadError([file])).message).toMatch(
      new RegExp(`^${file}: not a valid harness report: at "results\\.0\\.splits\\.avg\\.parses\\.official\\.accuracy": `),
    );
  });

  it("reads a report saved with a BOM, and names the line of bytes that are not UTF-8", async () => {
    const text = await readFile(valid, "utf8");
    const withBom = join(dir, "bom.json");
    await writeFile(withBom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]));
    expect((await loadReports([withBom]))[0]!.report.schema).toBe("intentionqa-harness/report@2");
    const mangled = join(dir, "latin1.json");
    await writeFile(mangled, Buffer.concat([Buffer.from(text.replace(/\n/, "\n\n")), Buffer.from([0xe9])]));
    const error = await loadError([mangled]);
    expect(error.message).toMatch(new RegExp(`^${mangled}:\\d+: not valid UTF-8 text`));
    expect(error.exitCode).toBe(2);
  });

  it("says so for a missing path and for a folder without reports", async () => {
    expect((await loadError([join(dir, "nope.json")])).message).toMatch(/nope\.json: cannot read report/);
    const empty = join(dir, "empty");
    await mkdir(empty);
    expect((await loadError([empty])).message).toBe(`${empty}: no report.json in this directory or below it`);
  });

  it("accepts a run folder, and treats an empty split written as null as missing", async () => {
    const report = JSON.parse(JSON.stringify(await readReport(valid)));
    report.results[0].splits.hard = {
      n: 0,
      official: { correct: 0, accuracy: null, ci95: { low: null, high: null } },
      strict: { correct: 0, accuracy: null, ci95: { low: null, high: null } },
      unreadable: { count: 0, share: 0 },
    };
    const parsed = parseReport(JSON.stringify(report), "x.json");
    expect(parsed.results[0]!.splits.hard).toBeUndefined();
    const [fromFolder] = await loadReports([join(dir, "runs", "random")]);
    expect(fromFolder!.path).toBe(valid);
  });

  it("shows an old report's server URL without the password it was written with", async () => {
    const file = await writeVariant(valid, join(dir, "old-url"), (report) => {
      report.backend.baseUrl = "http://alice:hunter2-secret@gpu-node:8000/v1";
      report.backend.id = "openai:m@http://alice:hunter2-secret@gpu-node:8000/v1";
    });
    const [loaded] = await loadReports([file]);
    expect(JSON.stringify(loaded)).not.toContain("hunter2-secret");
    expect(loaded!.report.backend.baseUrl).toBe("http://alice:[REDACTED]@gpu-node:8000/v1");
  });
});

describe("stored Wilson intervals", () => {
  it("are recomputed from correct of n on load, like the accuracies", async () => {
    const report = JSON.parse(JSON.stringify(await readReport(valid)));
    const official = report.results[0].splits.avg.parses.official;
    expect(official.ciMethod).toBe("wilson");
    official.ci95 = { low: official.ci95.low - 1, high: official.ci95.high };
    const file = join(dir, "wilson-edited.json");
    await writeFile(file, JSON.stringify(report));
    expect((await loadError([file])).message).toContain(
      `results.0 (understanding).splits.avg.parses.official.ci95 is ${official.ci95.low}–${official.ci95.high} but the Wilson interval of ${official.correct} of ${official.n} is`,
    );
  });
});
