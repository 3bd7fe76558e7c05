/**
 * Everything every cell of the matrix needs, checked before the first cell: a missing KB, critic
 * scores, fine-tuning or serving tool, or a bad eval setting would otherwise surface inside each
 * cell, hours in. Pure checks on files and the environment; nothing is written.
 */
import { existsSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { extname } from "node:path";
import type { TaskName } from "../benchmark/tasks.ts";
import { resolveDataDir } from "../benchmark/store.ts";
import { parseTasks } from "../eval/run.ts";
import type { FinetuneConfig } from "../finetune/config.ts";
import { findTool } from "../llamafactory/tool.ts";
import { DEFAULT_CRITIC_COLUMN } from "../kb/schema.ts";
import { errorMessage } from "../util/errors.ts";
import { checkWritableDir } from "../util/paths.ts";
import { needsOf } from "../sft/recipes.ts";
import { recipesReading, type AblationConfig, type ResolvedBackbone } from "./config.ts";

/** One thing the matrix needs that is missing or wrong, named by its config key. */
export interface PreflightProblem {
  key: string;
  problem: string;
}

/** The first line of a file (the CSV header, the first JSONL record), read without loading it all. */
async function firstLine(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer
      .subarray(0, bytesRead)
      .toString("utf8")
      .replace(/^\uFEFF/, "");
    return text.split(/\r?\n/).find((l) => l.trim() !== "") ?? "";
  } finally {
    await handle.close();
  }
}

/** Whether the KB carries the critic score column (CSV header) or key (first JSONL record). */
async function kbHasCriticScores(kb: string, column: string): Promise<boolean> {
  const line = await firstLine(kb);
  if (extname(kb).toLowerCase() === ".jsonl") {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      return record !== null && typeof record === "object" && column in record;
    } catch {
      return false;
    }
  }
  return line
    .split(",")
    .map((c) => c.trim().replace(/^"|"$/g, ""))
    .includes(column);
}

function fileProblem(path: string | undefined, key: string, why: string): PreflightProblem | null {
  if (!path) return { key, problem: `required ${why}` };
  if (!existsSync(path)) return { key, problem: `${path}: no such file` };
  if (!statSync(path).isFile()) return { key, problem: `${path}: not a file` };
  return null;
}

export interface PreflightOptions {
  data?: string;
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** The KBs the recipes read, and the critic scores of those that filter by them. */
async function checkKnowledgeBases(config: AblationConfig, problems: PreflightProblem[]): Promise<void> {
  const add = (p: PreflightProblem | null) => {
    if (p) problems.push(p);
  };
  const kbRecipes = recipesReading(config.recipes, "kb");
  if (kbRecipes.length > 0) add(fileProblem(config.data.kb, "data.kb", `for the recipes ${kbRecipes.join(", ")}`));
  const unimodalRecipes = recipesReading(config.recipes, "unimodal_kb");
  if (unimodalRecipes.length > 0)
    add(
      fileProblem(
        config.data.unimodal_kb,
        "data.unimodal_kb",
        `for the ${unimodalRecipes.join(", ")} recipe (a KB from \`harness distill --text-only\`)`,
      ),
    );
  const criticRecipes = config.recipes.filter((r) => needsOf(r).criticScores);
  if (criticRecipes.length > 0) {
    const which = `the ${criticRecipes.join(", ")} recipe`;
    if (config.data.critic_file) add(fileProblem(config.data.critic_file, "data.critic_file", `for ${which}`));
    else if (config.data.kb && existsSync(config.data.kb) && statSync(config.data.kb).isFile()) {
      const column = config.data.critic_column ?? DEFAULT_CRITIC_COLUMN;
      if (!(await kbHasCriticScores(config.data.kb, column))) {
        problems.push({
          key: "data.critic_column",
          problem: `${which} needs scores: ${config.data.kb} has no "${column}" column; set data.critic_column or data.critic_file (scores from the critic model)`,
        });
      }
    }
  }
}

/** eval.tasks as task names; none (and a problem) when it does not parse. */
function checkTasks(config: AblationConfig, problems: PreflightProblem[]): TaskName[] {
  try {
    return parseTasks(config.eval.tasks);
  } catch (error) {
    problems.push({ key: "eval.tasks", problem: errorMessage(error).replace(/^--task /, "") });
    return [];
  }
}

/** Every cell trains (except zero-shot) and serves: the tools must be there before the first. */
function checkTools(
  config: AblationConfig,
  backbones: ReadonlyArray<ResolvedBackbone & { finetune: FinetuneConfig }>,
  env: NodeJS.ProcessEnv,
  problems: PreflightProblem[],
): void {
  if (config.recipes.some((r) => needsOf(r).trains)) {
    const cli = findTool("llamafactory-cli", "LLAMAFACTORY_CLI", env);
    if (!cli.path)
      problems.push({
        key: "backbones",
        problem: `llamafactory-cli not found (looked at ${cli.from}); fine-tuning needs LLaMA-Factory (see docs/finetune.md), or set LLAMAFACTORY_CLI`,
      });
  }
  for (const backbone of backbones) {
    const engine = backbone.finetune.serve.engine;
    const tool = engine === "vllm" ? findTool("vllm", "VLLM_BIN", env) : findTool("llamafactory-cli", "LLAMAFACTORY_CLI", env);
    if (!tool.path && !(engine !== "vllm" && problems.some((p) => p.problem.startsWith("llamafactory-cli not found")))) {
      problems.push({
        key: `backbones.${backbone.name}`,
        problem: `serve.engine ${engine} needs ${engine === "vllm" ? "vllm" : "llamafactory-cli"}, not found (looked at ${tool.from})`,
      });
    }
    if (backbone.modelPath && !existsSync(backbone.modelPath))
      problems.push({ key: `backbones.${backbone.name}.model_path`, problem: `${backbone.modelPath}: no such file or directory` });
  }
}

/** The IntentionQA files, where --data or INTENTIONQA_DIR names them (a download comes later). */
async function checkBenchmarkData(
  tasks: TaskName[],
  options: PreflightOptions,
  env: NodeJS.ProcessEnv,
  problems: PreflightProblem[],
): Promise<void> {
  if (tasks.length === 0 || !(options.data || env["INTENTIONQA_DIR"])) return;
  try {
    await resolveDataDir({
      ...(options.data ? { dataFlag: options.data } : {}),
      cacheRoot: options.cacheDir ?? "",
      tasks,
      download: false,
      env,
    });
  } catch (error) {
    problems.push({ key: "--data", problem: errorMessage(error) });
  }
}

async function checkOutputDirs(config: AblationConfig, problems: PreflightProblem[]): Promise<void> {
  for (const [key, dir] of [
    ["work_dir", config.work_dir],
    ["reports_dir", config.reports_dir],
  ] as const) {
    try {
      await checkWritableDir(key, dir);
    } catch (error) {
      problems.push({ key, problem: errorMessage(error).replace(new RegExp(`^${key} `), "") });
    }
  }
}

/** Every problem found, in config order; empty when every cell has what it needs. */
export async function preflightAblation(
  config: AblationConfig,
  backbones: ReadonlyArray<ResolvedBackbone & { finetune: FinetuneConfig }>,
  options: PreflightOptions = {},
): Promise<PreflightProblem[]> {
  const env = options.env ?? process.env;
  const problems: PreflightProblem[] = [];
  await checkKnowledgeBases(config, problems);
  const tasks = checkTasks(config, problems);
  checkTools(config, backbones, env, problems);
  await checkBenchmarkData(tasks, options, env, problems);
  await checkOutputDirs(config, problems);
  return problems;
}

export function describeProblems(problems: readonly PreflightProblem[]): string {
  return problems.map((p) => `${p.key}: ${p.problem}`).join("; ");
}
