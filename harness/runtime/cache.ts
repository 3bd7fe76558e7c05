import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import type { BackendIdentity, ChatRequest, ChatResponse } from "../backends/types.ts";
import { sha256, stableStringify } from "../util/fs.ts";

/**
 * The key of a request: everything that decides the answer (backend, base URL, model, adapter,
 * full messages, decoding, sample index, protocol version) and nothing else: no API key, no
 * question metadata that the model never sees.
 */
export function requestKey(identity: BackendIdentity, request: ChatRequest, protocolVersion: string): string {
  // A fixed-order array instead of a key-sorted object: as deterministic (every field has one
  // place), without re-building each message object, which shows at thousands of requests/s.
  return sha256(
    JSON.stringify([
      protocolVersion,
      identityKey(identity),
      request.messages,
      request.maxTokens,
      request.temperature,
      request.topP ?? null,
      request.topLogprobs ?? null,
      request.sampleIndex,
    ]),
  );
}

const identityKeys = new WeakMap<BackendIdentity, string>();

/** The identity's key-sorted JSON, memoised per identity object. */
function identityKey(identity: BackendIdentity): string {
  let key = identityKeys.get(identity);
  if (key === undefined) {
    key = stableStringify(identity);
    identityKeys.set(identity, key);
  }
  return key;
}

interface CacheLine {
  key: string;
  response: ChatResponse;
  latencyMs: number;
}

export interface CachedAnswer {
  response: ChatResponse;
  latencyMs: number;
}

/**
 * A persistent, append-only request cache: one JSONL file per backend identity. Each answer is
 * appended with a synchronous write as soon as it arrives, so a run killed at any point (Ctrl-C,
 * SIGKILL, a crash) loses at most the requests in flight; a torn last line is ignored on load.
 */
export class RequestCache {
  private readonly entries = new Map<string, CachedAnswer>();
  readonly file: string;
  /** Opened once: appendFileSync would open and close the file for every answer. */
  private fd: number | null = null;

  private constructor(file: string) {
    this.file = file;
  }

  /** One instance per cache file in a process: every task of a run shares it, loaded once. */
  private static readonly open_ = new Map<string, RequestCache>();

  /** The file that holds one backend identity's answers under a cache directory. */
  static fileFor(dir: string, identity: BackendIdentity): string {
    return resolve(dir, `${sha256(stableStringify(identity)).slice(0, 20)}.jsonl`);
  }

  static open(dir: string, identity: BackendIdentity): RequestCache {
    mkdirSync(dir, { recursive: true });
    const file = RequestCache.fileFor(dir, identity);
    const existing = RequestCache.open_.get(file);
    if (existing) return existing;
    const cache = new RequestCache(file);
    const meta = file.replace(/\.jsonl$/, ".meta.json");
    if (!existsSync(meta)) writeFileSync(meta, `${JSON.stringify(identity, null, 2)}\n`);
    cache.load();
    RequestCache.open_.set(file, cache);
    return cache;
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    const text = readFileSync(this.file, "utf8");
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        const parsed = JSON.parse(line) as CacheLine;
        if (typeof parsed.key === "string" && parsed.response && typeof parsed.response.text === "string") {
          this.entries.set(parsed.key, { response: parsed.response, latencyMs: parsed.latencyMs ?? 0 });
        }
      } catch {
        // A line torn by a kill mid-write: that request is simply asked again.
      }
    }
    if (text.length > 0 && !text.endsWith("\n")) appendFileSync(this.file, "\n");
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedAnswer | undefined {
    return this.entries.get(key);
  }

  put(key: string, answer: CachedAnswer): void {
    this.entries.set(key, answer);
    const line: CacheLine = { key, response: answer.response, latencyMs: answer.latencyMs };
    this.fd ??= openSync(this.file, "a");
    // A synchronous write reaches the kernel before the next answer is handled: a SIGKILL
    // after this line cannot lose the answer.
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
}
