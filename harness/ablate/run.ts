import { existsSync, statSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runEval, type EvalArgs, type EvalOutcome } from "../eval/run.ts";
import { loadFinetuneConfig } from "../finetune/config.ts";
import { runFinetune } from "../finetune/run.ts";
import { PROTOCOL_VERSION } from "../prompts/intentionqa.ts";
import { loadReports } from "../reports/load.ts";
import { renderReport, type ReportFormat } from "../reports/render.ts";
import { buildTables } from "../reports/tables.ts";
import { evalOnRun } from "../serve/eval-run.ts";
import { servedFromOf, startServer } from "../serve/server.ts";
import { runBuildSft } from "../sft/build.ts";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { sha256File, writeFileAtomic } from "../util/fs.ts";
import { loadAblationConfig, resolveBackbones, type AblationConfig } from "./config.ts";
import { planCells, selectCell, type AblationCell, type CellInputs } from "./plan.ts";
import { describeProblems, preflightAblation, type PreflightProblem } from "./preflight.ts";

type Io = { stdout: NodeJS.WritableStream; stderr: NodeJS.WriteStream };

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

interface CellRecord {
  key: string;
  status: "succeeded" | "failed";
  report?: string;
  error?: string;
  finishedAt: string;
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
  const [kbSha, unimodalKbSha, criticFileSha] = await Promise.all([hashOf(config.data.kb), hashOf(config.data.unimodal_kb), hashOf(config.data.critic_file)]);
  const backboneConfigSha: Record<string, string> = {};
  for (const [name, path] of Object.entries(configs)) backboneConfigSha[name] = await sha256File(path);
  return { backboneConfigSha, ...(kbSha ? { kbSha } : {}), ...(unimodalKbSha ? { unimodalKbSha } : {}), ...(criticFileSha ? { criticFileSha } : {}), protocolVersion: PROTOCOL_VERSION };
}

function evalArgsFor(config: AblationConfig, cell: AblationCell, options: AblateOptions): EvalArgs {
  return {
    task: config.eval.tasks,
    mode: config.eval.mode,
    topLogprobs: 20,
    ...(options.data ? { data: options.data } : {}),
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    cache: true,
    concurrency: config.eval.concurrency,
    timeout: 600,
    retries: 7,
    ...(config.eval.limit ? { limit: config.eval.limit } : {}),
    seed: config.eval.seed,
    bootstrap: 1000,
    out: resolve(config.reports_dir),
    runId: cell.id,
    label: [`backbone=${cell.backbone.name}`, `recipe=${cell.recipe}`],
    json: false,
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
    return await runEval({ ...evalArgsFor(config, cell, options), model: [`openai:${server.modelName}`], baseUrl: server.baseUrl, servedFrom }, io);
  } finally {
    await server.stop();
  }
}

/** Whether a preflight problem keeps this cell from running (for --dry-run's MISSING marks). */
function problemConcernsCell(problem: PreflightProblem, cell: AblationCell): boolean {
  if (problem.key === "data.kb") return cell.recipe === "mind" || cell.recipe === "unfiltered" || cell.recipe === "critic";
  if (problem.key === "data.unimodal_kb") return cell.recipe === "unimodal";
  if (problem.key.startsWith("data.critic")) return cell.recipe === "critic";
  if (problem.key === "backbones") return cell.recipe !== "zero-shot";
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
  const problems = options.collect ? [] : await preflightAblation(config, loadedBackbones, { ...(options.data ? { data: options.data } : {}), ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}) });
  const preflightError = (found: readonly PreflightProblem[]) =>
    new HarnessError(`ablation preflight (${options.config}): ${found.length} problem(s) before the first cell: ${describeProblems(found)}`, { exitCode: 2 });
  const workDir = resolve(config.work_dir);
  const inputs = await hashInputs(config, Object.fromEntries(backbones.map((b) => [b.name, b.config])));
  const cells = planCells(config, backbones, inputs, workDir);
  let selected = cells;
  if (options.cell) {
    const cell = selectCell(cells, options.cell);
    if (!cell) throw new HarnessError(`--cell ${options.cell}: no such cell; cells are ${cells.map((c) => c.id).join(", ")}`, { exitCode: 2 });
    selected = [cell];
  }
  const records = new Map<string, CellRecord | null>();
  for (const cell of cells) records.set(cell.id, await readCellRecord(cell));

  if (options.dryRun) {
    io.stdout.write(`ablation plan (${options.config}): ${cells.length} cells, work dir ${workDir}\n`);
    for (const cell of selected) {
      const reuse = isReusable(cell, records.get(cell.id)!);
      const steps = reuse
        ? "reuse finished cell"
        : cell.recipe === "zero-shot"
          ? "serve the base model -> eval"
          : `build-sft (${cell.recipe === "unimodal" ? "data.unimodal_kb" : "data.kb"}) -> finetune ${cell.runDir} -> serve adapter -> eval`;
      const missing = problems.filter((p) => problemConcernsCell(p, cell)).map((p) => p.key);
      io.stdout.write(`  ${cell.id.padEnd(28)} ${reuse ? "done" : "todo"}  ${steps}  [key ${cell.key.slice(0, 12)}]${missing.length > 0 ? `  MISSING: ${[...new Set(missing)].join(", ")}` : ""}\n`);
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
        if (cell.recipe === "zero-shot") {
          outcome = await evalBaseModel(config, cell, options, io);
        } else {
          if (!builtRecipes.has(cell.recipe)) {
            const kb = cell.recipe === "unimodal" ? config.data.unimodal_kb! : config.data.kb!;
            await runBuildSft({
              kb,
              recipes: [cell.recipe],
              out: sftDir,
              decontaminate: config.data.decontaminate,
              criticThreshold: config.data.critic_threshold,
              ...(config.data.critic_column ? { criticColumn: config.data.critic_column } : {}),
              ...(config.data.critic_file ? { criticFile: config.data.critic_file } : {}),
              ...(options.data ? { data: options.data } : {}),
              ...(options.cacheDir ? { cacheRoot: options.cacheDir } : {}),
              log,
            });
            builtRecipes.set(cell.recipe, sftDir);
          }
          const trained = await runFinetune({
            config: cell.backbone.config,
            recipe: cell.recipe,
            datasetDir: sftDir,
            runDir: cell.runDir!,
            ...(cell.backbone.modelPath ? { modelPath: cell.backbone.modelPath } : {}),
            ...(cell.backbone.maxSteps ? { maxSteps: cell.backbone.maxSteps } : {}),
            progress: false,
            io,
          });
          if (trained.status !== "succeeded") throw new HarnessError(`fine-tuning ${trained.status}; see ${join(cell.runDir!, "train.log")}`);
          outcome = await evalOnRun({ ...evalArgsFor(config, cell, options) }, { run: cell.runDir! }, io);
        }
        const report = join(outcome.reports[0]!.dir, "report.json");
        await writeFileAtomic(join(cell.dir, CELL_FILE), `${JSON.stringify({ key: cell.key, status: "succeeded", report, finishedAt: new Date().toISOString() } satisfies CellRecord, null, 2)}\n`);
        records.set(cell.id, await readCellRecord(cell));
      } catch (error) {
        if (error instanceof HarnessError && error.exitCode === 130) throw error;
        failed.push(cell.id);
        log(`${cell.id}: FAILED: ${errorMessage(error)}`);
        await mkdir(cell.dir, { recursive: true });
        await writeFileAtomic(join(cell.dir, CELL_FILE), `${JSON.stringify({ key: cell.key, status: "failed", error: errorMessage(error), finishedAt: new Date().toISOString() } satisfies CellRecord, null, 2)}\n`);
      }
    }
  }

  // Collect: every finished cell of the matrix, whoever ran it.
  const finished = cells.filter((c) => isReusable(c, records.get(c.id)!));
  const missing = cells.filter((c) => !finished.includes(c)).map((c) => c.id);
  if (finished.length > 0) {
    const reports = await loadReports(finished.map((c) => records.get(c.id)!.report!));
    const tables = buildTables(reports, { table: "3" });
    io.stdout.write(`${renderReport(tables, options.format ?? "terminal")}\n`);
    await writeFileAtomic(join(resolve(config.reports_dir), "ablation.md"), `${renderReport(tables, "markdown")}\n`);
    log(`tables: ${join(resolve(config.reports_dir), "ablation.md")}`);
  }
  if (missing.length > 0) log(`cells not finished: ${missing.join(", ")}`);
  return { failed };
}
