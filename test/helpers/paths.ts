import { join } from "node:path";
import { INTENTIONQA_FILES, TASKS } from "../../harness/benchmark/tasks.ts";
import { findLocalDataDir } from "../../harness/benchmark/store.ts";
import { cacheRoot as defaultCacheRoot } from "../../harness/util/cache-root.ts";
import { PROJECT_ROOT } from "../../harness/util/version.ts";

/** The CLI from its TypeScript sources (tsx), so the tests never run a stale dist/. */
export const HARNESS_BIN = join(PROJECT_ROOT, "bin", "harness-dev.js");

/**
 * This repository's CI keeps a read-only copy of the benchmark beside the clone. The only place in
 * the project that names it: everything else asks intentionqaDir().
 */
const SHARED = join(PROJECT_ROOT, "..", "shared");
const CI_SHARED_COPY = join(SHARED, "datasets", "intentionqa");

/** The reference card (spec, published tables), read in place where a checkout has it beside the project. */
export const SHARED_SPEC_DIR = join(SHARED, "spec");

/** Thrown when no copy is found: its message is the whole story, so it carries no stack. */
export class MissingBenchmarkData extends Error {
  constructor(cacheRoot: string) {
    super(
      `IntentionQA benchmark files not found (INTENTIONQA_DIR is unset, the cache ${cacheRoot} holds none): ` +
        `set INTENTIONQA_DIR to a folder holding ${TASKS.map((t) => INTENTIONQA_FILES[t].fileName).join(", ")}, ` +
        "or run `npx harness data fetch intentionqa` where the network is reachable",
    );
    this.name = "MissingBenchmarkData";
    this.stack = `${this.name}: ${this.message}`;
  }
}

/**
 * The real IntentionQA files, read in place (never copied into the project), found as the CLI
 * finds them: INTENTIONQA_DIR, then the harness's download cache, then the CI copy.
 */
export function intentionqaDir(): string {
  const cacheRoot = defaultCacheRoot();
  const found = findLocalDataDir({ cacheRoot, tasks: TASKS, thenFolders: [CI_SHARED_COPY] });
  if (!found) throw new MissingBenchmarkData(cacheRoot);
  return found.dir;
}

/** Whether the files are anywhere intentionqaDir() looks, for a test run's one-time check. */
export function haveIntentionqaData(): boolean {
  try {
    intentionqaDir();
    return true;
  } catch (error) {
    if (error instanceof MissingBenchmarkData) return false;
    throw error;
  }
}
