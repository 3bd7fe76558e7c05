/**
 * The task table: every IntentionQA task the harness evaluates, one entry each. Everything that
 * differs per task is here (its titles, `--task all`, the question its prompt asks, its released
 * file and checksum); the task list, the `--task` choices, the report schema's enum, the data files
 * and the tables' titles are all read from it. To add a task, add an entry (README: "To add a task").
 */

/** One released benchmark file, pinned by size and checksum (sources.ts pins the commit). */
export interface TaskFile {
  /** Path inside the benchmark repository. */
  path: string;
  /** File name in a local data directory (the basename of path). */
  fileName: string;
  lines: number;
  /** Its exact size: a download is stopped past it (a body that never ends grows nothing). */
  bytes: number;
  sha256: string;
}

/**
 * The question a task's prompt asks, by name: the prompt text itself is in prompts/intentionqa.ts
 * (QUESTION_PROMPTS), so benchmark/ stays below prompts/. A task asking a new kind of question
 * adds its name here and its prompt there.
 */
export type TaskPrompt = "intention" | "purchase";

export interface TaskDefinition {
  /** What `--task` and the reports call it. */
  name: string;
  /** Its column group in `harness report` tables ("Understanding Easy"). */
  title: string;
  /** Its heading in a run's own report (eval's output, report.md). */
  heading: string;
  /** Whether `--task all` includes it (the paper's two tasks). */
  inAll: boolean;
  prompt: TaskPrompt;
  file: TaskFile;
}

/** The benchmark's three released files. "by-relation" is task 1 with same-relation distractors. */
const BUILT_IN_TASKS = [
  {
    name: "understanding",
    title: "Understanding",
    heading: "Understanding (task 1)",
    inAll: true,
    prompt: "intention",
    file: {
      path: "data/QA_task1/QA_fullInfo/QA_fullInfo_task1.jsonl",
      fileName: "QA_fullInfo_task1.jsonl",
      bytes: 2611210,
      lines: 2315,
      sha256: "3d2a6d941fd5e3f4cacccaa5c3ed57a8cc586ac3ecd97a9cf8fe47e886d858cc",
    },
  },
  {
    name: "utilization",
    title: "Utilization",
    heading: "Utilization (task 2)",
    inAll: true,
    prompt: "purchase",
    file: {
      path: "data/QA_task2/QA_fullInfo/QA_fullInfo_task2.jsonl",
      fileName: "QA_fullInfo_task2.jsonl",
      bytes: 2849866,
      lines: 2315,
      sha256: "d7024fc50d2eb2ad51a7f6844a16c182d813684a0456d8d264d1401e5da4efc1",
    },
  },
  {
    name: "by-relation",
    title: "Understanding (by relation)",
    heading: "Understanding by relation (task 1, same-relation distractors)",
    inAll: false,
    prompt: "intention",
    file: {
      path: "data/QA_task1/QA_fullInfo/QA_fullInfo_task1_byRelation.jsonl",
      fileName: "QA_fullInfo_task1_byRelation.jsonl",
      bytes: 2467036,
      lines: 2205,
      sha256: "103c0193d0d794c12ce307c7b62252e69688d0f6f5de1558bb5630c01791bd91",
    },
  },
] as const satisfies readonly TaskDefinition[];

export type TaskName = (typeof BUILT_IN_TASKS)[number]["name"];

/** A task's released file, with the task it belongs to. */
export interface BenchmarkFile extends TaskFile {
  task: TaskName;
}

const table: TaskDefinition[] = [...BUILT_IN_TASKS];
const names: TaskName[] = BUILT_IN_TASKS.map((task) => task.name);
const files = Object.fromEntries(BUILT_IN_TASKS.map((task) => [task.name, { task: task.name, ...task.file }])) as Record<
  TaskName,
  BenchmarkFile
>;

/** Every task, in report order (the tables' columns, `--task` choices). */
export const TASK_TABLE: readonly TaskDefinition[] = table;
/** Every task's name, in table order. */
export const TASKS: readonly TaskName[] = names;
/** Each task's released file, by task name. */
export const INTENTIONQA_FILES: Readonly<Record<TaskName, BenchmarkFile>> = files;

/** The table's entry for a task name the harness has already checked (--task, the report schema). */
export function taskDefinition(name: TaskName): TaskDefinition {
  const task = table.find((t) => t.name === name);
  if (!task) throw new Error(`internal error: "${name}" is not in the task table`);
  return task;
}

/** What `--task all` means: the tasks marked inAll, in table order. */
export function allTasks(): TaskName[] {
  return names.filter((name) => taskDefinition(name).inAll);
}

/**
 * The extension point for tasks added without editing this file (the tests' toy task): appends an
 * entry to the table, so TASKS, INTENTIONQA_FILES and every lookup see it. Call it before the
 * report schema (reports/schema.ts) is first imported: its enum of task names is built from the
 * table then. The name is not in the TaskName type, which lists the built-in tasks.
 */
export function registerTask(task: TaskDefinition): void {
  if (table.some((t) => t.name === task.name)) throw new Error(`internal error: task "${task.name}" is already in the task table`);
  const name = task.name as TaskName;
  table.push(task);
  names.push(name);
  files[name] = { task: name, ...task.file };
}
