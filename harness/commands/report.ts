import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { loadReports } from "../reports/load.ts";
import { renderReport, REPORT_FORMATS, type ReportFormat } from "../reports/render.ts";
import { buildTables, type Metric, type TableChoice } from "../reports/tables.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkWritableFile } from "../util/paths.ts";

export interface ReportArgs {
  files: string[];
  table: TableChoice;
  metric: Metric;
  format: ReportFormat;
  out?: string;
  published: boolean;
}

export const reportCommand: CommandModule<object, ReportArgs> = {
  command: "report <files...>",
  describe: "The paper's Table 2 / Table 3 from report files, as terminal, markdown, csv, latex, json, html or svg",
  builder: (y) =>
    (y as Argv<object>)
      .positional("files", { type: "string", array: true, demandOption: true, describe: "report.json files, or directories holding report.json (or run folders that do)" })
      .option("table", { type: "string", choices: ["2", "3", "both"] as const, default: "both" as TableChoice, describe: "2: models x task/split; 3: recipes per backbone, best marked" })
      .option("metric", { choices: ["official", "strict"] as const, default: "official" as Metric, describe: "Which parse's accuracy to show" })
      .option("format", { choices: REPORT_FORMATS, default: "terminal" as ReportFormat, describe: "Output format (html: self-contained page with charts; svg: the charts)" })
      .option("out", { type: "string", describe: "Write to this file (atomically) instead of stdout" })
      .option("published", { type: "boolean", default: false, describe: "Add the papers' published numbers as reference rows, labelled (published)" })
      .example("$0 report reports/*/report.json", "both tables in the terminal")
      .example("$0 report reports/ --table 3 --format markdown --published", "Table 3 with the paper's numbers beside")
      .example("$0 report reports/ --format html --out results.html", "a page to open offline") as unknown as Argv<ReportArgs>,
  handler: async (args: ArgumentsCamelCase<ReportArgs>) => {
    if (args.out) await checkWritableFile("--out", args.out);
    const built = buildTables(await loadReports(args.files), { table: args.table, metric: args.metric, published: args.published });
    for (const warning of built.warnings) process.stderr.write(`harness: warning: ${warning}\n`);
    const text = renderReport(built, args.format);
    if (args.out) {
      await writeFileAtomic(args.out, text);
      process.stderr.write(`wrote ${args.out}\n`);
    } else process.stdout.write(text);
  },
};
