import { realpath, rm } from "node:fs/promises";
import { join } from "node:path";
import { getHFHubCachePath, listFiles, snapshotDownload, type ListFileEntry } from "@huggingface/hub";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { sha256File } from "../util/fs.ts";

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
  const common = {
    repo: options.repo,
    ...(options.hubUrl ? { hubUrl: options.hubUrl.replace(/\/+$/, "") } : {}),
    ...(options.token ? { accessToken: options.token } : {}),
  };
  const revision = options.revision ?? "main";
  const entries: ListFileEntry[] = [];
  let snapshotDir: string;
  try {
    for await (const entry of listFiles({ ...common, revision, recursive: true })) if (entry.type === "file") entries.push(entry);
    options.log?.(
      `${options.repo}@${revision}: ${entries.length} files, ${(entries.reduce((a, e) => a + e.size, 0) / 1e6).toFixed(1)} MB -> ${cacheDir}`,
    );
    // The library announces each file with console.debug, which is stdout: route it to the log
    // so stdout stays the snapshot path alone.
    const debug = console.debug;
    console.debug = (...parts: unknown[]) => options.log?.(parts.join(" "));
    try {
      snapshotDir = await snapshotDownload({ ...common, revision, cacheDir });
    } finally {
      console.debug = debug;
    }
  } catch (error) {
    throw new HarnessError(describeHubError(options.repo, error), { cause: error });
  }
  let verified = 0;
  if (options.verify ?? true) {
    for (const entry of entries) {
      if (!entry.lfs) continue;
      const file = join(snapshotDir, entry.path);
      const blob = await realpath(file);
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
