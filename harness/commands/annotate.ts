import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import {
  ANNOTATE_DEFAULTS,
  type AnnotateExportConfig,
  type AnnotateScoreConfig,
  SAMPLE_ROWS,
  type SampleRows,
  SCORE_FORMATS,
  type ScoreFormat,
  SHEET_LAYOUTS,
  type SheetLayout,
} from "../annotate/defaults.ts";
import { KB_FORMATS, type KbFormat } from "../kb/schema.ts";
import { commandGroup } from "./group.ts";

interface ExportFlags {
  kb: string;
  out: string;
  rows: SampleRows;
  perRelation?: number;
  total?: number;
  seed: number;
  layout: SheetLayout;
  imageUrlTemplate?: string;
  hitTemplate?: string;
  kbFormat?: KbFormat;
  skipBadRows: boolean;
}

interface ScoreFlags {
  files: string[];
  sheet?: string;
  question?: string | string[];
  format: ScoreFormat;
  out?: string;
}

const exportCommand: CommandModule<object, ExportFlags> = {
  command: "export",
  describe: "A seeded, stratified sample of a KB as an annotation sheet (CSV, or an MTurk batch file)",
  builder: (y: Argv) =>
    y
      .option("kb", { type: "string", demandOption: true, describe: "Knowledge base: MIND CSV (.csv) or distill JSONL (.jsonl)" })
      .option("out", { type: "string", demandOption: true, describe: "The sheet to write (CSV)" })
      .option("rows", {
        choices: SAMPLE_ROWS,
        default: ANNOTATE_DEFAULTS.export.rows,
        describe:
          "kept: intentions the role-aware filter accepted (Table 1); rejected: the ones it rejected, with its rationale (Appendix C); all",
      })
      .option("per-relation", {
        type: "number",
        describe: `Items per relation (stratified; default ${ANNOTATE_DEFAULTS.export.perRelation}, or ${ANNOTATE_DEFAULTS.rejectedTotal} in all with --rows rejected)`,
      })
      .option("total", { type: "number", describe: "Items over the whole KB instead of per relation" })
      .option("seed", {
        type: "number",
        default: ANNOTATE_DEFAULTS.export.seed,
        describe: "Sampling seed: the same seed and KB give a byte-identical sheet",
      })
      .option("layout", {
        choices: SHEET_LAYOUTS,
        default: ANNOTATE_DEFAULTS.export.layout,
        describe: "csv: a sheet with annotator and question columns to fill; mturk: an MTurk batch input file, one row per HIT",
      })
      .option("image-url-template", {
        type: "string",
        describe: "Link product images: {id} becomes the product id (https://cdn.example.com/{id}.jpg, or images/{id}.jpg)",
      })
      .option("hit-template", {
        type: "string",
        describe: "Also write an MTurk HIT template (HTML) with the sheet's ${variables} and one radio group per question",
      })
      .option("kb-format", { choices: KB_FORMATS, describe: "KB format, overriding the extension" })
      .option("skip-bad-rows", {
        type: "boolean",
        default: ANNOTATE_DEFAULTS.export.skipBadRows,
        describe: "Skip malformed KB rows instead of failing on the first",
      })
      .conflicts("per-relation", "total")
      .example("$0 annotate export --kb kb/mind_kb.csv --out sheet.csv", "250 kept intentions per relation, seed 42")
      .example(
        "$0 annotate export --kb kb/mind_kb.jsonl --rows rejected --out rejected.csv",
        "200 rejected intentions with the filter's rationale (Appendix C)",
      )
      .example(
        "$0 annotate export --kb kb/mind_kb.csv --layout mturk --image-url-template 'https://cdn.example.com/{id}.jpg' --hit-template hit.html --out batch.csv",
        "an MTurk batch",
      ) as unknown as Argv<ExportFlags>,
  handler: async (args: ArgumentsCamelCase<ExportFlags>) => {
    const config: AnnotateExportConfig = {
      kb: args.kb,
      ...(args.kbFormat ? { kbFormat: args.kbFormat } : {}),
      skipBadRows: args.skipBadRows,
      out: args.out,
      rows: args.rows,
      ...(args.perRelation !== undefined ? { perRelation: args.perRelation } : {}),
      ...(args.total !== undefined ? { total: args.total } : {}),
      seed: args.seed,
      layout: args.layout,
      ...(args.imageUrlTemplate !== undefined ? { imageUrlTemplate: args.imageUrlTemplate } : {}),
      ...(args.hitTemplate !== undefined ? { hitTemplate: args.hitTemplate } : {}),
    };
    // Loaded when it runs, not for --help: the KB readers.
    const { runAnnotateExport } = await import("../annotate/run.ts");
    await runAnnotateExport(config);
  },
};

const scoreCommand: CommandModule<object, ScoreFlags> = {
  command: "score <files..>",
  describe:
    "Majority-vote rates per relation and agreement (pairwise, Fleiss' kappa, Krippendorff's alpha) from judgements, beside the paper's Table 1",
  builder: (y: Argv) =>
    y
      .positional("files", {
        type: "string",
        array: true,
        describe: "Judgement CSVs (item_id,annotator,question,label; filled sheets; MTurk results), concatenated",
      })
      .option("sheet", { type: "string", describe: "The exported sheet: item relations come from it, and every judged item must be in it" })
      // Not an array option: yargs would swallow the files after it; repeating it still collects them all.
      .option("question", {
        type: "string",
        describe:
          "NAME[:nominal|ordinal|interval]=label1,label2,... a question's scale, first label positive; ordinal/interval pick Krippendorff's alpha metric (labels in rank order; interval labels are numbers) (repeatable; replaces the built-in questions)",
      })
      .option("format", { choices: SCORE_FORMATS, default: ANNOTATE_DEFAULTS.score.format, describe: "Output format" })
      .option("out", { type: "string", describe: "Write to this file instead of stdout" })
      .example("$0 annotate score judgements/*.csv --sheet sheet.csv", "Table 1's human columns beside the paper's")
      .example(
        "$0 annotate score ratings.csv --question rating:ordinal=1,2,3,4,5 --format json",
        "agreement on a 1-5 rating scale of one's own (ordinal alpha)",
      ) as unknown as Argv<ScoreFlags>,
  handler: async (args: ArgumentsCamelCase<ScoreFlags>) => {
    const config: AnnotateScoreConfig = {
      files: args.files,
      ...(args.sheet !== undefined ? { sheet: args.sheet } : {}),
      // Repeated --question flags arrive as an array, a single one as a string.
      ...(args.question !== undefined ? { questions: [args.question].flat() } : {}),
      format: args.format,
      ...(args.out !== undefined ? { out: args.out } : {}),
    };
    const { runAnnotateScore } = await import("../annotate/run.ts");
    await runAnnotateScore(config);
  },
};

export const annotateCommand = commandGroup({
  command: "annotate <command>",
  describe: "Human evaluation: export an annotation sheet from a KB, score the judgements (Table 1, agreement)",
  subcommands: [exportCommand, scoreCommand],
});
