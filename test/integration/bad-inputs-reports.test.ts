/**
 * The bad-input table of the reports class (issue 17, scope 4): `harness report` and `harness diff`
 * check a report.json, they do not believe it. Every stored number that follows from the
 * report's own per-question outcomes is recomputed, and a report that disagrees is refused (exit 2,
 * naming the file and the field); a run on data that differs from the pinned benchmark release is
 * marked in every format, and a diff across different data fails unless --allow-release-mismatch.
 *
 * The reports edited here are real ones, written by `harness eval` (the baselines, in process,
 * over the real benchmark files; a run with failed questions against a local server), each
 * changed the way a hand edit or a damaged file would. Inputs are named *.json, never
 * report.json, so the table's "no finished report left" check looks only at what a run wrote.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import type { EvalReport } from "../../harness/reports/schema.ts";
import { wilsonInterval } from "../../harness/stats/proportion.ts";
import { type BadInputCase, badInputTable } from "../helpers/bad-input-table.ts";
import { runHarness } from "../helpers/cli.ts";
import { intentionqaDir } from "../helpers/paths.ts";
import { evalBaselines, evalWithFailures, plantRegression } from "../helpers/reports.ts";

interface Sources {
  /** The majority baseline, --limit 40, with difficulty levels (both tasks). */
  majority: string;
  /** The majority baseline over the whole benchmark, with difficulty levels: enough questions for a significant drop. */
  majorityFull: string;
  random: string;
  /** The same run over a copy of the benchmark whose files differ from the release (a BOM in front). */
  offRelease: string;
  /** by-relation, --limit 40. */
  byRelation: string;
  /** Questions failed (HTTP 500 from a local server): status "incomplete". */
  failing: string;
}

let made: Promise<Sources> | undefined;

/** The real reports every row starts from, made once. */
function sources(): Promise<Sources> {
  made ??= (async () => {
    const root = await mkdtemp(join(tmpdir(), "harness-bad-reports-"));
    const pinned = await evalBaselines(join(root, "pinned"), { difficulty: true, limit: 40 });
    const full = await evalBaselines(join(root, "full"), { difficulty: true });
    const data = join(root, "data");
    await mkdir(data, { recursive: true });
    for (const name of ["QA_fullInfo_task1.jsonl", "QA_fullInfo_task2.jsonl", "QA_fullInfo_task1_byRelation.jsonl"]) {
      const bytes = await readFile(join(intentionqaDir(), name));
      await writeFile(join(data, name), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]));
    }
    const off = await evalBaselines(join(root, "off"), { difficulty: true, limit: 40, data });
    const relation = await evalBaselines(join(root, "relation"), { limit: 40, task: "by-relation" });
    const failing = await evalWithFailures(join(root, "failing"), { failEvery: 5, task: "understanding", limit: 20 });
    return {
      majority: pinned.majority,
      majorityFull: full.majority,
      random: pinned.random,
      offRelease: off.random,
      byRelation: relation.majority,
      failing,
    };
  })();
  return made;
}

/** A real report's text after `change`: what a hand edit leaves. */
function edited(source: keyof Sources, change: (report: EvalReport) => void = () => {}): () => Promise<string> {
  return async () => {
    const report = JSON.parse(await readFile((await sources())[source], "utf8")) as EvalReport;
    change(report);
    return `${JSON.stringify(report, null, 2)}\n`;
  };
}
const raw = (source: keyof Sources) => async () => readFile((await sources())[source], "utf8");

const understanding = (r: EvalReport) => r.results.find((t) => t.task === "understanding")!;
const avg = (r: EvalReport) => understanding(r).splits.avg!;
const V1_FIXTURE = join(import.meta.dirname, "..", "fixtures", "reports", "report-v1-7711ae2.json");
const stdoutHas =
  (...texts: string[]) =>
  (r: { stdout: string }) => {
    for (const text of texts) expect(r.stdout).toContain(text);
  };

/** A real eval against the {url} server whose "mumble" model never names a letter: every answer unreadable. */
const MUMBLE_EVAL =
  "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --limit 6 --model openai:mumble --base-url {url} --run-id m";

const CASES: Record<string, BadInputCase> = {
  // report: numbers that do not follow from the outcomes
  "report: an honest report made by eval is shown": {
    args: "report {dir}/r.json",
    exit: 0,
    message: "",
    files: { "r.json": raw("majority") },
    check: stdoutHas("baseline:majority"),
  },
  "report: an accuracy edited by hand is refused, naming file and field": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "{dir}/r.json: results.0 (understanding).splits.avg.parses.official.accuracy is 91.2 but its 40 answered outcomes give",
    files: { "r.json": edited("majority", (r) => void (avg(r).parses.official!.accuracy = 91.2)) },
    check: (r) => expect(r.stdout).not.toContain("91.2"),
  },
  "report: an accuracy edited in a difficulty split": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.hard.parses.strict.accuracy is 77 but its",
    files: { "r.json": edited("majority", (r) => void (understanding(r).splits.hard!.parses.strict!.accuracy = 77)) },
  },
  "report: an accuracy moved by less than a point but more than its rounding": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.parses.official.accuracy is",
    files: { "r.json": edited("majority", (r) => void (avg(r).parses.official!.accuracy += 0.01)) },
  },
  "report: correct edited with its accuracy to match": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.parses.official.correct is 39 but its 40 answered outcomes give",
    files: {
      "r.json": edited("majority", (r) => {
        avg(r).parses.official!.correct = 39;
        avg(r).parses.official!.accuracy = 97.5;
      }),
    },
  },
  "report: n edited on a split": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.n is 2245 but its 40 answered outcomes give 40",
    files: { "r.json": edited("majority", (r) => void (avg(r).n = 2245)) },
  },
  "report: n edited on a parse": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.parses.strict.n is 400 but its 40 answered outcomes give 40",
    files: { "r.json": edited("majority", (r) => void (avg(r).parses.strict!.n = 400)) },
  },
  "report: coverage edited to claim the whole benchmark": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".coverage.selected is 2245 but its 40 outcomes give 40",
    files: {
      "r.json": edited("majority", (r) => {
        const t = understanding(r);
        t.coverage = { ...t.coverage!, selected: 2245, answered: 2245, subset: null, complete: true };
      }),
    },
  },
  "report: coverage.complete set on a --limit run": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".coverage.complete is true but 40 answered of 2245 scorable give false",
    files: { "r.json": edited("majority", (r) => void (understanding(r).coverage!.complete = true)) },
  },
  "report: failed questions hidden from coverage": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".coverage.failed is 0 but its 20 outcomes give 4",
    files: {
      "r.json": edited("failing", (r) => {
        understanding(r).coverage!.failed = 0;
      }),
    },
  },
  "report: questions.selected edited": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".questions.selected is 2245 but the task has 40 outcomes",
    files: { "r.json": edited("majority", (r) => void (understanding(r).questions.selected = 2245)) },
  },
  "report: wrong outcomes removed, numbers left as they were": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "{dir}/r.json: results.0 (understanding).questions.selected is 40 but the task has",
    files: {
      "r.json": edited("majority", (r) => {
        const t = understanding(r);
        t.outcomes = t.outcomes.filter((o) => o.parses.official !== 0);
      }),
    },
  },
  "report: every outcome removed": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "but the task has 0 outcomes",
    files: { "r.json": edited("majority", (r) => void (understanding(r).outcomes = [])) },
  },
  "report: duplicate question ids": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".outcomes has duplicate question ids: FS_1",
    files: {
      "r.json": edited("majority", (r) => {
        const t = understanding(r);
        t.outcomes[1] = { ...t.outcomes[0]! };
      }),
    },
  },
  "report: outcomes that reference a parse no split has": {
    args: "report {dir}/r.json",
    exit: 2,
    message: '.splits.avg.parses has no "oracle" but its 40 answered outcomes have "oracle" results',
    files: {
      "r.json": edited("majority", (r) => {
        for (const o of understanding(r).outcomes) o.parses["oracle"] = 1;
      }),
    },
  },
  "report: a parse with accuracies but no outcomes": {
    args: "report {dir}/r.json",
    exit: 2,
    message: '.splits.avg.parses.logprob has an accuracy but no answered outcome has a "logprob" result',
    files: {
      "r.json": edited("majority", (r) => void (avg(r).parses["logprob"] = { ...avg(r).parses.official!, accuracy: 88 })),
    },
  },
  "report: an outcome null under one parse and scored under another": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".outcomes.0 (FS_1) is null under some parses and scored under others",
    files: { "r.json": edited("majority", (r) => void (understanding(r).outcomes[0]!.parses.strict = null)) },
  },
  'report: status "complete" with failed questions': {
    args: "report {dir}/r.json",
    exit: 2,
    message: 'status is "complete" but 4 question(s) ended in errors',
    files: { "r.json": edited("failing", (r) => void (r.status = "complete")) },
  },
  "report: a run with failed questions, as eval wrote it, is shown as partial": {
    args: "report {dir}/r.json",
    exit: 0,
    message: "",
    files: { "r.json": raw("failing") },
    check: stdoutHas("partial: --limit 20; 4 failed"),
  },
  "report: the unreadable share edited": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.unreadable.share is 50 but 0 of 40 is 0.00",
    files: { "r.json": edited("majority", (r) => void (avg(r).unreadable.share = 50)) },
  },
  "report: an interval outside 0-100": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.parses.official.ci95 is 60–140: not an interval within 0–100",
    files: { "r.json": edited("majority", (r) => void (avg(r).parses.official!.ci95 = { low: 60, high: 140 })) },
  },
  "report: a Wilson interval that does not follow from its counts": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".splits.avg.parses.official.ci95 is 10–20 but the Wilson interval of",
    files: { "r.json": edited("majority", (r) => void (avg(r).parses.official!.ci95 = { low: 10, high: 20 })) },
  },
  "report: a task given twice": {
    args: "report {dir}/r.json",
    exit: 2,
    message: 'results.2 gives task "understanding" a second time',
    files: { "r.json": edited("majority", (r) => void r.results.push(understanding(r))) },
  },
  "report: a relation's accuracy edited": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "(by-relation).relations.",
    files: {
      "r.json": edited("byRelation", (r) => {
        const relations = r.results[0]!.relations!;
        const first = Object.keys(relations)[0]!;
        relations[first]!.parses.official!.accuracy = relations[first]!.parses.official!.accuracy === 100 ? 0 : 100;
      }),
    },
  },
  "report: matchesRelease claimed for other data": {
    args: "report {dir}/r.json",
    exit: 2,
    message: ".data.matchesRelease is true but data.sha256",
    files: { "r.json": edited("offRelease", (r) => void (understanding(r).data.matchesRelease = true)) },
  },
  // report: a run folder's samples.jsonl must agree with its report.json (the unreadable counts come only from it)
  "report: a run with unreadable answers, as eval wrote it, reads (samples and report agree)": {
    args: MUMBLE_EVAL,
    exit: 0,
    message: "",
    check: async (_r, { dir }) => {
      const report = await runHarness(["report", join(dir, "reports", "m")]);
      expect(report.exitCode, report.stderr).toBe(0);
      expect(report.stdout).toContain("openai:mumble");
    },
  },
  "report: samples.jsonl edited so an unreadable answer reads as a letter": {
    args: MUMBLE_EVAL,
    exit: 0,
    message: "",
    check: async (_r, { dir }) => {
      const samples = join(dir, "reports", "m", "samples.jsonl");
      const lines = (await readFile(samples, "utf8")).trimEnd().split("\n");
      const first = JSON.parse(lines[0]!);
      first.parses.strict.answer = "A";
      await writeFile(samples, `${[JSON.stringify(first), ...lines.slice(1)].join("\n")}\n`);
      const report = await runHarness(["report", join(dir, "reports", "m")]);
      expect(report.exitCode).toBe(2);
      expect(report.stderr).toContain(
        `harness: error: ${join(dir, "reports", "m", "report.json")}: results.0 (understanding).splits.avg.unreadable.count is 6 but ${samples} gives 5`,
      );
    },
  },
  "report: an outcome flipped in report.json, its numbers restated, but not in samples.jsonl": {
    args: MUMBLE_EVAL,
    exit: 0,
    message: "",
    check: async (_r, { dir }) => {
      const path = join(dir, "reports", "m", "report.json");
      const report = JSON.parse(await readFile(path, "utf8")) as EvalReport;
      const task = understanding(report);
      const outcome = task.outcomes[0]!;
      const was = outcome.parses.official!;
      outcome.parses.official = was === 1 ? 0 : 1;
      const official = task.splits.avg!.parses.official!;
      official.correct += was === 1 ? -1 : 1;
      official.accuracy = Math.round((10000 * official.correct) / official.n) / 100;
      official.ci95 = wilsonInterval(official.correct, official.n);
      for (const level of ["easy", "medium", "hard"] as const) delete task.splits[level];
      await writeFile(path, JSON.stringify(report));
      const result = await runHarness(["report", path]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`results.0 (understanding).outcomes.0 (${outcome.id}).parses.official is`);
    },
  },
  "report: a truncated samples.jsonl": {
    args: MUMBLE_EVAL,
    exit: 0,
    message: "",
    check: async (_r, { dir }) => {
      const samples = join(dir, "reports", "m", "samples.jsonl");
      const text = await readFile(samples, "utf8");
      await writeFile(samples, text.slice(0, text.indexOf("\n") + 40));
      const result = await runHarness(["report", join(dir, "reports", "m")]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`harness: error: ${samples}:2: not valid JSON`);
    },
  },
  // report: file-level damage
  "report: a truncated report.json": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "{dir}/r.json: not a harness report: not valid JSON",
    files: { "r.json": async () => (await raw("majority")()).slice(0, 1500) },
  },
  "report: a schema version from the future": {
    args: "report {dir}/r.json",
    exit: 2,
    message: '{dir}/r.json: not a harness report: "schema" is "intentionqa-harness/report@3"',
    files: { "r.json": edited("majority", (r) => void ((r as { schema: string }).schema = "intentionqa-harness/report@3")) },
  },
  "report: a JSON array": {
    args: "report {dir}/r.json",
    exit: 2,
    message: "{dir}/r.json: not a harness report",
    files: { "r.json": "[1,2]" },
  },
  "report: the first-release fixture (report@1) still loads": {
    args: `report ${V1_FIXTURE}`,
    exit: 0,
    message: "",
    check: stdoutHas("33.33"),
  },
  "report: an accuracy edited in a report@1 file": {
    args: "report {dir}/v1.json",
    exit: 2,
    message:
      "{dir}/v1.json: results.0 (understanding).splits.avg.parses.official.accuracy is 66.67 but its 30 answered outcomes give 33.33",
    files: { "v1.json": async () => (await readFile(V1_FIXTURE, "utf8")).replace('"accuracy": 33.33', '"accuracy": 66.67') },
  },
  // report: data that differs from the pinned release is marked in every format
  "report: off-release data is marked in the terminal": {
    args: "report {dir}/r.json",
    exit: 0,
    message: "NOT THE PINNED RELEASE: understanding data sha256",
    files: { "r.json": raw("offRelease") },
    check: stdoutHas("[NOT THE PINNED RELEASE: understanding data sha256", "not a reproduction of the paper's"),
  },
  "report: off-release data is marked in markdown": {
    args: "report {dir}/r.json --format markdown",
    exit: 0,
    message: "NOT THE PINNED RELEASE",
    files: { "r.json": raw("offRelease") },
    check: stdoutHas("[NOT THE PINNED RELEASE: understanding data sha256"),
  },
  "report: off-release data is marked in csv": {
    args: "report {dir}/r.json --format csv",
    exit: 0,
    message: "NOT THE PINNED RELEASE",
    files: { "r.json": raw("offRelease") },
    check: stdoutHas("not_pinned_release", "NOT THE PINNED RELEASE: understanding data sha256"),
  },
  "report: off-release data is marked in json": {
    args: "report {dir}/r.json --format json",
    exit: 0,
    message: "NOT THE PINNED RELEASE",
    files: { "r.json": raw("offRelease") },
    check: (r) => {
      const rows = JSON.parse(r.stdout).tables[0].blocks[0].rows;
      expect(rows[0].offRelease).toMatch(/^NOT THE PINNED RELEASE: understanding data sha256/);
    },
  },
  "report: off-release data is marked in html": {
    args: "report {dir}/r.json --format html",
    exit: 0,
    message: "NOT THE PINNED RELEASE",
    files: { "r.json": raw("offRelease") },
    check: stdoutHas("NOT THE PINNED RELEASE: understanding data sha256", "not a reproduction of the paper.</p>"),
  },
  "report: off-release data is marked in latex": {
    args: "report {dir}/r.json --format latex --table 2",
    exit: 0,
    message: "NOT THE PINNED RELEASE",
    files: { "r.json": raw("offRelease") },
    check: stdoutHas("NOT THE PINNED RELEASE"),
  },
  "report: off-release data is marked in the gap view beside the paper": {
    args: "report {dir}/r.json --published matched --gap",
    exit: 0,
    message: "NOT THE PINNED RELEASE",
    files: { "r.json": raw("offRelease") },
    check: stdoutHas("Gap to the paper", "their gap to the paper is not a reproduction gap"),
  },
  // diff: the CI gate
  "diff: a head whose accuracy was edited up does not pass the gate": {
    args: "diff {dir}/base.json {dir}/head.json",
    exit: 2,
    message: "{dir}/head.json: results.0 (understanding).splits.avg.parses.official.correct is",
    files: {
      "base.json": raw("majorityFull"),
      // A real regression in the outcomes, its stored accuracies put back to the base's.
      "head.json": async () => {
        const base = JSON.parse(await raw("majorityFull")()) as EvalReport;
        const head = JSON.parse(await raw("majorityFull")()) as EvalReport;
        plantRegression(head, "understanding", "easy", 5);
        understanding(head).splits = understanding(base).splits;
        return JSON.stringify(head);
      },
    },
  },
  "diff: an edited base is refused too": {
    args: "diff {dir}/base.json {dir}/head.json",
    exit: 2,
    message: "{dir}/base.json: results.0 (understanding).splits.avg.parses.official.accuracy is 10 but",
    files: { "base.json": edited("majority", (r) => void (avg(r).parses.official!.accuracy = 10)), "head.json": raw("majority") },
  },
  "diff: a real regression still fails the gate": {
    args: "diff {dir}/base.json {dir}/head.json",
    exit: 1,
    message: "regression: understanding/easy",
    files: {
      "base.json": raw("majorityFull"),
      "head.json": edited("majorityFull", (r) => void plantRegression(r, "understanding", "easy", 5)),
    },
  },
  "diff: across benchmark data (off the pinned release) fails": {
    args: "diff {dir}/base.json {dir}/head.json",
    exit: 1,
    message: "release mismatch: base and head ran on different benchmark data (understanding: base ran on the pinned release",
    files: { "base.json": raw("random"), "head.json": raw("offRelease") },
    check: (r) => {
      expect(r.stderr).toContain("pass --allow-release-mismatch to compare anyway");
      expect(r.stdout).toContain("RELEASE MISMATCH");
    },
  },
  "diff: --allow-release-mismatch compares anyway, and says so": {
    args: "diff {dir}/base.json {dir}/head.json --allow-release-mismatch",
    exit: 0,
    message: "warning: release mismatch (allowed by --allow-release-mismatch)",
    files: { "base.json": raw("random"), "head.json": raw("offRelease") },
    check: stdoutHas("RELEASE MISMATCH", "compared anyway, as --allow-release-mismatch asked", "NOT THE PINNED RELEASE"),
  },
  "diff: a release mismatch in the PR comment": {
    args: "diff {dir}/base.json {dir}/head.json --format markdown --out {dir}/diff.md",
    exit: 1,
    message: "release mismatch",
    files: { "base.json": raw("random"), "head.json": raw("offRelease") },
    check: async (_r, { dir }) => {
      const comment = await readFile(join(dir, "diff.md"), "utf8");
      expect(comment).toContain("❌");
      expect(comment).toContain("**RELEASE MISMATCH");
    },
  },
  "diff: two runs on the same off-release data compare, marked as not the release": {
    args: "diff {dir}/base.json {dir}/head.json",
    exit: 0,
    message: "",
    files: { "base.json": raw("offRelease"), "head.json": raw("offRelease") },
    check: stdoutHas("NOT THE PINNED RELEASE (not a reproduction of the paper): base understanding"),
  },
  "diff: a truncated head": {
    args: "diff {dir}/base.json {dir}/head.json",
    exit: 2,
    message: "{dir}/head.json: not a harness report: not valid JSON",
    files: { "base.json": raw("majority"), "head.json": async () => (await raw("majority")()).slice(0, 800) },
  },
};

badInputTable("reports are checked, not believed (report, diff)", CASES, {
  models: ["mumble"],
  chat: (body) => (body["model"] === "mumble" ? "Hard to say, really." : undefined),
});
