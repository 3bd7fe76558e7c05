import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describeDecoding, resolveDecoding } from "../eval/decoding.ts";
import { EVAL_DEFAULTS, type EvalConfig } from "../eval/defaults.ts";
import { runEval, type EvalOutcome } from "../eval/run.ts";
import { loadFinetuneConfig } from "../finetune/config.ts";
import { FINETUNE_DEFAULTS } from "../finetune/defaults.ts";
import { runFinetune } from "../finetune/run.ts";
import { loadReports } from "../reports/load.ts";
import { renderReport, type ReportFormat } from "../reports/render.ts";
import type { EvalReport } from "../reports/schema.ts";
import { buildTables } from "../reports/tables.ts";
import { evalOnRun } from "../serve/eval-run.ts";
import { servedFromOf, startServer } from "../serve/server.ts";
import { BUILD_SFT_DEFAULTS } from "../sft/defaults.ts";
import { buildSftDatasets } from "../sft/run.ts";
import { describeOverlap } from "../sft/decontaminate.ts";
import { needsOf } from "../sft/recipes.ts";
import { EXIT, errorMessage, HarnessError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { acquireRunLock, type RunLock } from "../util/run-lock.ts";
import { processIo, stderrLog, type Io } from "../util/io.ts";
import { parseConcurrency } from "../util/request-flags.ts";
import { ABLATE_DEFAULTS, type AblateOptions } from "./defaults.ts";
import { kbFileOf, type AblationConfig, type ResolvedBackbone } from "./config.ts";
import {
  CELL_FILE,
  type AblationPlan,
  type CellRecord,
  checkPreflight,
  isReusable,
  planAblation,
  problemConcernsCell,
  readCellRecord,
  settingsOf,
} from "./matrix.ts";
import type { AblationCell } from "./plan.ts";
import { runAblateStatus } from "./status.ts";
import { submitAblation } from "./submit.ts";
import { escapeMarkdown } from "../util/escape.ts";

/** A cell's eval: eval's own defaults, with what the ablation config sets over them. */
function evalConfigFor(config: AblationConfig, cell: AblationCell, options: AblateOptions): EvalConfig {
  return {
    ...EVAL_DEFAULTS,
    task: config.eval.tasks,
    mode: config.eval.mode,
    decoding: config.eval.decoding,
    ...(options.data ? { data: options.data } : {}),
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...parseConcurrency(config.eval.concurrency, "eval.concurrency"),
    ...(config.eval.limit ? { limit: config.eval.limit } : {}),
    seed: config.eval.seed,
    out: resolve(config.reports_dir),
    runId: cell.id,
    labels: { backbone: cell.backbone.name, recipe: cell.recipe },
    progress: false,
  };
}

/** zero-shot: the backbone as released, served without an adapter. */
async function evalBaseModel(config: AblationConfig, cell: AblationCell, options: AblateOptions, io: Io): Promise<EvalOutcome> {
  const { config: ft } = await loadFinetuneConfig(cell.backbone.config);
  await mkdir(cell.dir, { recursive: true });
  const target = {
    baseModel: cell.backbone.modelPath ?? ft.model.name_or_path,
    template: ft.model.template,
    loraRank: ft.lora.rank,
    name: cell.id,
    inferDtype: ft.serve.infer_dtype,
    engine: ft.serve.engine,
  };
  const server = await startServer({ target, workDir: cell.dir, log: (line) => io.stderr.write(`${line}\n`) });
  try {
    const servedFrom = await servedFromOf(target, server.engine);
    // model-default: the backbone's own generation config, as for its fine-tuned cells.
    return await runEval(
      {
        ...evalConfigFor(config, cell, options),
        model: [`openai:${server.modelName}`],
        baseUrl: server.baseUrl,
        servedFrom,
        generationConfig: target.baseModel,
      },
      io,
    );
  } finally {
    await server.stop();
  }
}

/** The plan's settings block: the paper's settings, and what this config uses. */
async function renderPlanSettings(config: AblationConfig, backbones: readonly ResolvedBackbone[]): Promise<string> {
  const lines = ["settings:"];
  lines.push(
    config.data.decontaminate
      ? "  training data: benchmark pairs DROPPED (data.decontaminate: true; not the paper's setting, which trained on all MIND intentions)"
      : "  training data: all intentions, benchmark pairs kept (data.decontaminate: false, the paper's setting)",
  );
  lines.push("    every build records how many scored IntentionQA questions' product pairs it holds (n of 2245 / n of 2143)");
  lines.push(
    `  decoding: ${config.eval.decoding} (eval.decoding)${config.eval.decoding === "model-default" ? ": each backbone's generation_config.json, as the paper's Appendix E" : ": IntentionQA's official settings (the paper used model-default)"}; sent explicitly in every request`,
  );
  for (const backbone of backbones) {
    const { config: ft } = await loadFinetuneConfig(backbone.config);
    const model = backbone.modelPath ?? ft.model.name_or_path;
    let line: string;
    try {
      line = describeDecoding(resolveDecoding({ preset: config.eval.decoding, mode: config.eval.mode, model }));
    } catch (error) {
      // A laptop planning for a cluster usually has no weights: the run reads them after loading the model.
      line = /no generation config for/.test(errorMessage(error))
        ? `read from ${model}'s generation_config.json when its cells are evaluated (not on this machine; \`harness model fetch ${model}\` shows it now)`
        : `cannot be resolved: ${errorMessage(error)}`;
    }
    lines.push(`    ${backbone.name}: ${line}`);
  }
  lines.push(
    `  eval: tasks ${config.eval.tasks}, mode ${config.eval.mode}, seed ${config.eval.seed}${config.eval.limit ? `, limit ${config.eval.limit} (a partial run)` : ""}`,
  );
  return `${lines.join("\n")}\n`;
}

/** One row per finished cell: its training data's benchmark overlap and its decoding, as its report records them. */
export function renderCellSettings(cells: ReadonlyArray<{ id: string; report: EvalReport }>, config: AblationConfig): string {
  const overlap = (r: EvalReport, task: "understanding" | "utilization") => {
    const o = r.training?.benchmarkOverlap?.[task];
    return o ? `${o.questions} of ${o.scored}` : r.training ? "not counted" : "—";
  };
  const decoding = (d: EvalReport["config"]["decoding"]) =>
    `${d.preset ?? "official"}: temperature ${d.temperature}, top_p ${d.topP ?? "(server default)"}, max_tokens ${d.maxTokens}`;
  const header = ["cell", "decontaminated", "understanding Qs trained on", "utilization Qs trained on", "decoding"];
  const rows = cells.map(({ id, report }) => [
    id,
    report.training
      ? report.training.decontaminated === null
        ? "unknown"
        : report.training.decontaminated
          ? "yes"
          : "no"
      : "— (no training)",
    overlap(report, "understanding"),
    overlap(report, "utilization"),
    decoding(report.config.decoding),
  ]);
  return [
    `Settings (data.decontaminate: ${config.data.decontaminate}; eval.decoding: ${config.eval.decoding}). "Qs trained on": scored IntentionQA questions whose product pair is in the cell's training data.`,
    "",
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(escapeMarkdown).join(" | ")} |`),
    "",
  ].join("\n");
}

/** --dry-run: the settings and, per selected cell, done or what is left to do (and what is missing for it). */
async function printPlan(plan: AblationPlan, configFile: string, io: Io): Promise<void> {
  const { config, cells, selected, records, problems } = plan;
  io.stdout.write(`ablation plan (${configFile}): ${cells.length} cells, work dir ${plan.workDir}\n`);
  io.stdout.write(await renderPlanSettings(config, plan.backbones));
  io.stdout.write("cells:\n");
  for (const cell of selected) {
    const record = records.get(cell.id)!;
    const reuse = isReusable(cell, record);
    const needs = needsOf(cell.recipe);
    const steps = reuse
      ? `reuse finished cell${record?.settings?.benchmarkOverlap ? `; trained on the pairs of ${describeOverlap(record.settings.benchmarkOverlap)} scored questions` : ""}`
      : !needs.trains
        ? "serve the base model -> eval"
        : `build-sft ${cell.recipe} (data.${needs.kb}${config.data.decontaminate ? ", --decontaminate" : ""}) -> finetune ${cell.runDir} -> serve adapter -> eval`;
    const missing = problems.filter((p) => problemConcernsCell(p, cell)).map((p) => p.key);
    io.stdout.write(
      `  ${cell.id.padEnd(28)} ${reuse ? "done" : "todo"}  ${steps}  [key ${cell.key.slice(0, 12)}]${missing.length > 0 ? `  MISSING: ${[...new Set(missing)].join(", ")}` : ""}\n`,
    );
  }
}

/** Runs every selected cell not finished with the same inputs; a failed cell is recorded and the next one runs. Returns the failed cells. */
async function runCells(plan: AblationPlan, options: AblateOptions, io: Io): Promise<string[]> {
  const log = stderrLog(io);
  const failed: string[] = [];
  for (const cell of plan.selected) {
    if (isReusable(cell, plan.records.get(cell.id)!)) {
      log(`${cell.id}: finished with the same inputs; reused`);
      continue;
    }
    // One writer per cell: another ablate running this cell (a second node, a second shell) keeps it.
    let lock: RunLock;
    try {
      lock = await acquireRunLock(`cell ${cell.id}:`, cell.dir, "ablate");
    } catch (error) {
      if (!(error instanceof HarnessError)) throw error;
      failed.push(cell.id);
      log(`${cell.id}: NOT RUN: ${errorMessage(error)}`);
      continue;
    }
    log(`${cell.id}: running`);
    try {
      let outcome: EvalOutcome;
      if (!needsOf(cell.recipe).trains) outcome = await evalBaseModel(plan.config, cell, options, io);
      else {
        // Each cell builds its training data in its own folder: cells running at the same time
        // (an array job, --cell on several nodes) would otherwise share one build-sft --out,
        // whose lock stops the second build.
        const sftDir = join(cell.dir, "sft");
        await buildTrainingData(plan.config, cell, sftDir, options, log);
        await trainCell(cell, sftDir, io);
        outcome = await evalOnRun({ ...evalConfigFor(plan.config, cell, options) }, { run: cell.runDir! }, io);
      }
      await recordSuccess(cell, outcome);
      plan.records.set(cell.id, await readCellRecord(cell));
    } catch (error) {
      if (error instanceof HarnessError && error.exitCode === EXIT.interrupted) throw error;
      failed.push(cell.id);
      log(`${cell.id}: FAILED: ${errorMessage(error)}`);
      await recordFailure(cell, error);
    } finally {
      lock.release();
    }
  }
  return failed;
}

/** A training recipe's data, by build-sft's own defaults with what the ablation config sets over them. */
async function buildTrainingData(
  config: AblationConfig,
  cell: AblationCell,
  sftDir: string,
  options: AblateOptions,
  log: (line: string) => void,
): Promise<void> {
  await buildSftDatasets(
    {
      ...BUILD_SFT_DEFAULTS,
      // The preflight has checked the file is there.
      kb: kbFileOf(config, cell.recipe)!,
      recipes: [cell.recipe],
      out: sftDir,
      decontaminate: config.data.decontaminate,
      // The overlap counts need the benchmark; the cells' evals download it anyway.
      download: true,
      criticThreshold: config.data.critic_threshold,
      ...(config.data.critic_column ? { criticColumn: config.data.critic_column } : {}),
      ...(config.data.critic_file ? { criticFile: config.data.critic_file } : {}),
      ...(options.data ? { data: options.data } : {}),
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    },
    { log },
  );
}

/** The cell's LoRA run, by finetune's own defaults; anything but success fails the cell. */
async function trainCell(cell: AblationCell, sftDir: string, io: Io): Promise<void> {
  const trained = await runFinetune(
    {
      ...FINETUNE_DEFAULTS,
      config: cell.backbone.config,
      recipe: cell.recipe,
      datasetDir: sftDir,
      runDir: cell.runDir!,
      ...(cell.backbone.modelPath ? { modelPath: cell.backbone.modelPath } : {}),
      ...(cell.backbone.maxSteps ? { maxSteps: cell.backbone.maxSteps } : {}),
      progress: false,
    },
    io,
  );
  if (trained.status !== "succeeded") throw new HarnessError(`fine-tuning ${trained.status}; see ${join(cell.runDir!, "train.log")}`);
}

async function recordSuccess(cell: AblationCell, outcome: EvalOutcome): Promise<void> {
  const { dir, report } = outcome.reports[0]!;
  const record: CellRecord = {
    key: cell.key,
    status: "succeeded",
    report: join(dir, "report.json"),
    settings: settingsOf(report),
    finishedAt: new Date().toISOString(),
  };
  await writeFileAtomic(join(cell.dir, CELL_FILE), `${JSON.stringify(record, null, 2)}\n`);
}

async function recordFailure(cell: AblationCell, error: unknown): Promise<void> {
  const record: CellRecord = { key: cell.key, status: "failed", error: errorMessage(error), finishedAt: new Date().toISOString() };
  await mkdir(cell.dir, { recursive: true });
  await writeFileAtomic(join(cell.dir, CELL_FILE), `${JSON.stringify(record, null, 2)}\n`);
}

/** Every finished cell of the matrix, whoever ran it, into the Table 3 layout (printed, and ablation.md). */
async function collectTables(plan: AblationPlan, format: ReportFormat, io: Io): Promise<void> {
  const log = stderrLog(io);
  const { cells, records, config } = plan;
  const finished = cells.filter((c) => isReusable(c, records.get(c.id)!));
  const missing = cells.filter((c) => !finished.includes(c)).map((c) => c.id);
  if (finished.length > 0) {
    const reports = await loadReports(finished.map((c) => records.get(c.id)!.report!));
    const tables = buildTables(reports, { table: "3" });
    // What each number was trained and decoded with, under the table (the terminal and markdown outputs).
    const settings = renderCellSettings(
      finished.map((c, i) => ({ id: c.id, report: reports[i]!.report })),
      config,
    );
    // A table with cells missing says so above it: a partial Table 3 never looks complete.
    const partial =
      missing.length > 0
        ? `PARTIAL: ${finished.length} of ${cells.length} cells finished; not in the table: ${missing.join(", ")}\n\n`
        : "";
    const textual = format === "terminal" || format === "markdown";
    io.stdout.write(`${textual ? partial : ""}${renderReport(tables, format)}\n${textual ? `\n${settings}` : ""}`);
    const file = join(resolve(config.reports_dir), "ablation.md");
    await writeFileAtomic(file, `${partial}${renderReport(tables, "markdown")}\n\n${settings}`);
    log(`tables: ${file}`);
  }
  if (missing.length > 0) log(`cells not finished: ${missing.join(", ")}`);
}

/** The whole `harness ablate`: plan, run the missing cells, collect the tables (or, with --slurm, submit them; with --status, show them). */
export async function runAblate(options: AblateOptions, io: Io = processIo()): Promise<{ failed: string[] }> {
  if (options.slurm) {
    await submitAblation(options, io);
    return { failed: [] };
  }
  if (options.status) {
    await runAblateStatus(options, io);
    return { failed: [] };
  }
  const plan = await planAblation(options);
  if (options.dryRun) {
    await printPlan(plan, options.config, io);
    checkPreflight(plan, options.config);
    return { failed: [] };
  }
  checkPreflight(plan, options.config);
  const failed = options.collect ? [] : await runCells(plan, options, io);
  await collectTables(plan, options.format ?? ABLATE_DEFAULTS.format, io);
  return { failed };
}
