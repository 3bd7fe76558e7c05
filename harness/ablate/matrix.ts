/**
 * The ablation matrix as planned from its config: the cells, their keys, their cell.json records
 * and what the preflight found. `ablate` (local or --cell), `ablate --slurm` and `ablate --status`
 * all start here.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { loadFinetuneConfig } from "../finetune/config.ts";
import { PROTOCOL_VERSION } from "../prompts/intentionqa.ts";
import type { EvalReport, TrainingRecord } from "../reports/schema.ts";
import { needsOf } from "../sft/recipes.ts";
import { usageError } from "../util/errors.ts";
import { sha256File } from "../util/fs.ts";
import { loadAblationConfig, resolveBackbones, type AblationConfig, type ResolvedBackbone } from "./config.ts";
import type { AblateOptions } from "./defaults.ts";
import { planCells, selectCell, type AblationCell, type CellInputs } from "./plan.ts";
import { describeProblems, preflightAblation, type PreflightProblem } from "./preflight.ts";

/** What a finished cell was trained and evaluated with: copied from its report, shown beside its numbers. */
export interface CellSettings {
  /** null for zero-shot (no training data) or data not built by build-sft. */
  decontaminated: boolean | null;
  benchmarkOverlap: TrainingRecord["benchmarkOverlap"];
  trainingRecords: number | null;
  decoding: EvalReport["config"]["decoding"];
}

export interface CellRecord {
  key: string;
  status: "succeeded" | "failed";
  report?: string;
  settings?: CellSettings;
  error?: string;
  finishedAt: string;
}

export function settingsOf(report: EvalReport): CellSettings {
  return {
    decontaminated: report.training?.decontaminated ?? null,
    benchmarkOverlap: report.training?.benchmarkOverlap ?? null,
    trainingRecords: report.training?.records ?? null,
    decoding: report.config.decoding,
  };
}

export const CELL_FILE = "cell.json";

export async function readCellRecord(cell: AblationCell): Promise<CellRecord | null> {
  try {
    return JSON.parse(await readFile(join(cell.dir, CELL_FILE), "utf8")) as CellRecord;
  } catch {
    return null;
  }
}

/** A cell is reused when it finished with the same inputs and its report is still there. */
export function isReusable(cell: AblationCell, record: CellRecord | null): boolean {
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

/** Whether a preflight problem keeps this cell from running (for --dry-run's MISSING marks). */
export function problemConcernsCell(problem: PreflightProblem, cell: AblationCell): boolean {
  const needs = needsOf(cell.recipe);
  if (problem.key === "data.kb") return needs.kb === "kb";
  if (problem.key === "data.unimodal_kb") return needs.kb === "unimodal_kb";
  if (problem.key.startsWith("data.critic")) return needs.criticScores;
  if (problem.key === "backbones") return needs.trains;
  if (problem.key.startsWith("backbones.")) return problem.key.split(".")[1] === cell.backbone.name;
  return true;
}

/** What the ablation will do, before any cell runs: every usage error is raised while building it. */
export interface AblationPlan {
  config: AblationConfig;
  backbones: ResolvedBackbone[];
  /** What the preflight found missing (empty for --collect, which runs nothing). */
  problems: PreflightProblem[];
  workDir: string;
  cells: AblationCell[];
  /** The cells this invocation runs: all of them, or the one --cell names. */
  selected: AblationCell[];
  /** Each cell's cell.json as found (null: never run). */
  records: Map<string, CellRecord | null>;
}

export async function planAblation(options: AblateOptions): Promise<AblationPlan> {
  const { config } = await loadAblationConfig(options.config);
  const backbones = resolveBackbones(config);
  // Validate every backbone config up front: a typo must not surface hours into the matrix.
  const loadedBackbones = [];
  for (const backbone of backbones) loadedBackbones.push({ ...backbone, finetune: (await loadFinetuneConfig(backbone.config)).config });
  // --collect and --status run nothing: there is nothing to check before a cell.
  const problems =
    options.collect || options.status
      ? []
      : await preflightAblation(config, loadedBackbones, {
          ...(options.data ? { data: options.data } : {}),
          ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        });
  const workDir = resolve(config.work_dir);
  const inputs = await hashInputs(config, Object.fromEntries(backbones.map((b) => [b.name, b.config])));
  const cells = planCells(config, backbones, inputs, workDir);
  const selected = options.cell ? [selectOne(cells, options.cell)] : cells;
  const records = new Map<string, CellRecord | null>();
  for (const cell of cells) records.set(cell.id, await readCellRecord(cell));
  return { config, backbones, problems, workDir, cells, selected, records };
}

function selectOne(cells: readonly AblationCell[], id: string): AblationCell {
  const cell = selectCell(cells, id);
  if (!cell) throw usageError(`--cell ${id}: no such cell; cells are ${cells.map((c) => c.id).join(", ")}`);
  return cell;
}

/** A problem with the KB files, which a job the array waits for (--slurm-after) may still be writing. */
export function isKbProblem(problem: PreflightProblem): boolean {
  return problem.key === "data.kb" || problem.key === "data.unimodal_kb" || problem.key.startsWith("data.critic");
}

/**
 * Only what the given cells need stops the run (--cell runs one, --slurm the unfinished ones).
 * With kbLater (an array waiting for the job that writes the KB) the KB's problems are left to
 * each task's own preflight, when the KB is there.
 */
export function checkPreflight(
  plan: AblationPlan,
  configFile: string,
  cells: readonly AblationCell[] = plan.selected,
  kbLater = false,
): void {
  const blocking = plan.problems.filter((p) => !(kbLater && isKbProblem(p)) && cells.some((c) => problemConcernsCell(p, c)));
  if (blocking.length > 0)
    throw usageError(
      `ablation preflight (${configFile}): ${blocking.length} problem(s) before the first cell: ${describeProblems(blocking)}`,
    );
}
