import { fetchIntentionQA } from "../../harness/benchmark/store.ts";
import { cacheRoot as defaultCacheRoot } from "../../harness/util/cache-root.ts";
import { errorMessage } from "../../harness/util/errors.ts";
import { haveIntentionqaData, MissingBenchmarkData } from "./paths.ts";

/** Per file: a dead network should cost the test run seconds, not the CLI's two minutes. */
const DOWNLOAD_TIMEOUT_MS = 20_000;

/**
 * Once per test run (vitest globalSetup). When no copy of the benchmark is found and
 * INTENTIONQA_DIR is unset, downloads it into the harness's cache as `harness data fetch` would
 * (sha256-checked). Offline, it says once how to get the files; each test that needs them then
 * fails with that same line, and the rest run.
 */
export default async function setup(): Promise<void> {
  if (process.env["INTENTIONQA_DIR"] || haveIntentionqaData()) return;
  const cacheRoot = defaultCacheRoot();
  try {
    await fetchIntentionQA({
      cacheRoot,
      fetchImpl: (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) }),
    });
  } catch (error) {
    process.stderr.write(`\n${new MissingBenchmarkData(cacheRoot).message} (the download failed: ${errorMessage(error)})\n\n`);
  }
}
