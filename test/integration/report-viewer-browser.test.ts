import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium } from "../helpers/chromium.ts";
import { evalBaselines } from "../helpers/reports.ts";
import { runHarness } from "../helpers/cli.ts";

const available = chromiumAvailable("the viewer browser test");

const HOSTILE = `</script><img src=x onerror="window.__pwned=1"><!-- <script>window.__pwned=2</script>`;

interface Sample {
  task: string;
  id: string;
  relation?: string;
  level?: string;
  responses: string[];
  parses: Record<string, { answer: string | null; correct: 0 | 1 }>;
  error?: string;
}

async function readSamples(report: string): Promise<Sample[]> {
  const text = await readFile(join(dirname(report), "samples.jsonl"), "utf8");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Sample);
}

/** Plants hostile text where a server or a user could put it: an answer, a prompt, the run id. */
async function plantHostile(report: string): Promise<string> {
  const samples = await readSamples(report);
  const target = samples.find((s) => s.task === "utilization")!;
  target.responses = [`${target.responses[0]} ${HOSTILE}`];
  (target as unknown as { messages: Array<{ content: string }> }).messages[0]!.content += HOSTILE;
  await writeFile(join(dirname(report), "samples.jsonl"), `${samples.map((s) => JSON.stringify(s)).join("\n")}\n`);
  const data = JSON.parse(await readFile(report, "utf8")) as { runId: string };
  data.runId = `random ${HOSTILE}`;
  await writeFile(report, JSON.stringify(data));
  return target.id;
}

const key = (s: Pick<Sample, "task" | "id">) => `${s.task}/${s.id}`;
const scored = (s: Sample | undefined) => s !== undefined && s.error === undefined && s.parses["official"] !== undefined;

/** The ids of the rows shown, as task/id, after showing every page. */
async function shownIds(tab: Page): Promise<string[]> {
  while (await tab.locator("#more").isVisible()) await tab.click("#more");
  return tab.$$eval("details.q", (rows: Array<{ getAttribute(name: string): string | null }>) =>
    rows.map((row) => `${row.getAttribute("data-task")}/${row.getAttribute("data-id")}`),
  );
}

async function count(tab: Page): Promise<string> {
  return (await tab.locator("#count").textContent()) ?? "";
}

describe.skipIf(!available)("the per-question viewer in a real headless Chromium", () => {
  let page: string;
  let samples: { a: Sample[]; b: Sample[] };
  let hostileId: string;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-viewer-"));
    // Both tasks and the by-relation task: 6360 questions a run, two runs with different answers.
    const files = await evalBaselines(join(dir, "runs"), { task: "all,by-relation", difficulty: true });
    hostileId = await plantHostile(files.random);
    // The runs folder as a user names it: its runs in path order, so A is majority and B random.
    samples = { a: await readSamples(files.majority), b: await readSamples(files.random) };
    page = join(dir, "viewer.html");
    const result = await runHarness(["report", join(dir, "runs"), "--format", "viewer", "--out", page]);
    expect(result.exitCode, result.stderr).toBe(0);
  }, 300_000);

  it("filters to one relation's wrong answers, searches, lists the flips, and runs nothing it shows", async () => {
    const context = await launchChromium();
    try {
      const requested: string[] = [];
      const dialogs: string[] = [];
      context.on("request", (request) => requested.push(request.url()));
      const tab = await context.newPage();
      tab.on("dialog", (dialog) => {
        dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      const url = pathToFileURL(page).href;
      expect((await tab.goto(url, { waitUntil: "load" }))?.ok()).toBe(true);
      await expect.poll(() => count(tab)).toBe(`${samples.a.length} of ${samples.a.length} questions`);

      // Wrong answers of run A in one relation, against a count made from samples.jsonl directly.
      const relation = "capableOf";
      const wrong = samples.a
        .filter((s) => s.relation === relation && s.parses["official"]?.correct === 0 && s.parses["official"]?.answer !== null)
        .map(key);
      expect(wrong.length).toBeGreaterThan(5);
      await tab.selectOption("#relation", relation);
      await tab.selectOption("#outcome", "wrong");
      await expect.poll(() => count(tab)).toBe(`${wrong.length} of ${samples.a.length} questions`);
      expect(await shownIds(tab)).toEqual(wrong);
      expect(await tab.locator("details.q .side-a[data-outcome='wrong']").count()).toBe(wrong.length);

      // Difficulty: one task's hard questions.
      await tab.selectOption("#relation", "");
      await tab.selectOption("#outcome", "");
      await tab.selectOption("#task", "understanding");
      await tab.selectOption("#level", "hard");
      const hard = samples.a.filter((s) => s.task === "understanding" && s.level === "hard").map(key);
      expect(hard.length).toBeGreaterThan(5);
      await expect.poll(() => count(tab)).toBe(`${hard.length} of ${samples.a.length} questions`);
      expect(await tab.locator("#ids").textContent()).toBe(hard.join("\n"));
      await tab.selectOption("#task", "");
      await tab.selectOption("#level", "");

      // Flips between the runs (A majority, B random): right -> wrong and wrong -> right.
      const b = new Map(samples.b.map((s) => [key(s), s]));
      const flips = (from: 0 | 1) =>
        samples.a
          .filter((s) => scored(s) && scored(b.get(key(s))))
          .filter((s) => s.parses["official"]!.correct === from && b.get(key(s))!.parses["official"]!.correct !== from)
          .map(key);
      const lost = flips(1);
      const gained = flips(0);
      expect(lost.length).toBeGreaterThan(0);
      expect(gained.length).toBeGreaterThan(0);
      await expect
        .poll(() => tab.locator("#flips").textContent())
        .toBe(`Flips from A to B (official, all questions): ${lost.length} right → wrong, ${gained.length} wrong → right`);
      await tab.selectOption("#flip", "lost");
      await expect.poll(() => count(tab)).toBe(`${lost.length} of ${samples.a.length} questions`);
      expect(await shownIds(tab)).toEqual(lost);
      expect(await tab.locator("#ids").textContent()).toBe(lost.join("\n"));
      await tab.selectOption("#flip", "gained");
      await tab.selectOption("#relation", relation);
      const gainedInRelation = gained.filter((k) => samples.a.find((s) => key(s) === k)!.relation === relation);
      await expect.poll(() => count(tab)).toBe(`${gainedInRelation.length} of ${samples.a.length} questions`);
      expect(await shownIds(tab)).toEqual(gainedInRelation);

      // Search finds the answer text; the hostile strings are shown as text and never run.
      await tab.selectOption("#flip", "");
      await tab.selectOption("#relation", "");
      await tab.fill("#search", 'onerror="window.__pwned=1"');
      await expect.poll(() => count(tab)).toBe(`1 of ${samples.a.length} questions`);
      expect(await shownIds(tab)).toEqual([`utilization/${hostileId}`]);
      await tab.click("details.q > summary");
      const answer = tab.locator("details.q pre.response").nth(1);
      expect(await answer.textContent()).toContain(HOSTILE);
      expect(await tab.locator("details.q h3").nth(1).textContent()).toContain(HOSTILE);
      await tab.locator("details.q details.prompt > summary").nth(1).click();
      expect(await tab.locator("details.q details.prompt pre").nth(1).textContent()).toContain(HOSTILE);
      expect(await tab.locator("#run-b option").nth(2).textContent()).toContain(HOSTILE);
      expect(await tab.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await tab.locator("img").count()).toBe(0);
      expect(await tab.locator("script").count()).toBe(2);
      expect(dialogs).toEqual([]);
      expect(requested).toEqual([url]);
    } finally {
      await context.close();
    }
  }, 180_000);
});

describe("report --format viewer on the command line", () => {
  it("refuses the table flags, no runs, and a parse a report lacks, naming what is wrong", async () => {
    const dir = await mkdtemp(join(tmpdir(), "harness-viewer-cli-"));
    const files = await evalBaselines(dir, { task: "understanding", limit: 20 });
    const gap = await runHarness(["report", files.random, "--format", "viewer", "--gap"]);
    expect(gap.exitCode).toBe(2);
    expect(gap.stderr).toContain("--format viewer shows your runs' questions: --published and --gap apply to the tables");
    const none = await runHarness(["report", "--published", "--format", "viewer"]);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain("--format viewer needs report files or run folders");
    const nothing = await runHarness(["report", "--format", "viewer"]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain("--format viewer needs report files or run folders");
    const logprob = await runHarness(["report", files.random, "--format", "viewer", "--metric", "logprob"]);
    expect(logprob.exitCode).toBe(2);
    expect(logprob.stderr).toContain(`${files.random}: has no "logprob" parse`);
    // Without --out the page goes to stdout, its data block holding the run's 20 questions.
    const page = await runHarness(["report", files.random, "--format", "viewer"]);
    expect(page.exitCode, page.stderr).toBe(0);
    const block = /<script type="application\/json" id="viewer-data">([\s\S]*?)<\/script>/.exec(page.stdout)![1]!;
    expect((JSON.parse(block) as { questions: unknown[] }).questions).toHaveLength(20);
  }, 180_000);
});
