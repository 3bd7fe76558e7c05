import { resolve } from "node:path";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import {
  ANNOTATE_DEFAULTS,
  checkImageUrlTemplate,
  hitTemplate,
  questionsFor,
  renderSheet,
  SAMPLE_ROWS,
  sampleKb,
  SHEET_LAYOUTS,
  type SampleRows,
  type SheetLayout,
} from "../annotate/export.ts";
import { readJudgements, readSheetRelations, type Judgement } from "../annotate/judgements.ts";
import { parseQuestionSpecs } from "../annotate/questions.ts";
import { renderScores, SCORE_FORMATS, type ScoreFormat } from "../annotate/render.ts";
import { scoreJudgements } from "../annotate/score.ts";
import { KB_FORMATS, type KbFormat } from "../kb/read.ts";
import { paperTable1 } from "../published/table1.ts";
import { EXIT, HarnessError } from "../util/errors.ts";
import { forOutputFile } from "../util/escape.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { checkWritableFile, refuseOutputOverInput } from "../util/paths.ts";

interface ExportArgs {
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

interface ScoreArgs {
  files: string[];
  sheet?: string;
  question?: string | string[];
  format: ScoreFormat;
  out?: string;
}

const exportCommand: CommandModule<object, ExportArgs> = {
  command: "export",
  describe: "A seeded, stratified sample of a KB as an annotation sheet (CSV, or an MTurk batch file)",
  builder: (y: Argv) =>
    y
      .option("kb", { type: "string", demandOption: true, describe: "Knowledge base: MIND CSV (.csv) or distill JSONL (.jsonl)" })
      .option("out", { type: "string", demandOption: true, describe: "The sheet to write (CSV)" })
      .option("rows", {
        choices: SAMPLE_ROWS,
        default: ANNOTATE_DEFAULTS.rows,
        describe:
          "kept: intentions the role-aware filter accepted (Table 1); rejected: the ones it rejected, with its rationale (Appendix C); all",
      })
      .option("per-relation", {
        type: "number",
        describe: `Items per relation (stratified; default ${ANNOTATE_DEFAULTS.perRelation}, or ${ANNOTATE_DEFAULTS.rejectedTotal} in all with --rows rejected)`,
      })
      .option("total", { type: "number", describe: "Items over the whole KB instead of per relation" })
      .option("seed", {
        type: "number",
        default: ANNOTATE_DEFAULTS.seed,
        describe: "Sampling seed: the same seed and KB give a byte-identical sheet",
      })
      .option("layout", {
        choices: SHEET_LAYOUTS,
        default: ANNOTATE_DEFAULTS.layout,
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
      .option("skip-bad-rows", { type: "boolean", default: false, describe: "Skip malformed KB rows instead of failing on the first" })
      .conflicts("per-relation", "total")
      .example("$0 annotate export --kb kb/mind_kb.csv --out sheet.csv", "250 kept intentions per relation, seed 42")
      .example(
        "$0 annotate export --kb kb/mind_kb.jsonl --rows rejected --out rejected.csv",
        "200 rejected intentions with the filter's rationale (Appendix C)",
      )
      .example(
        "$0 annotate export --kb kb/mind_kb.csv --layout mturk --image-url-template 'https://cdn.example.com/{id}.jpg' --hit-template hit.html --out batch.csv",
        "an MTurk batch",
      ) as unknown as Argv<ExportArgs>,
  handler: async (args: ArgumentsCamelCase<ExportArgs>) => {
    checkImageUrlTemplate(args.imageUrlTemplate);
    // Every path it writes, checked before the KB is read: neither may be the KB, nor each other.
    await checkWritableFile("--out", args.out);
    await refuseOutputOverInput({ label: "--out", path: args.out }, [{ label: "--kb", path: args.kb }]);
    if (args.hitTemplate) {
      await checkWritableFile("--hit-template", args.hitTemplate);
      await refuseOutputOverInput({ label: "--hit-template", path: args.hitTemplate }, [
        { label: "--kb", path: args.kb },
        { label: "--out", path: args.out },
      ]);
    }
    const total = args.total ?? (args.rows === "rejected" && args.perRelation === undefined ? ANNOTATE_DEFAULTS.rejectedTotal : undefined);
    const sample = await sampleKb({
      kb: args.kb,
      rows: args.rows,
      seed: args.seed,
      ...(total !== undefined ? { total } : { perRelation: args.perRelation ?? ANNOTATE_DEFAULTS.perRelation }),
      ...(args.kbFormat ? { format: args.kbFormat } : {}),
      skipBadRows: args.skipBadRows,
    });
    const questions = questionsFor(args.rows);
    const options = {
      layout: args.layout,
      questions,
      ...(args.imageUrlTemplate !== undefined ? { imageUrlTemplate: args.imageUrlTemplate } : {}),
    };
    await writeFileAtomic(resolve(args.out), renderSheet(sample.items, options));
    if (args.hitTemplate) await writeFileAtomic(resolve(args.hitTemplate), hitTemplate(questions, args.imageUrlTemplate !== undefined));
    const eligible = Object.values(sample.population).reduce((a, b) => a + b, 0);
    process.stdout.write(
      `${sample.items.length} item(s) from ${eligible} ${args.rows === "all" ? "" : `${args.rows} `}row(s) in ${Object.keys(sample.population).length} relation(s), seed ${args.seed} -> ${args.out}\n`,
    );
    if (sample.short.length > 0)
      process.stderr.write(
        `note: fewer eligible rows than asked in ${sample.short.map((r) => `${r} (${sample.population[r]})`).join(", ")}: all of them are in the sheet\n`,
      );
    process.stdout.write(
      `questions: ${questions.join(", ")}${args.layout === "csv" ? " (fill one copy per annotator, or write item_id,annotator,question,label rows)" : ""}\n`,
    );
  },
};

const scoreCommand: CommandModule<object, ScoreArgs> = {
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
        describe: "NAME=label1,label2,... a question's scale, first label positive (repeatable; replaces the built-in questions)",
      })
      .option("format", { choices: SCORE_FORMATS, default: "terminal" as ScoreFormat, describe: "Output format" })
      .option("out", { type: "string", describe: "Write to this file instead of stdout" })
      .example("$0 annotate score judgements/*.csv --sheet sheet.csv", "Table 1's human columns beside the paper's")
      .example(
        "$0 annotate score ratings.csv --question rating=1,2,3,4,5 --format json",
        "agreement on a scale of one's own",
      ) as unknown as Argv<ScoreArgs>,
  handler: async (args: ArgumentsCamelCase<ScoreArgs>) => {
    if (args.out) {
      await checkWritableFile("--out", args.out);
      await refuseOutputOverInput({ label: "--out", path: args.out }, [
        ...args.files.map((file) => ({ label: "judgements", path: file })),
        args.sheet ? { label: "--sheet", path: args.sheet } : undefined,
      ]);
    }
    const questions = parseQuestionSpecs(args.question === undefined ? undefined : [args.question].flat());
    const names = questions.map((q) => q.name);
    const judgements: Judgement[] = [];
    for (const file of args.files) judgements.push(...(await readJudgements(file, names)).judgements);
    const sheet = args.sheet ? { file: args.sheet, relations: await readSheetRelations(args.sheet) } : undefined;
    const result = scoreJudgements({ judgements, questions, ...(sheet ? { sheet } : {}) });
    const text = renderScores(result, paperTable1(), args.format);
    if (args.out) {
      await writeFileAtomic(resolve(args.out), forOutputFile(text, args.format));
      process.stderr.write(`wrote ${args.out}\n`);
    } else process.stdout.write(text);
  },
};

export const annotateCommand: CommandModule = {
  command: "annotate <command>",
  describe: "Human evaluation: export an annotation sheet from a KB, score the judgements (Table 1, agreement)",
  builder: (y: Argv) =>
    y
      .command(exportCommand as unknown as CommandModule)
      .command(scoreCommand as unknown as CommandModule)
      .demandCommand(1, "name a subcommand: export or score"),
  handler: () => {
    throw new HarnessError("name a subcommand: export or score", { exitCode: EXIT.usage });
  },
};
