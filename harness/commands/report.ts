import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { loadReports } from "../reports/load.ts";
import { parsePublishedOption } from "../reports/published.ts";
import { renderReport, REPORT_FORMATS, type ReportFormat } from "../reports/render.ts";
import { buildTables, type TableChoice } from "../reports/tables.ts";
import { DEFAULT_PARSE, parseNames, type ParseName } from "../scoring/parses.ts";
import { usageError } from "../util/errors.ts";
import { forOutputFile } from "../util/escape.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkWritableFile } from "../util/paths.ts";
import { refuseOutputOverReports } from "../reports/run-report.ts";

export interface ReportArgs {
  files?: string[];
  table: TableChoice;
  metric: ParseName;
  format: ReportFormat | "viewer";
  out?: string;
  published?: string;
  gap: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: "report [files...]",
  describe:
    "The paper's Table 2 / Table 3 from report files, as terminal, markdown, csv, latex, json, html or svg; or every question of the runs in one offline page (viewer)",
  builder: (y) =>
    (y as Argv<object>)
      .positional("files", {
        type: "string",
        array: true,
        describe:
          "report.json files, or directories searched for report.json (run folders, an ablation's folder); optional with --published",
      })
      .option("table", {
        type: "string",
        choices: ["2", "3", "both"] as const,
        default: "both" as TableChoice,
        describe: "2: models x task/split; 3: recipes per backbone, best marked",
      })
      .option("metric", {
        type: "string",
        default: DEFAULT_PARSE,
        describe: `Which named answer parse's accuracy to show: ${parseNames().join(", ")} (logprob where the run has letter probabilities)`,
      })
      .option("format", {
        choices: [...REPORT_FORMATS, "viewer"] as const,
        default: "terminal" as ReportFormat | "viewer",
        describe:
          "Output format (html: self-contained page with charts; svg: the charts; vega-lite: the charts as a Vega-Lite v5 spec; viewer: a self-contained page of every question of the runs, with filters, search and the flips between two runs)",
      })
      .option("out", { type: "string", describe: "Write to this file (atomically) instead of stdout" })
      .option("published", {
        type: "string",
        describe:
          'Add the MIND paper\'s rows, labelled (published), each beside the run that reproduces it: no value or "all" = every row of the table; "matched" = the rows your runs reproduce; or models/groups, comma-separated ("Mistral-7B-Instruct-v0.2,LLM API")',
      })
      .option("gap", {
        type: "boolean",
        default: false,
        describe:
          "Add the gap view: per split, your accuracy minus the paper's, flagged (!) where the paper's number is outside your 95% interval",
      })
      .example("$0 report reports/*/report.json", "both tables in the terminal")
      .example("$0 report reports/ --table 3 --format markdown --published", "Table 3 with every paper row beside yours")
      .example("$0 report reports/ --table 2 --published matched --gap", "the paper rows your runs reproduce, and the gap to each")
      .example('$0 report --table 2 --published "Open LLM,GPT 4"', "paper rows only, no runs")
      .example("$0 report reports/ --format html --out results.html", "a page to open offline")
      .example(
        "$0 report reports/run-a reports/run-b --format viewer --out questions.html",
        "every question of two runs, and which flipped",
      )
      .example(
        "$0 report reports/my-run --metric logprob",
        "accuracy of the most probable option letter (zero-shot runs with top_logprobs)",
      ) as unknown as Argv<ReportArgs>,
  handler: async (args: ArgumentsCamelCase<ReportArgs>) => {
    if (args.out) await checkWritableFile("--out", args.out);
    // A repeated --published adds its names to the list.
    const publishedArg: unknown = args.published;
    const published = parsePublishedOption(Array.isArray(publishedArg) ? publishedArg.map(String).join(",") : args.published);
    const files = args.files ?? [];
    if (files.length === 0 && !published && args.format !== "viewer")
      throw usageError("no report files given: name report.json files or folders (or show only the paper's rows with --published)");
    if (args.out) await refuseOutputOverReports(args.out, files);
    if (args.format === "viewer") return writeViewer(args, files, published !== undefined);
    const built = buildTables(files.length > 0 ? await loadReports(files) : [], {
      table: args.table,
      parse: args.metric,
      ...(published ? { published } : {}),
      gap: args.gap,
    });
    for (const warning of built.warnings) process.stderr.write(`harness: warning: ${warning}\n`);
    const text = renderReport(built, args.format);
    if (args.out) {
      await writeFileAtomic(args.out, forOutputFile(text, args.format));
      process.stderr.write(`wrote ${args.out}\n`);
    } else process.stdout.write(text);
  },
};

/** --format viewer: one page of every question, not a table, so the table flags do not apply. */
async function writeViewer(args: ReportArgs, files: readonly string[], published: boolean): Promise<void> {
  if (files.length === 0) throw usageError("--format viewer needs report files or run folders: it shows their questions");
  if (published || args.gap) throw usageError("--format viewer shows your runs' questions: --published and --gap apply to the tables");
  const { viewerPage } = await import("../reports/viewer/viewer.ts");
  const text = await viewerPage(files, args.metric);
  if (args.out) {
    await writeFileAtomic(args.out, text);
    process.stderr.write(`wrote ${args.out}\n`);
  } else process.stdout.write(text);
}
