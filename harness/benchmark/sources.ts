import type { TaskName } from "./intentionqa.ts";

/** The benchmark's repository, pinned: the same commit the spec's prompts were checked against. */
export const INTENTIONQA_REPO = "HKUST-KnowComp/IntentionQA";
export const INTENTIONQA_COMMIT = "2b647b4ddc3c79c2f2ff0435ea40add4eb2c2486";
export const INTENTIONQA_RAW_BASE = `https://raw.githubusercontent.com/${INTENTIONQA_REPO}/${INTENTIONQA_COMMIT}/`;

export interface BenchmarkFile {
  task: TaskName;
  /** Path inside the benchmark repository. */
  path: string;
  /** File name in a local data directory (the basename of path). */
  fileName: string;
  lines: number;
  /** Its exact size: a download is stopped past it (a body that never ends grows nothing). */
  bytes: number;
  sha256: string;
}

export const INTENTIONQA_FILES: Record<TaskName, BenchmarkFile> = {
  understanding: {
    task: "understanding",
    path: "data/QA_task1/QA_fullInfo/QA_fullInfo_task1.jsonl",
    fileName: "QA_fullInfo_task1.jsonl",
    bytes: 2611210,
    lines: 2315,
    sha256: "3d2a6d941fd5e3f4cacccaa5c3ed57a8cc586ac3ecd97a9cf8fe47e886d858cc",
  },
  "by-relation": {
    task: "by-relation",
    path: "data/QA_task1/QA_fullInfo/QA_fullInfo_task1_byRelation.jsonl",
    fileName: "QA_fullInfo_task1_byRelation.jsonl",
    bytes: 2467036,
    lines: 2205,
    sha256: "103c0193d0d794c12ce307c7b62252e69688d0f6f5de1558bb5630c01791bd91",
  },
  utilization: {
    task: "utilization",
    path: "data/QA_task2/QA_fullInfo/QA_fullInfo_task2.jsonl",
    fileName: "QA_fullInfo_task2.jsonl",
    bytes: 2849866,
    lines: 2315,
    sha256: "d7024fc50d2eb2ad51a7f6844a16c182d813684a0456d8d264d1401e5da4efc1",
  },
};
