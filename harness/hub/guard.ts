/**
 * What a Hub (or a mirror, or anything answering at --hub-url) says is not believed where it
 * becomes a path or a size. @huggingface/hub builds cache paths from server values it does not
 * check (the etag of a file becomes blobs/<etag>, the commit becomes snapshots/<commit>), so a
 * hostile server could make it write anywhere the user can: every such value is checked here,
 * on the answers themselves, before the library sees them.
 */
import { isAbsolute, relative, resolve, sep } from "node:path";
import { HarnessError, usageError } from "../util/errors.ts";

/** The largest JSON answer (file listings, repo info) read into memory. */
export const MAX_HUB_JSON_BYTES = 64 * 1024 * 1024;

/** Hashes the Hub uses as names: a git sha1 (commits, blobs) or a sha256 (LFS, xet). */
const HASH = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export class HubAnswerError extends HarnessError {}

/** A repo-relative path from a server: no "..", not absolute, no NUL, no backslash, not empty. */
export function unsafeRelativePath(path: string): string | null {
  if (path === "") return "it is empty";
  if (path.includes("\0")) return "it holds a NUL byte";
  if (path.includes("\\")) return "it holds a backslash";
  if (path.startsWith("/") || /^[a-zA-Z]:/.test(path)) return "it is absolute";
  if (path.split("/").some((part) => part === ".." || part === ".")) return 'it has a "." or ".." part';
  return null;
}

/** `path` resolves inside `root` (or is root): resolve + prefix, the check every built path passes. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

export function assertInside(root: string, path: string, what: string): void {
  if (!isInside(root, path)) throw new HubAnswerError(`${what} ${path} is outside the cache folder ${root}; refused`);
}

/** A --revision that becomes refs/<revision> in the cache: a branch ("main", "refs/pr/1"), tag or commit. */
export function checkRevision(revision: string): void {
  const problem = unsafeRelativePath(revision);
  if (problem !== null) throw usageError(`--revision "${revision}": ${problem}; expected a branch, tag or commit`);
}

/**
 * A Hub repo id as the Hub allows it: a name or owner/name of letters, digits, - _ . (no ".." and
 * not starting with - or .). The client library's own refusals ("Too many slashes") or an empty
 * id's "fetch failed" named the wrong cause, with exit 1.
 */
export function checkRepoId(repo: string): void {
  const part = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}$/;
  const parts = repo.split("/");
  if (parts.length > 2 || !parts.every((p) => part.test(p) && !p.includes("..")))
    throw usageError(`model fetch ${JSON.stringify(repo)}: expected a Hub repo id such as org/name (letters, digits, - _ .)`);
}

function refuse(where: string, key: string, value: unknown, expected: string): never {
  throw new HubAnswerError(
    `the Hub at ${where} answered ${key} ${JSON.stringify(value).slice(0, 120)}: expected ${expected}; refused (nothing written for it)`,
  );
}

/**
 * Every value of a Hub API answer that the client library turns into a path: commit shas, blob
 * oids, LFS oids, xet hashes (hashes, nothing else) and file paths (relative, inside the repo).
 */
export function checkHubAnswer(value: unknown, where: string, key = ""): void {
  if (Array.isArray(value)) {
    for (const item of value) checkHubAnswer(item, where, key);
    return;
  }
  if (value === null || typeof value !== "object") return;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if ((k === "sha" || k === "oid" || k === "xetHash") && v !== undefined && v !== null) {
      if (typeof v !== "string" || !HASH.test(v)) refuse(where, k, v, "a hex sha1 or sha256");
    } else if (k === "id" && key === "lastCommit" && v !== undefined && v !== null) {
      if (typeof v !== "string" || !HASH.test(v)) refuse(where, "lastCommit.id", v, "a hex commit id");
    } else if ((k === "path" || k === "rfilename") && typeof v === "string") {
      const problem = unsafeRelativePath(v);
      if (problem !== null) refuse(where, k, v, `a path inside the repository (${problem})`);
    } else if (k === "path" || k === "rfilename") {
      if (v !== undefined && v !== null) refuse(where, k, v, "a path");
    } else checkHubAnswer(v, where, k);
  }
}

/** A response body cut off with an error past `maxBytes`: a body that never ends grows nothing. */
function cappedBody(body: ReadableStream<Uint8Array>, maxBytes: number, describe: () => string): ReadableStream<Uint8Array> {
  let seen = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) controller.error(new HubAnswerError(describe()));
        else controller.enqueue(chunk);
      },
    }),
  );
}

export interface HubFetchLimits {
  /** The most bytes one file download may carry (the largest size the listing declared). */
  maxFileBytes: number;
  maxJsonBytes?: number;
}

function urlOf(input: Parameters<typeof fetch>[0]): URL {
  return new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
}

/**
 * A fetch for @huggingface/hub that checks each API answer (checkHubAnswer) and caps each body:
 * JSON at maxJsonBytes, file downloads at maxFileBytes. Errors are HubAnswerErrors (one line).
 */
export function guardedHubFetch(limits: HubFetchLimits, base: typeof fetch = fetch): typeof fetch {
  const maxJson = limits.maxJsonBytes ?? MAX_HUB_JSON_BYTES;
  return async (input, init) => {
    const response = await base(input, init);
    const url = urlOf(input);
    const where = `${url.origin}${url.pathname}`;
    if (!response.body) return response;
    const isApi = /^\/api\//.test(url.pathname);
    const isJson = (response.headers.get("content-type") ?? "").includes("json");
    if (isApi && isJson) {
      const capped = cappedBody(response.body, maxJson, () => `the Hub at ${where} sent more than ${maxJson} bytes of JSON; refused`);
      const text = await new Response(capped).text();
      if (response.ok) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new HubAnswerError(`the Hub at ${where} answered something that is not JSON (HTTP ${response.status})`);
        }
        checkHubAnswer(parsed, where);
      }
      return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (Number.isFinite(declared) && declared > limits.maxFileBytes) {
      await response.body.cancel();
      throw new HubAnswerError(
        `the Hub at ${where} declared ${declared} bytes, more than the ${limits.maxFileBytes} its file listing gave; refused`,
      );
    }
    const body = cappedBody(
      response.body,
      limits.maxFileBytes,
      () => `the Hub at ${where} sent more than the ${limits.maxFileBytes} bytes its file listing gave; download stopped`,
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
