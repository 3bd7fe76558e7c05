import { dirname, join } from "node:path";
import { taskDefinition } from "../benchmark/tasks.ts";
import type { ParseName } from "../scoring/parses.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { type NamedPath, refuseOutputOverInput } from "../util/paths.ts";
import { writeLinesAtomic } from "../util/staged-output.ts";
import { expandReportPath } from "./load.ts";
import { coverageOf, describeCoverage } from "./coverage.ts";
import { intervalNote, reportParses } from "./parses.ts";
import { optionOrderText } from "./settings.ts";
import { reportSchema, type EvalReport, type SplitResult, type TaskResult } from "./schema.ts";
import { fmt, renderMarkdownTable, renderText, type Table } from "../render/text-table.ts";
import { escapeMarkdown, markdownCode } from "../util/escape.ts";

function splitCell(split: SplitResult | null | undefined, parse: ParseName): string {
  const parsed = split?.parses[parse];
  return parsed ? fmt(parsed.accuracy) : "—";
}

/** The MIND paper's Table 2 shape for one run: per task, Easy / Medium / Hard / Avg, one row per named parse. */
export function summaryTable(report: EvalReport): Table {
  const headers = ["task", "parse", "Easy", "Medium", "Hard", "Avg", "95% CI (Avg)", "n", "unreadable %"];
  const rows: string[][] = [];
  const parses = reportParses(report);
  for (const result of report.results) {
    const avg = result.splits.avg;
    // official and strict always have a row (— when nothing was answered); other parses where measured.
    for (const parse of parses.filter((p) => p === "official" || p === "strict" || avg?.parses[p])) {
      const parsed = avg?.parses[parse];
      rows.push([
        result.task,
        parse,
        ...(["easy", "medium", "hard"] as const).map((s) => splitCell(result.splits[s], parse)),
        splitCell(avg, parse),
        parsed ? `${fmt(parsed.ci95.low)}–${fmt(parsed.ci95.high)}` : "—",
        String(parsed?.n ?? 0),
        parse === "strict" && avg ? fmt(avg.unreadable.share) : "",
      ]);
    }
    if (result.expectedAccuracy !== undefined)
      rows.push([result.task, "expected", "", "", "", fmt(result.expectedAccuracy), "", String(result.splits.avg?.n ?? 0), ""]);
  }
  return { headers, rows };
}

export function runRelationTable(result: TaskResult): Table | undefined {
  if (!result.relations) return undefined;
  return {
    headers: ["relation", "official", "strict", "n", "95% CI (official)"],
    rows: Object.entries(result.relations).map(([rel, s]: [string, SplitResult]) => {
      const official = s.parses.official;
      return [
        rel,
        splitCell(s, "official"),
        splitCell(s, "strict"),
        String(s.n),
        official ? `${fmt(official.ci95.low)}–${fmt(official.ci95.high)}` : "—",
      ];
    }),
  };
}

function difficultyNotes(report: EvalReport): string[] {
  return report.results.map((r) => `${r.task}: difficulty ${r.difficulty.approximate ? "(APPROXIMATE) " : ""}${r.difficulty.description}`);
}

/** One line per task: what share of the benchmark the numbers cover; PARTIAL when not all of it. */
function coverageNotes(report: EvalReport): string[] {
  return report.results.map((r) => {
    const coverage = coverageOf(r, report.config);
    return `${r.task}: ${coverage.complete ? "complete" : "PARTIAL"}: ${describeCoverage(coverage)}`;
  });
}

/** One line per task run on data other than the pinned release: its numbers are not the paper's benchmark's. */
function releaseNotes(report: EvalReport): string[] {
  return report.results
    .filter((r) => !r.data.matchesRelease)
    .map(
      (r) =>
        `${r.task}: NOT THE PINNED RELEASE: ${r.data.file} (sha256 ${r.data.sha256.slice(0, 12)}…) differs from the pinned IntentionQA release; not a reproduction of the paper`,
    );
}

/** What `harness eval` prints on stdout. */
export function renderRunText(report: EvalReport): string {
  const parts = [
    `run ${report.runId}  backend ${report.backend.id}  mode ${report.config.mode}${report.config.permuteOptions !== undefined ? `  options ${optionOrderText(report)}` : ""}${report.status === "incomplete" ? "  [INCOMPLETE: some questions ended in API errors]" : ""}`,
  ];
  parts.push(renderText(summaryTable(report)));
  for (const result of report.results) {
    const rel = runRelationTable(result);
    if (rel) parts.push(`${taskDefinition(result.task).heading}, per relation:\n${renderText(rel)}`);
  }
  parts.push([...releaseNotes(report), ...coverageNotes(report), ...difficultyNotes(report), intervalNote(report)].join("\n"));
  return `${parts.join("\n\n")}\n`;
}

export function renderRunMarkdown(report: EvalReport): string {
  const lines = [
    `# IntentionQA evaluation: ${escapeMarkdown(report.runId)}`,
    "",
    `- backend: ${markdownCode(report.backend.id)}${report.backend.baseUrl ? ` at ${markdownCode(report.backend.baseUrl)}` : ""}${report.backend.adapter ? `, adapter ${markdownCode(report.backend.adapter)}` : ""}`,
    `- mode: ${report.config.mode} (max_tokens ${report.config.decoding.maxTokens}, temperature ${report.config.decoding.temperature}, samples ${report.config.decoding.samples})`,
    `- status: ${report.status}; harness ${report.harness.version} (${report.harness.gitCommit ?? "no git"}), protocol ${report.harness.protocolVersion}`,
    ...(report.config.permuteOptions !== undefined
      ? [
          `- options shown in a seeded order: ${optionOrderText(report)}; each sample's \`permutation\` in samples.jsonl maps the letters back`,
        ]
      : []),
    `- seed ${report.config.seed}; ${intervalNote(report)}`,
    "",
    'Accuracy (%). "official" is the benchmark\'s own answer parse; "strict" reads exactly one option letter; "logprob" (where the backend returned letter probabilities) takes the most probable option letter.',
    "",
    renderMarkdownTable(summaryTable(report)),
    "",
    ...releaseNotes(report).map((n) => `- **${escapeMarkdown(n)}**`),
    ...coverageNotes(report).map((n) => `- ${escapeMarkdown(n)}`),
    ...difficultyNotes(report).map((n) => `- ${escapeMarkdown(n)}`),
  ];
  for (const result of report.results) {
    const rel = runRelationTable(result);
    if (rel) lines.push("", `## ${taskDefinition(result.task).heading}, per relation`, "", renderMarkdownTable(rel));
  }
  return `${lines.join("\n")}\n`;
}

/** The files a run folder holds (what a command must not write over when they are its inputs). */
export const RUN_REPORT_FILES = ["report.json", "samples.jsonl", "report.md"] as const;

/**
 * Refuses an --out of `report`/`diff` that is one of the runs it reads (`report RUN --out
 * RUN/report.json`) or a file beside one (its samples.jsonl, report.md): checked before reading.
 */
export async function refuseOutputOverReports(out: string, paths: readonly string[]): Promise<void> {
  const inputs: NamedPath[] = [];
  for (const path of paths) {
    const files = await expandReportPath(path).catch(() => []);
    for (const file of files) for (const name of RUN_REPORT_FILES) inputs.push({ label: "report", path: join(dirname(file), name) });
    inputs.push({ label: "report", path });
  }
  await refuseOutputOverInput({ label: "--out", path: out }, inputs);
}

function* jsonLines(values: readonly object[]): Generator<string> {
  for (const value of values) yield JSON.stringify(value);
}

/**
 * Writes report.json, samples.jsonl and report.md, each atomically, into reports/<run-id>/. The
 * samples are eval's records, written as they are (typed loosely so reports/ does not import eval/).
 */
export async function writeRunReport(dir: string, report: EvalReport, samples: readonly object[]): Promise<void> {
  // What `harness report` will read must pass its schema (no NaN, no missing key): a failure here is a bug.
  const checked = reportSchema.safeParse(report);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new Error(
      `internal error: the report for ${report.runId} does not match its schema at "${issue.path.map(String).join(".")}": ${issue.message}`,
    );
  }
  // Streamed, a line at a time: the whole file as one string can exceed what V8 holds in a string.
  await writeLinesAtomic(join(dir, "samples.jsonl"), jsonLines(samples));
  await writeFileAtomic(join(dir, "report.md"), renderRunMarkdown(report));
  // report.json last: its presence means the run's files are all there.
  await writeFileAtomic(join(dir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
}
