import type { ReportDiff, SplitDiff } from "./diff.ts";
import { taskDefinition } from "../benchmark/tasks.ts";
import { SPLIT_TITLES } from "./tables.ts";
import { renderMarkdownTable, renderText, type Table } from "../render/text-table.ts";
import { escapeHtml, escapeMarkdown, forTerminal, markdownCode } from "../util/escape.ts";

export const DIFF_FORMATS = ["terminal", "markdown", "json"] as const;
export type DiffFormat = (typeof DIFF_FORMATS)[number];

/** A hidden marker so a CI job can find and update its own PR comment. */
export const DIFF_COMMENT_MARKER = "<!-- harness-diff -->";

const signed = (value: number) => `${value > 0 ? "+" : ""}${value.toFixed(2)}`;
const formatP = (p: number) => (p < 0.0001 ? "<0.0001" : p.toFixed(4));

function verdict(split: SplitDiff): string {
  if (split.regression) return "REGRESSION";
  if (split.significant) return split.paired.headOnly > split.paired.baseOnly ? "better" : "worse (within --max-drop)";
  return "";
}

export function diffTable(diff: ReportDiff): Table {
  const rows = diff.tasks.flatMap((task) =>
    task.splits.map((s) => [
      taskDefinition(s.task).title,
      SPLIT_TITLES[s.split],
      s.base ? s.base.accuracy.toFixed(2) : "—",
      s.head ? s.head.accuracy.toFixed(2) : "—",
      s.change === undefined ? "—" : signed(s.change),
      s.paired.ci95 ? `${signed(s.paired.ci95.low)} to ${signed(s.paired.ci95.high)}` : "—",
      String(s.paired.n),
      `${s.paired.baseOnly}/${s.paired.headOnly}`,
      formatP(s.paired.pValue),
      formatP(s.paired.pHolm),
      verdict(s),
    ]),
  );
  return {
    headers: ["task", "split", "base", "head", "change", "95% CI (paired)", "paired n", "lost/gained", "McNemar p", "Holm p", "verdict"],
    rows,
    align: ["left", "left", "right", "right", "right", "right", "right", "right", "right", "right", "left"],
  };
}

/** The gate's rule in words, as every format and the command's error state it. */
export function gateRule(diff: Pick<ReportDiff, "maxDrop" | "alpha" | "tests">): string {
  return `dropped by more than ${diff.maxDrop} point(s) with Holm-corrected McNemar p < ${diff.alpha} (${diff.tests} test${diff.tests === 1 ? "" : "s"})`;
}

function summaryLine(diff: ReportDiff): string {
  if (diff.incomplete.length > 0 && diff.regressions.length === 0)
    return `INCOMPLETE: the head does not cover what the base does (${diff.incomplete.join("; ")}); no regression among the splits compared.`;
  if (diff.regressions.length === 0) return `No regression: no split ${gateRule(diff)}.`;
  return `REGRESSION in ${diff.regressions.map((r) => `${r.task}/${r.split} (${signed(r.change)} points, Holm p = ${formatP(r.pHolm)}, uncorrected ${formatP(r.pValue)})`).join(", ")}: ${gateRule(diff)}.`;
}

/** How many flipped ids the terminal shows per direction and split; the rest are counted, never dropped silently. */
export const TERMINAL_FLIP_IDS = 10;
/** The same for the markdown comment (GitHub comments stop at 65,536 characters). */
export const MARKDOWN_FLIP_IDS = 200;

interface FlipList {
  where: string;
  direction: "right->wrong" | "wrong->right";
  ids: readonly string[];
}

/** The non-empty flip lists, per task and split in the table's order: lost first, then gained. */
function flipLists(diff: ReportDiff): FlipList[] {
  return diff.tasks.flatMap((task) =>
    task.splits.flatMap((s) => {
      const where = `${s.task} / ${SPLIT_TITLES[s.split]}`;
      const lists: FlipList[] = [
        { where, direction: "right->wrong", ids: s.paired.lostIds },
        { where, direction: "wrong->right", ids: s.paired.gainedIds },
      ];
      return lists.filter((l) => l.ids.length > 0);
    }),
  );
}

/** The first `limit` ids, escaped, then "... and N more" when there are more: a cut list says it is cut. */
function listIds(ids: readonly string[], limit: number, escapeId: (id: string) => string): string {
  const shown = ids.slice(0, limit).map(escapeId).join(", ");
  return ids.length > limit ? `${shown} ... and ${ids.length - limit} more` : shown;
}

function flipLinesTerminal(diff: ReportDiff): string[] {
  const lists = flipLists(diff);
  if (lists.length === 0) return [`Flipped questions (${diff.metric} parse): none.`];
  const cut = lists.some((l) => l.ids.length > TERMINAL_FLIP_IDS);
  return [
    `Flipped questions (${diff.metric} parse, paired by id)${cut ? `; lists cut at ${TERMINAL_FLIP_IDS} ids, all of them with --format json` : ""}:`,
    ...lists.map((l) => `  ${l.where}: ${l.direction} (${l.ids.length}): ${listIds(l.ids, TERMINAL_FLIP_IDS, forTerminal)}`),
  ];
}

/**
 * One collapsible <details> per task and split that flipped. Ids go through escapeMarkdown (HTML
 * as entities, markdown punctuation escaped): no id closes the <details> or makes a tag or link.
 */
function flipLinesMarkdown(diff: ReportDiff): string[] {
  const bySplit = new Map<string, FlipList[]>();
  for (const list of flipLists(diff)) bySplit.set(list.where, [...(bySplit.get(list.where) ?? []), list]);
  if (bySplit.size === 0) return [`**Flipped questions** (${diff.metric} parse): none.`, ""];
  const lines = [`**Flipped questions** (${diff.metric} parse, paired by id):`, ""];
  for (const [where, lists] of bySplit) {
    const counts = lists.map((l) => `${l.ids.length} ${l.direction.replace("->", " → ")}`).join(", ");
    lines.push(`<details><summary>${escapeHtml(`${where}: ${counts}`)}</summary>`, "");
    for (const l of lists)
      lines.push(
        `- ${l.direction.replace("->", " → ")} (${l.ids.length}): ${listIds(l.ids, MARKDOWN_FLIP_IDS, escapeMarkdown)}${l.ids.length > MARKDOWN_FLIP_IDS ? " (all of them: `harness diff --format json`)" : ""}`,
      );
    lines.push("", "</details>", "");
  }
  return lines;
}

/** The benchmark-data lines every format leads with: a diff across releases is not a like-for-like comparison. */
function dataLines(diff: ReportDiff): string[] {
  const lines: string[] = [];
  if (diff.releaseMismatch.length > 0)
    lines.push(
      `RELEASE MISMATCH: base and head ran on different benchmark data, so their numbers are not comparable (${diff.releaseMismatch.join("; ")})${diff.releaseMismatchAllowed ? "; compared anyway, as --allow-release-mismatch asked" : "; pass --allow-release-mismatch to compare anyway"}.`,
    );
  if (diff.offRelease.length > 0) lines.push(`NOT THE PINNED RELEASE (not a reproduction of the paper): ${diff.offRelease.join("; ")}.`);
  return lines;
}

function excludedLines(diff: ReportDiff): string[] {
  const lines: string[] = [];
  const sample = (ids: readonly string[]) => `${ids.slice(0, 5).join(", ")}${ids.length > 5 ? ", …" : ""}`;
  for (const task of diff.tasks) {
    if (task.onlyInBase.length > 0)
      lines.push(
        `${task.task}: ${task.onlyInBase.length} question(s) only in base (${sample(task.onlyInBase)}), excluded from the paired test`,
      );
    if (task.onlyInHead.length > 0)
      lines.push(
        `${task.task}: ${task.onlyInHead.length} question(s) only in head (${sample(task.onlyInHead)}), excluded from the paired test`,
      );
    if (task.unanswered.length > 0)
      lines.push(`${task.task}: ${task.unanswered.length} question(s) unanswered (API error) in one report, excluded from the paired test`);
  }
  if (diff.tasksOnlyInBase.length > 0) lines.push(`tasks only in base: ${diff.tasksOnlyInBase.join(", ")}`);
  if (diff.tasksOnlyInHead.length > 0) lines.push(`tasks only in head: ${diff.tasksOnlyInHead.join(", ")}`);
  if (diff.incomplete.length > 0 && diff.regressions.length > 0) lines.push(`INCOMPLETE as well: ${diff.incomplete.join("; ")}`);
  return lines;
}

function methodLine(diff: ReportDiff): string {
  return `${diff.metric} parse; change = head - base in points (stored accuracies); paired by question id; exact McNemar test (two-sided), Holm-corrected across the ${diff.tests} split(s) tested; paired bootstrap 95% interval of the change, ${diff.resamples} resamples, seed ${diff.seed}.`;
}

export function renderDiffTerminal(diff: ReportDiff): string {
  const parts = [
    `base ${diff.base.label} (${diff.base.path})`,
    `head ${diff.head.label} (${diff.head.path})`,
    ...dataLines(diff),
    "",
    renderText(diffTable(diff)),
    "",
    summaryLine(diff),
    "",
    ...flipLinesTerminal(diff),
  ];
  if (diff.changes.length > 0)
    parts.push("", "Changes between the runs:", ...diff.changes.map((c) => `  ${c.what}: ${c.base} -> ${c.head}`));
  const excluded = excludedLines(diff);
  if (excluded.length > 0) parts.push("", ...excluded);
  parts.push("", methodLine(diff));
  return `${parts.join("\n")}\n`;
}

const code = markdownCode;

/** A ready-to-post PR comment. */
export function renderDiffMarkdown(diff: ReportDiff): string {
  const refused = diff.releaseMismatch.length > 0 && !diff.releaseMismatchAllowed;
  const warned = diff.incomplete.length > 0 || diff.releaseMismatch.length > 0 || diff.offRelease.length > 0;
  const status = diff.regressions.length > 0 || refused ? "❌" : warned ? "⚠️" : "✅";
  const lines = [
    DIFF_COMMENT_MARKER,
    `## ${status} IntentionQA: ${code(diff.head.label)} vs ${code(diff.base.label)}`,
    "",
    ...dataLines(diff).map((line) => `**${escapeMarkdown(line)}**\n`),
    `**${escapeMarkdown(summaryLine(diff))}**`,
    "",
    renderMarkdownTable(diffTable(diff)),
    "",
    ...flipLinesMarkdown(diff),
  ];
  if (diff.changes.length > 0) {
    lines.push(
      "**Changes between the runs** (check these before reading the numbers):",
      "",
      "| what | base | head |",
      "| --- | --- | --- |",
    );
    for (const c of diff.changes) lines.push(`| ${escapeMarkdown(c.what)} | ${code(c.base)} | ${code(c.head)} |`);
    lines.push("");
  }
  const excluded = excludedLines(diff);
  if (excluded.length > 0) lines.push(...excluded.map((l) => `- ${escapeMarkdown(l)}`), "");
  lines.push(
    `<sub>${escapeMarkdown(methodLine(diff))} base: ${code(diff.base.path)} (run ${code(diff.base.runId)}); head: ${code(diff.head.path)} (run ${code(diff.head.runId)}).</sub>`,
    "",
  );
  return lines.join("\n");
}

export function renderDiff(diff: ReportDiff, format: DiffFormat): string {
  switch (format) {
    case "terminal":
      return renderDiffTerminal(diff);
    case "markdown":
      return renderDiffMarkdown(diff);
    case "json":
      return `${JSON.stringify(diff, null, 2)}\n`;
  }
}
