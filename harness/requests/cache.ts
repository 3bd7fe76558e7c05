import {
  type Stats,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { resolve } from "node:path";
import { arrayItemJson, messagesJson } from "../backends/request-json.ts";
import type { BackendIdentity, ChatRequest, ChatResponse } from "../backends/types.ts";
import { specialKind } from "../util/paths.ts";
import { EXIT, HarnessError } from "../util/errors.ts";
import { diskFullError, sha256, stableStringify } from "../util/fs.ts";
import { CacheIndex, EntryBatch, RecentSpans, scanLog, writeIndex, type LogSpan } from "./cache-index.ts";

/**
 * The key of a request: everything that decides the answer (backend, base URL, model, adapter,
 * full messages, decoding, sample index, protocol version) and nothing else: no API key, no
 * question metadata that the model never sees.
 */
export function requestKey(identity: BackendIdentity, request: ChatRequest, protocolVersion: string): string {
  // JSON.stringify of a fixed-order array ([protocol, identity, messages, max tokens, temperature,
  // top_p or null, top logprobs or null, sample index]: every field has one place), spliced so the
  // messages' JSON is the one the chat body carries too (backends/request-json.ts).
  return sha256(
    `[${JSON.stringify(protocolVersion)},${JSON.stringify(identityKey(identity))},${messagesJson(request.messages)},${arrayItemJson(request.maxTokens)},${arrayItemJson(request.temperature)},${arrayItemJson(request.topP ?? null)},${arrayItemJson(request.topLogprobs ?? null)},${arrayItemJson(request.sampleIndex)}]`,
  );
}

/** The key of one text's embedding: the embedding model's identity and the text, nothing else. */
export function embeddingKey(identity: BackendIdentity, text: string): string {
  return sha256(JSON.stringify(["embedding", identityKey(identity), text]));
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

/** Answers appended since the index was last written are held in memory (key -> span) up to this many, then merged into it. */
export const UNINDEXED_LIMIT = 50_000;

/** The files of one identity's cache: the log, its index, and the identity it answers for. */
export function cacheFiles(log: string): { log: string; index: string; meta: string } {
  const stem = log.replace(/\.jsonl$/, "");
  return { log, index: `${stem}.idx`, meta: `${stem}.meta.json` };
}

/**
 * A cache file that exists must be a regular file: opening a FIFO waits for a writer forever, and
 * a folder in its place cannot be read or removed as a file. One line naming it, exit 1.
 */
export function refuseIrregularCacheFile(path: string): void {
  let info: Stats;
  try {
    info = statSync(path);
  } catch {
    return;
  }
  if (info.isFile()) return;
  const kind = info.isDirectory() ? "a directory" : (specialKind(info) ?? "not a regular file");
  throw new HarnessError(`request cache ${path}: is ${kind}, expected a regular file: move it out of the cache folder and rerun`, {
    exitCode: EXIT.failed,
  });
}

/**
 * A persistent request cache, one per backend identity, whose memory does not grow with its
 * size. Answers live on disk in an append-only JSONL log (the format of the first release, so
 * its caches are used as they are); an immutable on-disk index (cache-index.ts) finds a key's
 * line in one small read. Each answer is appended with a synchronous write as soon as it
 * arrives, so a run killed at any point (Ctrl-C, SIGKILL, a crash) loses at most the requests in
 * flight; the lines the index does not cover yet are found by scanning the log's tail on open,
 * and a torn last line is ignored. Every line read back is checked against the full key.
 */
export class RequestCache {
  readonly file: string;
  private readonly indexFile: string;
  /** Opened once for appends and positioned reads: appendFileSync would open and close the file for every answer. */
  private readonly fd: number;
  private index: CacheIndex | null;
  /** Lines appended or found past the index's end, until the next merge. */
  private readonly unindexed = new RecentSpans();
  /**
   * Where this process believes the log ends: its next line's offset. Another process appending
   * to the same cache makes it stale; a line then read back at a wrong offset fails the key check
   * and get() re-indexes the log (resync), so a guess costs a lookup, never a wrong answer.
   */
  private end = 0;
  /** Answers put since this turn of the event loop began, written together at its end (putBeforeUse). */
  private waiting: WaitingLines | null = null;

  private constructor(file: string, notice: (line: string) => void) {
    this.file = file;
    this.indexFile = cacheFiles(file).index;
    this.fd = openSync(file, "a+");
    this.closeTornLine(fstatSync(this.fd).size);
    this.index = CacheIndex.open(this.indexFile, this.fd);
    const size = fstatSync(this.fd).size;
    if (!this.index && size > 0) {
      notice(
        `request cache ${file}: indexing ${(size / 1e6).toFixed(1)} MB of answers once (a cache written before the on-disk index, or whose index was lost)`,
      );
    }
    // A new cache gets its (empty) index at once: the next open then knows it is not an old one.
    if (!this.index && size === 0) this.writeIndex(0, new EntryBatch());
    this.merge();
  }

  /** One instance per cache file in a process: every task of a run shares it. */
  private static readonly open_ = new Map<string, RequestCache>();

  /** The file that holds one backend identity's answers under a cache directory. */
  static fileFor(dir: string, identity: BackendIdentity): string {
    return resolve(dir, `${sha256(stableStringify(identity)).slice(0, 20)}.jsonl`);
  }

  /** `notice` hears a one-time indexing of an earlier release's cache. */
  static open(dir: string, identity: BackendIdentity, notice: (line: string) => void = () => undefined): RequestCache {
    mkdirSync(dir, { recursive: true });
    const file = RequestCache.fileFor(dir, identity);
    const existing = RequestCache.open_.get(file);
    if (existing) return existing;
    const { meta, index } = cacheFiles(file);
    for (const path of [file, index, meta]) refuseIrregularCacheFile(path);
    let cache: RequestCache;
    try {
      if (!existsSync(meta)) writeFileSync(meta, `${JSON.stringify(identity, null, 2)}\n`);
      else touch(meta);
      cache = new RequestCache(file, notice);
    } catch (error) {
      throw diskFullError(file, error);
    }
    RequestCache.open_.set(file, cache);
    return cache;
  }

  /** A torn last line (a kill mid-write) is closed, so the next answer starts on a line of its own. */
  private closeTornLine(size: number): void {
    if (size === 0) return;
    const last = Buffer.alloc(1);
    readSync(this.fd, last, 0, 1, size - 1);
    if (last[0] !== 10) writeSync(this.fd, "\n");
  }

  /** Indexes every complete line past the index's end (its own answers and other processes'), in bounded batches. */
  private merge(): void {
    for (;;) {
      const end = fstatSync(this.fd).size;
      this.end = end;
      const from = this.index?.coveredBytes ?? 0;
      if (end <= from) break;
      const batch = new EntryBatch();
      // Read in slices so a first-release cache of any size is indexed in bounded memory.
      const sliceEnd = Math.min(end, from + 256 * 1024 * 1024);
      const covered = scanLog(this.fd, from, sliceEnd, (key, span) => batch.add(key, span));
      if (covered === from) break;
      this.writeIndex(covered, batch);
    }
    this.unindexed.dropBefore(this.index?.coveredBytes ?? 0);
  }

  private writeIndex(coveredBytes: number, batch: EntryBatch): void {
    writeIndex(this.indexFile, this.fd, coveredBytes, this.index, batch);
    this.index?.close();
    this.index = CacheIndex.open(this.indexFile, this.fd);
    if (!this.index) throw new Error(`request cache ${this.indexFile}: the index just written does not read back`);
  }

  /** Closes the files; the next open of the same identity reads them afresh. */
  close(): void {
    this.writeWaiting();
    RequestCache.open_.delete(this.file);
    this.index?.close();
    this.index = null;
    closeSync(this.fd);
  }

  /** Answers on disk (a key answered twice counts twice until it is read). */
  get size(): number {
    return (this.index?.count ?? 0) + this.unindexed.size;
  }

  get(key: string): CachedAnswer | undefined {
    const waiting = this.waiting?.answers.get(key);
    if (waiting) return waiting;
    const recent = this.unindexed.get(key);
    if (recent) {
      const answer = this.read(recent, key);
      if (answer) return answer;
      // Not where this process put it: another process appended too. Index the log as it is.
      this.resync();
    }
    for (const span of this.index?.candidates(key) ?? []) {
      const answer = this.read(span, key);
      if (answer) return answer;
    }
    return undefined;
  }

  /** The answer on the line at `span`, if that line is whole and holds `key` (a prefix match is not enough). */
  private read(span: LogSpan, key: string): CachedAnswer | undefined {
    const buffer = Buffer.allocUnsafe(span.length);
    if (readSync(this.fd, buffer, 0, span.length, span.offset) !== span.length) return undefined;
    try {
      const parsed = JSON.parse(buffer.toString("utf8")) as CacheLine;
      if (parsed.key !== key || !parsed.response || typeof parsed.response.text !== "string") return undefined;
      return { response: parsed.response, latencyMs: parsed.latencyMs ?? 0 };
    } catch {
      return undefined;
    }
  }

  /**
   * Appends one answer at once, in a synchronous write: a SIGKILL after this call cannot lose it.
   * For answers that arrive by the thousand a second, putBeforeUse shares one write among them.
   */
  put(key: string, answer: CachedAnswer): void {
    this.appendLines([[key, answer]]);
  }

  /**
   * Appends the answer in one synchronous write with the others that arrive in the same turn of
   * the event loop (a write per answer was the largest single cost of a zero-latency run,
   * docs/performance.md), and resolves once its line is in the kernel. The caller uses the answer
   * only then, so a SIGKILL at any point loses only answers no one has used yet, as it loses the
   * requests in flight. Until then get() finds it here.
   */
  putBeforeUse(key: string, answer: CachedAnswer): Promise<void> {
    let batch = this.waiting;
    if (batch === null) {
      batch = this.waiting = new WaitingLines();
      setImmediate(() => this.writeWaiting());
    }
    batch.answers.set(key, answer);
    return batch.written;
  }

  private writeWaiting(): void {
    const batch = this.waiting;
    if (batch === null) return;
    this.waiting = null;
    try {
      this.appendLines(batch.answers);
      batch.settle();
    } catch (error) {
      batch.settle(error);
    }
  }

  /**
   * One synchronous write of whole lines at the log's end. The file is opened for appending, so
   * the lines land at the end even when another process shares the cache. A full disk is one line
   * naming the cache; a line torn by it is a miss on the next run (read() checks the whole line),
   * so the cache stays usable for the rerun.
   */
  private appendLines(answers: Iterable<readonly [string, CachedAnswer]>): void {
    // The lines are made here, not when put, so none outlives its write: lines that waited for
    // their turn's write were promoted out of V8's young generation (two fifths more bytes
    // promoted at 90,000 answers, and a larger heap).
    const keys: string[] = [];
    const lines: string[] = [];
    for (const [key, answer] of answers) {
      keys.push(key);
      lines.push(cacheLine(key, answer));
    }
    const lengths = lines.map((line) => Buffer.byteLength(line));
    const total = lengths.reduce((sum, length) => sum + length, 0);
    try {
      if (writeSync(this.fd, lines.length === 1 ? lines[0]! : lines.join("")) !== total) {
        throw Object.assign(new Error("short write"), { code: "ENOSPC" });
      }
    } catch (error) {
      throw diskFullError(this.file, error);
    }
    // No fstat to find where the lines landed (a syscall per write): where this process believes
    // the log ends, checked when read back (get).
    for (const [i, key] of keys.entries()) {
      this.unindexed.set(key, this.end, lengths[i]! - 1);
      this.end += lengths[i]!;
    }
    if (this.unindexed.size >= UNINDEXED_LIMIT) this.resync();
  }

  /** Indexes every line past the index (this process's and others'), so every span is a real one again. */
  private resync(): void {
    try {
      this.merge();
    } catch (error) {
      throw diskFullError(this.file, error);
    }
  }
}

function cacheLine(key: string, answer: CachedAnswer): string {
  const line: CacheLine = { key, response: answer.response, latencyMs: answer.latencyMs };
  return `${JSON.stringify(line)}\n`;
}

/** The answers of one shared write (a key answered twice in one turn is written once, its latest answer), and the promise their callers wait on. */
class WaitingLines {
  readonly answers = new Map<string, CachedAnswer>();
  readonly written: Promise<void>;
  settle!: (error?: unknown) => void;

  constructor() {
    this.written = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error === undefined ? resolve() : reject(error));
    });
  }
}

function touch(file: string): void {
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    // Only `harness cache clear --older-than` reads it; a read-only cache still answers.
  }
}
