import { readdir, realpath, rm } from "node:fs/promises";
import { join } from "node:path";
import { getHFHubCachePath, getRepoFolderName, listFiles, snapshotDownload, type ListFileEntry } from "@huggingface/hub";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { sha256File } from "../util/fs.ts";
import { assertInside, checkRepoId, checkRevision, guardedHubFetch, HubAnswerError, MAX_HUB_JSON_BYTES } from "./guard.ts";

export interface ModelFetchOptions {
  /** A Hub repo id: "mistralai/Mistral-7B-Instruct-v0.2", or an adapter someone published. */
  repo: string;
  revision?: string;
  /** The Hugging Face cache (HF_HUB_CACHE): where transformers and LLaMA-Factory look. */
  cacheDir?: string;
  /** HF_ENDPOINT: a mirror, or a local server in tests. */
  hubUrl?: string;
  /** HF_TOKEN, read by the caller from the environment (gated models need it). */
  token?: string;
  /** Check every LFS file's sha256 against the Hub's record (default true). */
  verify?: boolean;
  log?: (line: string) => void;
}

export interface ModelFetchResult {
  snapshotDir: string;
  files: number;
  bytes: number;
  verified: number;
}

function describeHubError(repo: string, error: unknown): string {
  if (error instanceof HubAnswerError) return `${repo}: ${error.message}`;
  const status = (error as { statusCode?: number }).statusCode;
  if (status === 401 || status === 403)
    return `${repo}: access denied (HTTP ${status}); for a gated model accept its licence on the Hub and export HF_TOKEN`;
  if (status === 404) return `${repo}: no such repository or revision on the Hub (HTTP 404)`;
  return `${repo}: ${errorMessage(error)}`;
}

/**
 * Downloads a model or adapter snapshot into the Hugging Face cache, so a GPU node without
 * network (HF_HUB_OFFLINE=1) loads it by its repo id; then checks each large file's sha256.
 */
export async function fetchModelSnapshot(options: ModelFetchOptions): Promise<ModelFetchResult> {
  const cacheDir = options.cacheDir ?? getHFHubCachePath();
  const revision = options.revision ?? "main";
  checkRepoId(options.repo);
  checkRevision(revision);
  const common = {
    repo: options.repo,
    ...(options.hubUrl ? { hubUrl: options.hubUrl.replace(/\/+$/, "") } : {}),
    ...(options.token ? { accessToken: options.token } : {}),
  };
  const storageFolder = join(cacheDir, getRepoFolderName({ type: "model", name: options.repo }));
  const entries: ListFileEntry[] = [];
  let snapshotDir: string;
  try {
    // The listing is read through the same checks as the download: paths and hashes before any use.
    const listingFetch = guardedHubFetch({ maxFileBytes: MAX_HUB_JSON_BYTES });
    for await (const entry of listFiles({ ...common, revision, recursive: true, fetch: listingFetch })) {
      if (entry.type !== "file") continue;
      if (!Number.isSafeInteger(entry.size) || entry.size < 0)
        throw new HubAnswerError(`the Hub listed ${entry.path} with size ${JSON.stringify(entry.size)}: expected a byte count`);
      assertInside(storageFolder, join(storageFolder, "snapshots", "x", entry.path), `the Hub's file ${entry.path}:`);
      entries.push(entry);
    }
    options.log?.(
      `${options.repo}@${revision}: ${entries.length} files, ${(entries.reduce((a, e) => a + e.size, 0) / 1e6).toFixed(1)} MB -> ${cacheDir}`,
    );
    // No download may carry more than the largest size the listing declared.
    const fetchGuarded = guardedHubFetch({ maxFileBytes: Math.max(0, ...entries.map((e) => e.size)) });
    // The library announces each file with console.debug, which is stdout: route it to the log
    // so stdout stays the snapshot path alone.
    const debug = console.debug;
    console.debug = (...parts: unknown[]) => options.log?.(parts.join(" "));
    try {
      snapshotDir = await snapshotDownload({ ...common, revision, cacheDir, fetch: fetchGuarded });
    } finally {
      console.debug = debug;
    }
    assertInside(storageFolder, snapshotDir, "the snapshot folder");
  } catch (error) {
    await removeIncomplete(storageFolder);
    throw new HarnessError(describeHubError(options.repo, error), { cause: error });
  }
  let verified = 0;
  if (options.verify ?? true) {
    const realCache = await realpath(cacheDir);
    for (const entry of entries) {
      if (!entry.lfs) continue;
      const file = join(snapshotDir, entry.path);
      assertInside(snapshotDir, file, "the file");
      const blob = await realpath(file);
      // Never read or remove anything outside the cache, whatever a link in it points at.
      assertInside(realCache, blob, `${file} links to`);
      const digest = await sha256File(blob);
      if (digest !== entry.lfs.oid) {
        // Never leave a corrupt file where transformers would load it.
        await rm(blob, { force: true });
        await rm(file, { force: true });
        throw new HarnessError(`${file}: sha256 ${digest} does not match the Hub's ${entry.lfs.oid}; the file was removed, fetch again`);
      }
      verified += 1;
    }
  }
  return { snapshotDir, files: entries.length, bytes: entries.reduce((a, e) => a + e.size, 0), verified };
}

/** A failed download leaves blobs/<hash>.incomplete behind in the library: remove them, so nothing half-written stays. */
async function removeIncomplete(storageFolder: string): Promise<void> {
  const blobs = join(storageFolder, "blobs");
  let names: string[];
  try {
    names = await readdir(blobs);
  } catch {
    return;
  }
  for (const name of names) if (name.endsWith(".incomplete")) await rm(join(blobs, name), { force: true });
}
