import { describe, expect, it } from "vitest";
import type { ViewerData } from "../../../../harness/reports/viewer/data.ts";
import { viewerPage } from "../../../../harness/reports/viewer/viewer.ts";

const FIXTURE = "test/fixtures/reports/report-v1-7711ae2.json";

describe("viewerPage", () => {
  it("shows a report@1 file without its samples from its outcomes, migrated to named parses", async () => {
    const page = await viewerPage([FIXTURE], "official");
    const data = JSON.parse(/<script type="application\/json" id="viewer-data">([\s\S]*?)<\/script>/.exec(page)![1]!) as ViewerData;
    expect(data.runs).toHaveLength(1);
    expect(data.runs[0]!.samples).toBe(false);
    expect(data.parses[0]).toBe("official");
    expect(data.questions).toHaveLength(60); // 30 a task
    expect(data.questions.every((q) => q.answers[0]!.prompt === null && q.answers[0]!.outcomes["official"] !== undefined)).toBe(true);
  });

  it("refuses a parse the report lacks, naming the file", async () => {
    await expect(viewerPage([FIXTURE], "logprob")).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining(`${FIXTURE}: has no "logprob" parse`),
    });
  });
});
