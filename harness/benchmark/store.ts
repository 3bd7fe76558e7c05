import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { sha256File } from "../util/fs.ts";
import { publicUrl, registerSecret, splitUrlCredentials } from "../util/redact.ts";
import { BoundedReadError, downloadToFile } from "../util/bounded.ts";
import { envHttpUrl } from "../util/validate.ts";
import { INTENTIONQA_COMMIT, INTENTIONQA_RAW_BASE } from "./sources.ts";
import { INTENTIONQA_FILES, TASKS, type BenchmarkFile, type TaskName } from "./tasks.ts";

export function datasetCacheDir(cacheRoot: string): string {
  return join(cacheRoot, "intentionqa", INTENTIONQA_COMMIT);
}

export interface FetchOptions {
  cacheRoot: string;
  /** Base URL the file paths are joined to; a mirror or a local server. */
  sourceUrl?: string | undefined;
  tasks?: readonly TaskName[];
  log?: ((line: string) => void) | undefined;
  fetchImpl?: typeof fetch;
}

/**
 * Downloads the benchmark files at the pinned commit into the cache and checks each sha256.
 * A file already there with the right checksum is kept; a mismatch is never kept.
 */
export async function fetchIntentionQA(options: FetchOptions): Promise<string> {
  const dir = datasetCacheDir(options.cacheRoot);
  await mkdir(dir, { recursive: true });
  const base = options.sourceUrl ?? envHttpUrl("INTENTIONQA_SOURCE_URL", process.env, "source") ?? INTENTIONQA_RAW_BASE;
  const doFetch = options.fetchImpl ?? fetch;
  for (const file of selectFiles(options.tasks)) {
    const target = join(dir, file.fileName);
    if (existsSync(target) && (await sha256File(target)) === file.sha256) {
      options.log?.(`${file.fileName}: already downloaded, checksum ok`);
      continue;
    }
    // A mirror's password is sent as a header, and never shown or written (publicUrl).
    const full = new URL(file.path, base.endsWith("/") ? base : `${base}/`).toString();
    const remote = splitUrlCredentials(full);
    registerSecret(remote.authorization?.slice("Basic ".length));
    const url = publicUrl(full);
    options.log?.(`${file.fileName}: downloading ${url}`);
    let size: number;
    try {
      const response = await doFetch(remote.url, {
        ...(remote.authorization ? { headers: { authorization: remote.authorization } } : {}),
        signal: AbortSignal.timeout(120_000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      // Streamed to disk, never whole in memory; kept only at the pinned size and sha256.
      size = await downloadToFile(response, target, { bytes: file.bytes, maxBytes: file.bytes, sha256: file.sha256 }, url);
    } catch (error) {
      if (error instanceof BoundedReadError) throw new HarnessError(error.message, { cause: error });
      throw new HarnessError(`could not download ${url}: ${describeFetchError(error)}`, { cause: error });
    }
    options.log?.(`${file.fileName}: ${size} bytes, sha256 ok`);
  }
  await writeFile(join(dir, "SOURCE"), `${publicUrl(base)}\ncommit ${INTENTIONQA_COMMIT}\n`);
  return dir;
}

/** The given tasks' files; all of them in the repository's order (by path) when none are given. */
function selectFiles(tasks?: readonly TaskName[]): BenchmarkFile[] {
  if (tasks) return tasks.map((task) => INTENTIONQA_FILES[task]);
  return TASKS.map((task) => INTENTIONQA_FILES[task]).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ""}`;
  // fetch's own refusals (a blocked port, a bad scheme) say why only in the cause.
  if (cause?.message) return `${errorMessage(error)} (${cause.message})`;
  return errorMessage(error);
}

export interface DataLocation {
  dir: string;
  /** How the directory was chosen, for the report. */
  origin: "--data" | "INTENTIONQA_DIR" | "cache" | "download" | "folder";
}

export interface LocalDataOptions {
  env?: NodeJS.ProcessEnv;
  cacheRoot: string;
  tasks: readonly TaskName[];
  /** Folders to try after the cache, in order (the tests add this repository's CI copy). */
  thenFolders?: readonly string[];
}

/**
 * The lookup every caller shares (CLI, tests, benches): INTENTIONQA_DIR, then the download cache,
 * then `thenFolders`; null when none holds the task files. A set INTENTIONQA_DIR that lacks them
 * is an error, not a reason to look elsewhere.
 */
export function findLocalDataDir(options: LocalDataOptions): DataLocation | null {
  const fromEnv = (options.env ?? process.env)["INTENTIONQA_DIR"];
  if (fromEnv) return { dir: checkedDataDir(fromEnv, "INTENTIONQA_DIR", options.tasks), origin: "INTENTIONQA_DIR" };
  const candidates: Array<[string, DataLocation["origin"]]> = [
    [datasetCacheDir(options.cacheRoot), "cache"],
    ...(options.thenFolders ?? []).map((dir): [string, DataLocation["origin"]] => [dir, "folder"]),
  ];
  for (const [dir, origin] of candidates) {
    if (missingFiles(dir, options.tasks).length === 0) return { dir: resolve(dir), origin };
  }
  return null;
}

export interface ResolveOptions {
  dataFlag?: string;
  env?: NodeJS.ProcessEnv;
  cacheRoot: string;
  tasks: readonly TaskName[];
  /** Try to download into the cache when no local copy exists. */
  download: boolean;
  sourceUrl?: string | undefined;
  log?: ((line: string) => void) | undefined;
}

/** --data, then INTENTIONQA_DIR, then the download cache, then a download. */
export async function resolveDataDir(options: ResolveOptions): Promise<DataLocation> {
  if (options.dataFlag) return { dir: checkedDataDir(options.dataFlag, "--data", options.tasks), origin: "--data" };
  const local = findLocalDataDir({ cacheRoot: options.cacheRoot, tasks: options.tasks, ...(options.env ? { env: options.env } : {}) });
  if (local) return local;
  const howTo = howToGetData(options.tasks);
  if (!options.download) throw new HarnessError(`IntentionQA data not found. ${howTo}`);
  // A mirror set to something that is not a URL is a usage error, before any download.
  envHttpUrl("INTENTIONQA_SOURCE_URL", options.env ?? process.env, "source");
  try {
    const dir = await fetchIntentionQA({
      cacheRoot: options.cacheRoot,
      tasks: options.tasks,
      sourceUrl: options.sourceUrl,
      log: options.log,
    });
    return { dir, origin: "download" };
  } catch (error) {
    throw new HarnessError(`IntentionQA data not found locally and the download failed: ${errorMessage(error)}. ${howTo}`, {
      cause: error,
    });
  }
}

/** The one sentence every "data not found" message ends with. */
export function howToGetData(tasks: readonly TaskName[]): string {
  return (
    "Either run `harness data fetch intentionqa` where the network is reachable, or pass --data DIR (or set INTENTIONQA_DIR) " +
    `to a folder holding ${tasks.map((t) => INTENTIONQA_FILES[t].fileName).join(", ")}.`
  );
}

function missingFiles(dir: string, tasks: readonly TaskName[]): string[] {
  return tasks.map((t) => INTENTIONQA_FILES[t].fileName).filter((name) => !existsSync(join(dir, name)));
}

function checkedDataDir(dir: string, origin: string, tasks: readonly TaskName[]): string {
  const missing = missingFiles(dir, tasks);
  if (missing.length > 0) throw new HarnessError(`${origin} ${dir} does not contain ${missing.join(", ")}`);
  return resolve(dir);
}

export interface FileChecksum {
  file: string;
  sha256: string;
  /** Whether the file is byte-identical to the released one at the pinned commit. */
  matchesRelease: boolean;
}

export async function checksumTaskFile(dir: string, task: TaskName): Promise<FileChecksum> {
  const file = join(dir, INTENTIONQA_FILES[task].fileName);
  const digest = await sha256File(file);
  return { file, sha256: digest, matchesRelease: digest === INTENTIONQA_FILES[task].sha256 };
}
