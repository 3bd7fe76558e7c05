import { resolve } from "node:path";
import { paperTable1 } from "../published/table1.ts";
import { forOutputFile } from "../util/escape.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { abortOnStopSignal } from "../util/interrupt.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { checkWritableFile, refuseOutputOverInput } from "../util/paths.ts";
import { ANNOTATE_DEFAULTS, type AnnotateExportConfig, type AnnotateScoreConfig } from "./defaults.ts";
import {
  checkImageUrlTemplate,
  hitTemplate,
  questionsFor,
  renderSheet,
  sampleKb,
  type SampleOptions,
  type SampleResult,
} from "./export.ts";
import { readJudgements, readSheetRelations, type Judgement } from "./judgements.ts";
import { parseQuestionSpecs, type Question } from "./questions.ts";
import { renderScores } from "./render.ts";
import { scoreJudgements, type ScoreInput, type ScoreResult } from "./score.ts";

/**
 * `harness annotate export` and `harness annotate score` as stages: each takes its config and the
 * streams it prints to, owns Ctrl-C (exit 130, nothing written after it) and prints its summary.
 */

export interface AnnotateExportOutcome extends SampleResult {
  /** The question columns the sheet asks. */
  questions: readonly string[];
}

export async function runAnnotateExport(config: AnnotateExportConfig, io: Io = processIo()): Promise<AnnotateExportOutcome> {
  const sampling = planExport(config);
  await checkExportOutputs(config);
  const interrupt = abortOnStopSignal();
  try {
    const sample = await sampleKb({ ...sampling, signal: interrupt.signal });
    const questions = questionsFor(config.rows);
    interrupt.signal.throwIfAborted();
    await writeExport(config, sample, questions);
    summariseExport(config, sample, questions, io);
    return { ...sample, questions };
  } finally {
    interrupt.release();
  }
}

/** The sample to draw: --rows rejected with no size is Appendix C's 200 in all, else a size per relation. */
function planExport(config: AnnotateExportConfig): SampleOptions {
  checkImageUrlTemplate(config.imageUrlTemplate);
  const total =
    config.total ?? (config.rows === "rejected" && config.perRelation === undefined ? ANNOTATE_DEFAULTS.rejectedTotal : undefined);
  return {
    kb: config.kb,
    rows: config.rows,
    seed: config.seed,
    ...(total !== undefined ? { total } : { perRelation: config.perRelation ?? ANNOTATE_DEFAULTS.export.perRelation }),
    ...(config.kbFormat ? { format: config.kbFormat } : {}),
    skipBadRows: config.skipBadRows,
  };
}

/** Every path it writes, checked before the KB is read: neither may be the KB, nor each other. */
async function checkExportOutputs(config: AnnotateExportConfig): Promise<void> {
  await checkWritableFile("--out", config.out);
  await refuseOutputOverInput({ label: "--out", path: config.out }, [{ label: "--kb", path: config.kb }]);
  if (config.hitTemplate) {
    await checkWritableFile("--hit-template", config.hitTemplate);
    await refuseOutputOverInput({ label: "--hit-template", path: config.hitTemplate }, [
      { label: "--kb", path: config.kb },
      { label: "--out", path: config.out },
    ]);
  }
}

async function writeExport(config: AnnotateExportConfig, sample: SampleResult, questions: readonly string[]): Promise<void> {
  const sheet = {
    layout: config.layout,
    questions,
    ...(config.imageUrlTemplate !== undefined ? { imageUrlTemplate: config.imageUrlTemplate } : {}),
  };
  await writeFileAtomic(resolve(config.out), renderSheet(sample.items, sheet));
  if (config.hitTemplate) await writeFileAtomic(resolve(config.hitTemplate), hitTemplate(questions, config.imageUrlTemplate !== undefined));
}

function summariseExport(config: AnnotateExportConfig, sample: SampleResult, questions: readonly string[], io: Io): void {
  const eligible = Object.values(sample.population).reduce((a, b) => a + b, 0);
  io.stdout.write(
    `${sample.items.length} item(s) from ${eligible} ${config.rows === "all" ? "" : `${config.rows} `}row(s) in ${Object.keys(sample.population).length} relation(s), seed ${config.seed} -> ${config.out}\n`,
  );
  if (sample.short.length > 0)
    stderrLog(io)(
      `note: fewer eligible rows than asked in ${sample.short.map((r) => `${r} (${sample.population[r]})`).join(", ")}: all of them are in the sheet`,
    );
  io.stdout.write(
    `questions: ${questions.join(", ")}${config.layout === "csv" ? " (fill one copy per annotator, or write item_id,annotator,question,label rows)" : ""}\n`,
  );
}

export async function runAnnotateScore(config: AnnotateScoreConfig, io: Io = processIo()): Promise<ScoreResult> {
  await checkScoreOutputs(config);
  const questions = parseQuestionSpecs(config.questions === undefined ? undefined : [...config.questions]);
  const interrupt = abortOnStopSignal();
  try {
    const input = await readScoreInput(config, questions, interrupt.signal);
    const result = scoreJudgements(input);
    interrupt.signal.throwIfAborted();
    await writeScores(config, result, io);
    return result;
  } finally {
    interrupt.release();
  }
}

/** --out may be none of the files it reads. */
async function checkScoreOutputs(config: AnnotateScoreConfig): Promise<void> {
  if (!config.out) return;
  await checkWritableFile("--out", config.out);
  await refuseOutputOverInput({ label: "--out", path: config.out }, [
    ...config.files.map((file) => ({ label: "judgements", path: file })),
    config.sheet ? { label: "--sheet", path: config.sheet } : undefined,
  ]);
}

/** The judgement files in order, then the sheet's item relations. */
async function readScoreInput(config: AnnotateScoreConfig, questions: readonly Question[], signal: AbortSignal): Promise<ScoreInput> {
  const names = questions.map((q) => q.name);
  const judgements: Judgement[] = [];
  for (const file of config.files) {
    signal.throwIfAborted();
    judgements.push(...(await readJudgements(file, names)).judgements);
  }
  signal.throwIfAborted();
  const sheet = config.sheet ? { file: config.sheet, relations: await readSheetRelations(config.sheet) } : undefined;
  return { judgements, questions, ...(sheet ? { sheet } : {}) };
}

/** The scores beside the paper's Table 1: to --out (saying so on stderr), else to stdout. */
async function writeScores(config: AnnotateScoreConfig, result: ScoreResult, io: Io): Promise<void> {
  const text = renderScores(result, paperTable1(), config.format);
  if (config.out) {
    await writeFileAtomic(resolve(config.out), forOutputFile(text, config.format));
    stderrLog(io)(`wrote ${config.out}`);
  } else io.stdout.write(text);
}
