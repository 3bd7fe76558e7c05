import { closeSync, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BackendIdentity } from "../backends/types.ts";
import { usageError } from "../util/errors.ts";
import { publicUrl } from "../util/redact.ts";
import { cacheFiles, refuseIrregularCacheFile } from "./cache.ts";
import { CacheIndex, scanLog } from "./cache-index.ts";

/** One backend identity's cache, as `harness cache stats` shows it. */
export interface CacheSummary {
  /** The file stem: 20 hex digits of the identity's hash. */
  id: string;
  /** What the meta file says; null when it is missing or unreadable. */
  identity: BackendIdentity | null;
  files: string[];
  bytes: number;
  /** Answer lines in the log (a request answered twice counts twice). */
  entries: number;
  /** When a run last opened (or wrote) this cache. */
  lastUsed: Date;
}

const LOG_NAME = /^([0-9a-f]{20})\.jsonl$/;

/**
 * Only regular files are a cache's: a folder, FIFO or device named like a log, index or meta is
 * refused in one line (refuseIrregularCacheFile) before anything is read or removed.
 */
function isRegularFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** Every identity's cache under a request-cache directory (`<cache-dir>/requests`), most recently used first. */
export function listCaches(dir: string): CacheSummary[] {
  if (!existsSync(dir)) return [];
  const names = readdirSync(dir);
  const summaries: CacheSummary[] = [];
  for (const name of names) {
    const match = LOG_NAME.exec(name);
    if (!match) continue;
    const id = match[1]!;
    const { log, index, meta } = cacheFiles(join(dir, name));
    const files = [
      log,
      index,
      meta,
      ...names.filter((n) => n.startsWith(`${id}.idx.`) && n.endsWith(".tmp")).map((n) => join(dir, n)),
    ].filter((f) => existsSync(f));
    for (const file of files) refuseIrregularCacheFile(file);
    const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0);
    const lastUsed = new Date(Math.max(...[log, meta].filter(isRegularFile).map((f) => statSync(f).mtimeMs)));
    const identity = isRegularFile(meta) ? readIdentity(meta) : null;
    summaries.push({ id, identity, files, bytes, entries: countEntries(log, isRegularFile(index) ? index : null), lastUsed });
  }
  return summaries.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
}

function readIdentity(meta: string): BackendIdentity | null {
  try {
    const parsed = JSON.parse(readFileSync(meta, "utf8")) as BackendIdentity;
    return typeof parsed.kind === "string" && typeof parsed.model === "string" ? parsed : null;
  } catch {
    return null;
  }
}

/** The index's count plus the lines past its end, read without writing anything. */
function countEntries(log: string, indexFile: string | null): number {
  const fd = openSync(log, "r");
  try {
    const index = indexFile === null ? null : CacheIndex.open(indexFile, fd);
    const covered = index?.coveredBytes ?? 0;
    let entries = index?.count ?? 0;
    index?.close();
    scanLog(fd, covered, fstatSync(fd).size, () => {
      entries += 1;
    });
    return entries;
  } finally {
    closeSync(fd);
  }
}

/** "openai test-model @ http://127.0.0.1:8000/v1 (adapter ...)": what a person recognises the identity by. */
export function describeIdentity(identity: BackendIdentity | null): string {
  if (!identity) return "(unknown identity: meta file missing)";
  // A cache written before URL credentials were kept out of identities still shows none.
  const where = identity.servedFrom ?? (identity.baseUrl === undefined ? undefined : publicUrl(identity.baseUrl)) ?? identity.provider;
  return [`${identity.kind} ${identity.model}`, where ? `@ ${where}` : "", identity.adapter ? `(adapter ${identity.adapter})` : ""]
    .filter(Boolean)
    .join(" ");
}

const AGE_UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "30d" -> milliseconds; minutes (m), hours (h), days (d) or weeks (w). */
export function parseAge(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([mhdw])$/.exec(text.trim());
  if (!match) throw usageError(`--older-than "${text}": expected a number and a unit (m, h, d, w), e.g. 30d`);
  return Number(match[1]) * AGE_UNITS[match[2]!]!;
}

export interface ClearSelection {
  /** Cache ids (or unique prefixes of at least 4 hex digits), as `harness cache stats` prints them. */
  ids?: readonly string[];
  model?: string;
  olderThanMs?: number;
  all?: boolean;
}

/** The caches a selection names; every criterion given must hold. An id that matches nothing, or more than one, is an error. */
export function selectCaches(caches: readonly CacheSummary[], selection: ClearSelection, now = Date.now()): CacheSummary[] {
  const { ids = [], model, olderThanMs, all = false } = selection;
  if (ids.length === 0 && model === undefined && olderThanMs === undefined && !all) {
    throw usageError("name what to clear: cache ids (from `harness cache stats`), --model NAME, --older-than AGE, or --all");
  }
  let chosen = [...caches];
  if (ids.length > 0) {
    const byId = new Set<CacheSummary>();
    for (const id of ids) {
      if (!/^[0-9a-f]{4,20}$/.test(id))
        throw usageError(`cache id "${id}": expected 4 to 20 hex digits, as \`harness cache stats\` prints them`);
      const matches = caches.filter((c) => c.id.startsWith(id));
      if (matches.length === 0) throw usageError(`cache id "${id}": no such cache (see \`harness cache stats\`)`);
      if (matches.length > 1) throw usageError(`cache id "${id}": matches ${matches.length} caches; give more digits`);
      byId.add(matches[0]!);
    }
    chosen = chosen.filter((c) => byId.has(c));
  }
  if (model !== undefined) chosen = chosen.filter((c) => c.identity?.model === model);
  if (olderThanMs !== undefined) chosen = chosen.filter((c) => now - c.lastUsed.getTime() > olderThanMs);
  return chosen;
}

export function removeCache(cache: CacheSummary): void {
  for (const file of cache.files) rmSync(file, { force: true });
}
