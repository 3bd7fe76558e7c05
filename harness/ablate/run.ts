import { existsSync, statSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describeDecoding, resolveDecoding } from "../eval/decoding.ts";
import { EVAL_DEFAULTS, runEval, type EvalConfig, type EvalOutcome } from "../eval/run.ts";
import { loadFinetuneConfig } from "../finetune/config.ts";
import { FINETUNE_DEFAULTS, runFinetune } from "../finetune/run.ts";
import { PROTOCOL_VERSION } from "../prompts/intentionqa.ts";
import { loadReports } from "../reports/load.ts";
import { renderReport, type ReportFormat } from "../reports/render.ts";
import type { EvalReport, TrainingRecord } from "../reports/schema.ts";
import { buildTables } from "../reports/tables.ts";
import { evalOnRun } from "../serve/eval-run.ts";
import { servedFromOf, startServer } from "../serve/server.ts";
import { BUILD_SFT_DEFAULTS, runBuildSft } from "../sft/build.ts";
import { describeOverlap } from "../sft/decontaminate.ts";
import { needsOf } from "../sft/recipes.ts";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { sha256File, writeFileAtomic } from "../util/fs.ts";
import type { Io } from "../util/io.ts";
import { kbFileOf, loadAblationConfig, resolveBackbones, type AblationConfig, type ResolvedBackbone } from "./config.ts";
import { planCells, selectCell, type AblationCell, type CellInputs } from "./plan.ts";
import { describeProblems, preflightAblation, type PreflightProblem } from "./preflight.ts";

export interface AblateOptions {
  config: string;
  dryRun?: boolean;
  /** Run only this cell (backbone/recipe), e.g. one per node or scheduler job. */
  cell?: string;
  /** Only collect the finished cells' reports into the tables; run nothing. */
  collect?: boolean;
  /** IntentionQA data for decontamination and evaluation (else INTENTIONQA_DIR / cache). */
  data?: string;
  cacheDir?: string;
  format?: ReportFormat;
  io?: Io;
}

/** What a finished cell was trained and evaluated with: copied from its report, shown beside its numbers. */
interface CellSettings {
  /** null for zero-shot (no training data) or data not built by build-sft. */
  decontaminated: boolean | null;
  benchmarkOverlap: TrainingRecord["benchmarkOverlap"];
  trainingRecords: number | null;
  decoding: EvalReport["config"]["decoding"];
}

interface CellRecord {
  key: string;
  status: "succeeded" | "failed";
  report?: string;
  settings?: CellSettings;
  error?: string;
  finishedAt: string;
}

function settingsOf(report: EvalReport): CellSettings {
  return {
    decontaminated: report.training?.decontaminated ?? null,
    benchmarkOverlap: report.training?.benchmarkOverlap ?? null,
    trainingRecords: report.training?.records ?? null,
    decoding: report.config.decoding,
  };
}

const CELL_FILE = "cell.json";

async function readCellRecord(cell: AblationCell): Promise<CellRecord | null> {
  try {
    return JSON.parse(await readFile(join(cell.dir, CELL_FILE), "utf8")) as CellRecord;
  } catch {
    return null;
  }
}

/** A cell is reused when it finished with the same inputs and its report is still there. */
function isReusable(cell: AblationCell, record: CellRecord | null): boolean {
  return record?.status === "succeeded" && record.key === cell.key && record.report !== undefined && existsSync(record.report);
}

async function hashInputs(config: AblationConfig, configs: Record<string, string>): Promise<CellInputs> {
  // A missing file has no hash: the preflight names it (and --dry-run marks the cells needing it).
  const hashOf = async (path: string | undefined) => (path && existsSync(path) && statSync(path).isFile() ? sha256File(path) : undefined);
  const [kbSha, unimodalKbSha, criticFileSha] = await Promise.all([
    hashOf(config.data.kb),
    hashOf(config.data.unimodal_kb),
    hashOf(config.data.critic_file),
  ]);
  const backboneConfigSha: Record<string, string> = {};
  for (const [name, path] of Object.entries(configs)) backboneConfigSha[name] = await sha256File(path);
  return {
    backboneConfigSha,
    ...(kbSha ? { kbSha } : {}),
    ...(unimodalKbSha ? { unimodalKbSha } : {}),
    ...(criticFileSha ? { criticFileSha } : {}),
    protocolVersion: PROTOCOL_VERSION,
  };
}

/** A cell's eval: eval's own defaults, with what the ablation config sets over them. */
function evalConfigFor(config: AblationConfig, cell: AblationCell, options: AblateOptions): EvalConfig {
  return {
    ...EVAL_DEFAULTS,
    task: config.eval.tasks,
    mode: config.eval.mode,
    decoding: config.eval.decoding,
    ...(options.data ? { data: options.data } : {}),
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    concurrency: config.eval.concurrency,
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
    ...rows.map((row) => `| ${row.join(" | ")} |`),
    "",
  ].join("\n");
}

/** Whether a preflight problem keeps this cell from running (for --dry-run's MISSING marks). */
function problemConcernsCell(problem: PreflightProblem, cell: AblationCell): boolean {
  const needs = needsOf(cell.recipe);
  if (problem.key === "data.kb") return needs.kb === "kb";
  if (problem.key === "data.unimodal_kb") return needs.kb === "unimodal_kb";
  if (problem.key.startsWith("data.critic")) return needs.criticScores;
  if (problem.key === "backbones") return needs.trains;
  if (problem.key.startsWith("backbones.")) return problem.key.split(".")[1] === cell.backbone.name;
  return true;
}

/** The whole `harness ablate`: plan, run the missing cells, collect the tables. */
export async function runAblate(options: AblateOptions): Promise<{ failed: string[] }> {
  const io = options.io ?? { stdout: process.stdout, stderr: process.stderr };
  const log = (line: string) => io.stderr.write(`${line}\n`);
  const { config } = await loadAblationConfig(options.config);
  const backbones = resolveBackbones(config);
  // Validate every backbone config up front: a typo must not surface hours into the matrix.
  const loadedBackbones = [];
  for (const backbone of backbones) loadedBackbones.push({ ...backbone, finetune: (await loadFinetuneConfig(backbone.config)).config });
  const problems = options.collect
    ? []
    : await preflightAblation(config, loadedBackbones, {
        ...(options.data ? { data: options.data } : {}),
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      });
  const preflightError = (found: readonly PreflightProblem[]) =>
    new HarnessError(
      `ablation preflight (${options.config}): ${found.length} problem(s) before the first cell: ${describeProblems(found)}`,
      { exitCode: 2 },
    );
  const workDir = resolve(config.work_dir);
  const inputs = await hashInputs(config, Object.fromEntries(backbones.map((b) => [b.name, b.config])));
  const cells = planCells(config, backbones, inputs, workDir);
  let selected = cells;
  if (options.cell) {
    const cell = selectCell(cells, options.cell);
    if (!cell)
      throw new HarnessError(`--cell ${options.cell}: no such cell; cells are ${cells.map((c) => c.id).join(", ")}`, { exitCode: 2 });
    selected = [cell];
  }
  const records = new Map<string, CellRecord | null>();
  for (const cell of cells) records.set(cell.id, await readCellRecord(cell));

  if (options.dryRun) {
    io.stdout.write(`ablation plan (${options.config}): ${cells.length} cells, work dir ${workDir}\n`);
    io.stdout.write(await renderPlanSettings(config, backbones));
    io.stdout.write("cells:\n");
    for (const cell of selected) {
      const record = records.get(cell.id)!;
      const reuse = isReusable(cell, record);
      const steps = reuse
        ? `reuse finished cell${record?.settings?.benchmarkOverlap ? `; trained on the pairs of ${describeOverlap(record.settings.benchmarkOverlap)} scored questions` : ""}`
        : !needsOf(cell.recipe).trains
          ? "serve the base model -> eval"
          : `build-sft ${cell.recipe} (data.${needsOf(cell.recipe).kb}${config.data.decontaminate ? ", --decontaminate" : ""}) -> finetune ${cell.runDir} -> serve adapter -> eval`;
      const missing = problems.filter((p) => problemConcernsCell(p, cell)).map((p) => p.key);
      io.stdout.write(
        `  ${cell.id.padEnd(28)} ${reuse ? "done" : "todo"}  ${steps}  [key ${cell.key.slice(0, 12)}]${missing.length > 0 ? `  MISSING: ${[...new Set(missing)].join(", ")}` : ""}\n`,
      );
    }
    const blocking = problems.filter((p) => selected.some((c) => problemConcernsCell(p, c)));
    if (blocking.length > 0) throw preflightError(blocking);
    return { failed: [] };
  }
  // Only what the selected cells need (--cell runs one).
  const blocking = problems.filter((p) => selected.some((c) => problemConcernsCell(p, c)));
  if (blocking.length > 0) throw preflightError(blocking);

  const failed: string[] = [];
  if (!options.collect) {
    const builtRecipes = new Map<string, string>();
    const sftDir = join(workDir, "sft");
    for (const cell of selected) {
      if (isReusable(cell, records.get(cell.id)!)) {
        log(`${cell.id}: finished with the same inputs; reused`);
        continue;
      }
      log(`${cell.id}: running`);
      try {
        let outcome: EvalOutcome;
        if (!needsOf(cell.recipe).trains) {
          outcome = await evalBaseModel(config, cell, options, io);
        } else {
          if (!builtRecipes.has(cell.recipe)) {
            // The preflight has checked the file is there.
            const kb = kbFileOf(config, cell.recipe)!;
            await runBuildSft(
              {
                ...BUILD_SFT_DEFAULTS,
                kb,
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
            builtRecipes.set(cell.recipe, sftDir);
          }
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
          if (trained.status !== "succeeded")
            throw new HarnessError(`fine-tuning ${trained.status}; see ${join(cell.runDir!, "train.log")}`);
          outcome = await evalOnRun({ ...evalConfigFor(config, cell, options) }, { run: cell.runDir! }, io);
        }
        const report = join(outcome.reports[0]!.dir, "report.json");
        const record: CellRecord = {
          key: cell.key,
          status: "succeeded",
          report,
          settings: settingsOf(outcome.reports[0]!.report),
          finishedAt: new Date().toISOString(),
        };
        await writeFileAtomic(join(cell.dir, CELL_FILE), `${JSON.stringify(record, null, 2)}\n`);
        records.set(cell.id, await readCellRecord(cell));
      } catch (error) {
        if (error instanceof HarnessError && error.exitCode === 130) throw error;
        failed.push(cell.id);
        log(`${cell.id}: FAILED: ${errorMessage(error)}`);
        await mkdir(cell.dir, { recursive: true });
        await writeFileAtomic(
          join(cell.dir, CELL_FILE),
          `${JSON.stringify({ key: cell.key, status: "failed", error: errorMessage(error), finishedAt: new Date().toISOString() } satisfies CellRecord, null, 2)}\n`,
        );
      }
    }
  }

  // Collect: every finished cell of the matrix, whoever ran it.
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
    const format = options.format ?? "terminal";
    io.stdout.write(`${renderReport(tables, format)}\n${format === "terminal" || format === "markdown" ? `\n${settings}` : ""}`);
    await writeFileAtomic(join(resolve(config.reports_dir), "ablation.md"), `${renderReport(tables, "markdown")}\n\n${settings}`);
    log(`tables: ${join(resolve(config.reports_dir), "ablation.md")}`);
  }
  if (missing.length > 0) log(`cells not finished: ${missing.join(", ")}`);
  return { failed };
}
