import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";

/**
 * The on-disk index of a request-cache log (one JSONL line per answer): a sorted array of
 * (64-bit key prefix, byte offset, byte length) entries behind a 65,536-bucket fan-out table, so
 * a lookup costs one small read whatever the cache holds. The file is immutable: new answers are
 * merged into a fresh file that is renamed over the old one, so a kill at any point leaves either
 * the old or the new index, and whatever the index does not cover is found again by scanning the
 * log from `coveredBytes`.
 *
 * Layout (little-endian): a 40-byte header (magic, covered bytes, entry count, the fingerprint of
 * the log's first bytes, so an index never serves a log that was replaced under it),
 * the fan-out (65,536 u32: entries in buckets 0..i), then the entries (18 bytes each: prefix hi
 * u32, prefix lo u32, offset u48, length u32) sorted by prefix, then offset.
 */
const MAGIC = "IQHCIDX1";
const HEADER_BYTES = 40;
const BUCKETS = 65_536;
const FANOUT_BYTES = BUCKETS * 4;
const ENTRY_BYTES = 18;
const DATA_START = HEADER_BYTES + FANOUT_BYTES;
/** Entries read or written per system call while merging. */
const IO_ENTRIES = 65_536;

/** Where one answer's line sits in the log. */
export interface LogSpan {
  offset: number;
  length: number;
}

/** The 64-bit prefix a key is indexed by: its first 16 hex digits (keys are SHA-256), else a hash of it. */
export function keyPrefix(key: string): [number, number] {
  const hex = /^[0-9a-f]{16}/.test(key) ? key : createHash("sha256").update(key).digest("hex");
  return [parseInt(hex.slice(0, 8), 16), parseInt(hex.slice(8, 16), 16)];
}

/**
 * Where recent answers sit in the log (those past the index, up to UNINDEXED_LIMIT), found by
 * their key's 64-bit prefix in typed arrays: about 40 bytes an entry outside the JS heap, against
 * ~150 on it for a Map of key strings to span objects, whose 50,000 entries were the largest part
 * of a long run's live heap (and V8 grows the heap by a factor of what lives). Keys sharing a
 * prefix keep the newer span: the older one's lookup reads a line whose key differs, and the
 * cache then re-indexes the log, whose index keeps both.
 */
export class RecentSpans {
  size = 0;
  private hi = new Uint32Array(1024);
  private lo = new Uint32Array(1024);
  private offset = new Float64Array(1024);
  private length = new Uint32Array(1024);
  private used = new Uint8Array(1024);

  set(key: string, offset: number, length: number): void {
    const [hi, lo] = keyPrefix(key);
    this.put(hi, lo, offset, length);
    if (this.size * 2 > this.used.length) this.rebuild(this.used.length * 2, 0);
  }

  get(key: string): LogSpan | undefined {
    const [hi, lo] = keyPrefix(key);
    const mask = this.used.length - 1;
    for (let i = lo & mask; this.used[i]; i = (i + 1) & mask) {
      if (this.hi[i] === hi && this.lo[i] === lo) return { offset: this.offset[i]!, length: this.length[i]! };
    }
    return undefined;
  }

  /** Forgets the spans before `offset` (the index covers them now). */
  dropBefore(offset: number): void {
    this.rebuild(this.used.length, offset);
  }

  private put(hi: number, lo: number, offset: number, length: number): void {
    const mask = this.used.length - 1;
    let i = lo & mask;
    for (; this.used[i]; i = (i + 1) & mask) if (this.hi[i] === hi && this.lo[i] === lo) break;
    if (!this.used[i]) this.size += 1;
    this.used[i] = 1;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.offset[i] = offset;
    this.length[i] = length;
  }

  private rebuild(capacity: number, keepFrom: number): void {
    const { hi, lo, offset, length, used } = this;
    this.hi = new Uint32Array(capacity);
    this.lo = new Uint32Array(capacity);
    this.offset = new Float64Array(capacity);
    this.length = new Uint32Array(capacity);
    this.used = new Uint8Array(capacity);
    this.size = 0;
    for (let i = 0; i < used.length; i++) if (used[i] && offset[i]! >= keepFrom) this.put(hi[i]!, lo[i]!, offset[i]!, length[i]!);
  }
}

/** New entries gathered from the log, in struct-of-arrays form (18 bytes each, no objects). */
export class EntryBatch {
  count = 0;
  private hi = new Uint32Array(1024);
  private lo = new Uint32Array(1024);
  private offset = new Float64Array(1024);
  private length = new Uint32Array(1024);

  add(key: string, span: LogSpan): void {
    if (this.count === this.hi.length) this.grow();
    const [hi, lo] = keyPrefix(key);
    const i = this.count++;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.offset[i] = span.offset;
    this.length[i] = span.length;
  }

  private grow(): void {
    const size = this.hi.length * 2;
    const grow = <T extends Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.hi = grow(this.hi, (n) => new Uint32Array(n));
    this.lo = grow(this.lo, (n) => new Uint32Array(n));
    this.offset = grow(this.offset, (n) => new Float64Array(n));
    this.length = grow(this.length, (n) => new Uint32Array(n));
  }

  /** Entry positions in index order: by prefix, then offset (older first). */
  sorted(): Uint32Array {
    const order = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) order[i] = i;
    const { hi, lo, offset } = this;
    return order.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || offset[a]! - offset[b]!);
  }

  entry(i: number): [number, number, number, number] {
    return [this.hi[i]!, this.lo[i]!, this.offset[i]!, this.length[i]!];
  }
}

export class CacheIndex {
  private constructor(
    private readonly fd: number,
    /** Log bytes [0, coveredBytes) are indexed. */
    readonly coveredBytes: number,
    readonly count: number,
    private readonly fanout: Uint32Array,
  ) {}

  /** Opens the index of the log open at `logFd`; null when it is missing, torn, or belongs to another log. */
  static open(path: string, logFd: number): CacheIndex | null {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch {
      return null;
    }
    const header = Buffer.alloc(DATA_START);
    const read = readSync(fd, header, 0, DATA_START, 0);
    const coveredBytes = read === DATA_START ? Number(header.readBigUInt64LE(8)) : -1;
    const count = read === DATA_START ? Number(header.readBigUInt64LE(16)) : -1;
    const valid =
      read === DATA_START &&
      header.toString("latin1", 0, 8) === MAGIC &&
      fstatSync(fd).size === DATA_START + count * ENTRY_BYTES &&
      coveredBytes <= fstatSync(logFd).size &&
      header.toString("hex", 24, 32) === logFingerprint(logFd, coveredBytes);
    if (!valid) {
      closeSync(fd);
      return null;
    }
    const fanout = new Uint32Array(BUCKETS);
    for (let i = 0; i < BUCKETS; i++) fanout[i] = header.readUInt32LE(HEADER_BYTES + i * 4);
    return new CacheIndex(fd, coveredBytes, count, fanout);
  }

  /** Where lines with this key's prefix may sit, newest first (a key answered twice keeps both). */
  candidates(key: string): LogSpan[] {
    const [hi, lo] = keyPrefix(key);
    const bucket = hi >>> 16;
    const start = bucket === 0 ? 0 : this.fanout[bucket - 1]!;
    const end = this.fanout[bucket]!;
    if (end <= start) return [];
    const buffer = Buffer.allocUnsafe((end - start) * ENTRY_BYTES);
    readSync(this.fd, buffer, 0, buffer.length, DATA_START + start * ENTRY_BYTES);
    const spans: LogSpan[] = [];
    for (let i = end - start - 1; i >= 0; i--) {
      const at = i * ENTRY_BYTES;
      if (buffer.readUInt32LE(at) === hi && buffer.readUInt32LE(at + 4) === lo) {
        spans.push({ offset: buffer.readUIntLE(at + 8, 6), length: buffer.readUInt32LE(at + 14) });
      }
    }
    return spans;
  }

  /** Every entry in index order, read in blocks. */
  *entries(): Generator<[number, number, number, number]> {
    const buffer = Buffer.alloc(IO_ENTRIES * ENTRY_BYTES);
    for (let first = 0; first < this.count; first += IO_ENTRIES) {
      const n = Math.min(IO_ENTRIES, this.count - first);
      readSync(this.fd, buffer, 0, n * ENTRY_BYTES, DATA_START + first * ENTRY_BYTES);
      for (let i = 0; i < n; i++) {
        const at = i * ENTRY_BYTES;
        yield [buffer.readUInt32LE(at), buffer.readUInt32LE(at + 4), buffer.readUIntLE(at + 8, 6), buffer.readUInt32LE(at + 14)];
      }
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A positioned write of `length` bytes; a short one (a full disk) throws as ENOSPC, so no half index is renamed into place. */
function writeAll(fd: number, buffer: Buffer, length: number, position: number): void {
  if (writeSync(fd, buffer, 0, length, position) !== length) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
}

/**
 * Writes the index of `old` plus `fresh` (entries for log bytes [old.coveredBytes, coveredBytes))
 * to a temp file and renames it over `path`: a reader sees the old index or the new, never half.
 */
export function writeIndex(path: string, logFd: number, coveredBytes: number, old: CacheIndex | null, fresh: EntryBatch): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    const fanout = new Uint32Array(BUCKETS);
    const out = Buffer.alloc(IO_ENTRIES * ENTRY_BYTES);
    let buffered = 0;
    let position = DATA_START;
    let count = 0;
    const emit = ([hi, lo, offset, length]: [number, number, number, number]) => {
      const at = buffered * ENTRY_BYTES;
      out.writeUInt32LE(hi, at);
      out.writeUInt32LE(lo, at + 4);
      out.writeUIntLE(offset, at + 8, 6);
      out.writeUInt32LE(length, at + 14);
      fanout[hi >>> 16]! += 1;
      count += 1;
      if (++buffered === IO_ENTRIES) flush();
    };
    const flush = () => {
      writeAll(fd, out, buffered * ENTRY_BYTES, position);
      position += buffered * ENTRY_BYTES;
      buffered = 0;
    };
    // A merge of two sorted runs; on equal prefixes the old (lower offset) entry goes first.
    const order = fresh.sorted();
    let next = 0;
    for (const entry of old?.entries() ?? []) {
      while (next < order.length && before(fresh.entry(order[next]!), entry)) emit(fresh.entry(order[next++]!));
      emit(entry);
    }
    while (next < order.length) emit(fresh.entry(order[next++]!));
    flush();
    const header = Buffer.alloc(DATA_START);
    header.write(MAGIC, 0, "latin1");
    header.writeBigUInt64LE(BigInt(coveredBytes), 8);
    header.writeBigUInt64LE(BigInt(count), 16);
    header.write(logFingerprint(logFd, coveredBytes), 24, "hex");
    let cumulative = 0;
    for (let i = 0; i < BUCKETS; i++) {
      cumulative += fanout[i]!;
      header.writeUInt32LE(cumulative, HEADER_BYTES + i * 4);
    }
    writeAll(fd, header, DATA_START, 0);
  } catch (error) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** The first 8 bytes of a hash of the log's first 4 KiB (of what the index covers): the log only grows, so these never change. */
function logFingerprint(logFd: number, coveredBytes: number): string {
  const head = Buffer.alloc(Math.min(coveredBytes, 4096));
  const n = readSync(logFd, head, 0, head.length, 0);
  return createHash("sha256")
    .update(head.subarray(0, n))
    .update(String(Math.min(coveredBytes, 4096)))
    .digest("hex")
    .slice(0, 16);
}

function before(a: readonly number[], b: readonly number[]): boolean {
  return a[0]! < b[0]! || (a[0] === b[0] && (a[1]! < b[1]! || (a[1] === b[1] && a[2]! < b[2]!)));
}

const KEY_AT_LINE_START = /^\{"key":"([^"\\]{1,256})"/;

/**
 * Reads the log's complete lines in [from, to) and hands each line's key and span to `onLine`;
 * returns the end of the last complete line (a torn last line is left out). Lines that carry no
 * key are skipped, as a full load skipped lines that did not parse.
 */
export function scanLog(fd: number, from: number, to: number, onLine: (key: string, span: LogSpan) => void): number {
  let buffer = Buffer.alloc(4 * 1024 * 1024);
  let position = from;
  while (position < to) {
    const n = readSync(fd, buffer, 0, Math.min(buffer.length, to - position), position);
    if (n <= 0) break;
    const chunk = buffer.subarray(0, n);
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      if (newline > start) {
        const key = keyOfLine(chunk, start, newline);
        if (key !== null) onLine(key, { offset: position + start, length: newline - start });
      }
      start = newline + 1;
    }
    if (start === 0) {
      // No newline in a whole buffer: a line longer than it (read again, twice as big), or a torn end.
      if (n < buffer.length) break;
      buffer = Buffer.alloc(buffer.length * 2);
      continue;
    }
    position += start;
  }
  return position;
}

function keyOfLine(chunk: Buffer, start: number, end: number): string | null {
  const match = KEY_AT_LINE_START.exec(chunk.toString("latin1", start, Math.min(end, start + 300)));
  if (match) return match[1]!;
  try {
    const parsed = JSON.parse(chunk.toString("utf8", start, end)) as { key?: unknown };
    return typeof parsed.key === "string" ? parsed.key : null;
  } catch {
    return null;
  }
}
