import { homedir } from "node:os";
import { join, resolve } from "node:path";

/**
 * Where downloads and request caches live: `--cache-dir` (resolved) when given, else
 * $HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/intentionqa-harness (~/.cache by default).
 */
export function cacheRoot(cacheDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (cacheDir) return resolve(cacheDir);
  if (env["HARNESS_CACHE_DIR"]) return resolve(env["HARNESS_CACHE_DIR"]);
  const xdg = env["XDG_CACHE_HOME"] || join(homedir(), ".cache");
  return join(xdg, "intentionqa-harness");
}

/** The request caches' folder under a cache root: the one place that names it. */
export function requestCacheDir(root: string): string {
  return join(root, "requests");
}

/** How messages name the cache folder: the flag when the user gave one. */
export const CACHE_DIR_LABEL = (cacheDir?: string): string => (cacheDir ? "--cache-dir" : "cache directory");
