/**
 * Outputs that appear whole or not at all. Every stage that streams results to disk (the KB, a
 * batch file, critic scores, SFT JSONL) writes to temp files beside the targets and renames them
 * into place only when the run finished; a failed, stopped or killed run leaves no file that looks
 * finished. writeFileAtomic (util/fs.ts) is the one-shot form for files written in one go.
 */
import { randomBytes } from "node:crypto";
import { closeSync, createWriteStream, openSync, readdirSync, renameSync, rmSync, writeSync, type WriteStream } from "node:fs";
import { once } from "node:events";
import { mkdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { diskFullError, refuseSpecialTarget } from "./fs.ts";

/** `<target>.<pid>.tmp`: a pid names the run that left a temp file behind, so later runs can clear it. */
function tempPathFor(target: string, unique = false): string {
  return `${target}.${process.pid}${unique ? `.${randomBytes(4).toString("hex")}` : ""}.tmp`;
}

/** Removes temp files earlier (killed) runs left beside `target`: once it is complete they are of no use. */
export function removeStaleTempFiles(target: string): void {
  const name = basename(target).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const stale = new RegExp(`^${name}\\.\\d+(\\.[0-9a-f]{8})?\\.tmp$`);
  for (const entry of readdirSync(dirname(target))) if (stale.test(entry)) rmSync(join(dirname(target), entry), { force: true });
}

/**
 * One file written synchronously as results come (small, infrequent writes: KB rows, batch lines,
 * critic chunks). commit() renames it into place; abandon() removes the temp file and may be
 * called after a failed commit or twice.
 */
export class StagedFile {
  readonly tempPath: string;
  private fd: number | null;
  /** Number of write() calls that wrote something. */
  writes = 0;

  constructor(readonly target: string) {
    this.tempPath = tempPathFor(target);
    this.fd = openSync(this.tempPath, "w");
  }

  write(text: string): void {
    if (this.fd === null) throw new Error(`${this.target}: written after commit or abandon`);
    if (text === "") return;
    try {
      writeSync(this.fd, text);
    } catch (error) {
      throw diskFullError(this.target, error);
    }
    this.writes += 1;
  }

  /** Renames the temp file over the target (or, with `keepIfEmpty: false` and nothing written, removes it). */
  commit(options: { keepIfEmpty?: boolean } = {}): void {
    try {
      this.close();
    } catch (error) {
      throw diskFullError(this.target, error);
    }
    if (options.keepIfEmpty === false && this.writes === 0) {
      rmSync(this.tempPath, { force: true });
      return;
    }
    refuseSpecialTarget(this.target);
    renameSync(this.tempPath, this.target);
    removeStaleTempFiles(this.target);
  }

  abandon(): void {
    this.close();
    rmSync(this.tempPath, { force: true });
  }

  private close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeSync(fd);
  }
}

/** Several StagedFiles that appear together (mind_kb.csv with mind_kb.jsonl): all renamed on commit, all removed on abandon. */
export class StagedFileSet {
  private readonly files: StagedFile[];
  constructor(targets: readonly string[]) {
    this.files = [];
    try {
      for (const target of targets) this.files.push(new StagedFile(target));
    } catch (error) {
      this.abandon();
      throw error;
    }
  }
  file(index: number): StagedFile {
    return this.files[index]!;
  }
  commit(): void {
    for (const file of this.files) file.commit();
  }
  abandon(): void {
    for (const file of this.files) file.abandon();
  }
}

// Under V8's large-object size (128 KiB), so flushed buffers die young instead of piling up.
const FLUSH_AT = 1 << 15;

/**
 * The streaming form for files of millions of lines (SFT JSONL): lines are batched and handed to a
 * write stream that is allowed to drain, so memory stays flat however many lines go through. The
 * target appears only on commit() (an atomic rename); abort() removes the temp file.
 */
export class StagedLineWriter {
  readonly tempPath: string;
  private readonly stream: WriteStream;
  private buffer = "";
  private failure: Error | null = null;
  lines = 0;
  bytes = 0;

  constructor(readonly target: string) {
    this.tempPath = tempPathFor(target, true);
    this.stream = createWriteStream(this.tempPath);
    this.stream.on("error", (error) => {
      this.failure = error;
    });
  }

  /**
   * Appends one line (without its newline) to the buffer; true when the buffer is full and the
   * caller should `await flush()`. Synchronous, so the per-line cost is one string append.
   */
  push(line: string): boolean {
    this.buffer += `${line}\n`;
    this.lines += 1;
    return this.buffer.length >= FLUSH_AT;
  }

  async writeLine(line: string): Promise<void> {
    if (this.push(line)) await this.flush();
  }

  /** Hands the buffer to the file stream, waiting while the stream drains (backpressure). */
  async flush(): Promise<void> {
    if (this.failure) throw diskFullError(this.target, this.failure);
    if (this.buffer.length === 0) return;
    const chunk = this.buffer;
    this.buffer = "";
    this.bytes += Buffer.byteLength(chunk);
    try {
      if (!this.stream.write(chunk)) await once(this.stream, "drain");
    } catch (error) {
      throw diskFullError(this.target, error);
    }
    if (this.failure) throw diskFullError(this.target, this.failure);
  }

  async commit(): Promise<void> {
    await this.flush();
    this.stream.end();
    try {
      await once(this.stream, "close");
    } catch (error) {
      throw diskFullError(this.target, error);
    }
    if (this.failure) throw diskFullError(this.target, this.failure);
    refuseSpecialTarget(this.target);
    await rename(this.tempPath, this.target);
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.tempPath, { force: true });
  }
}

/**
 * Writes `lines` (each without its newline) to `path` as writeFileAtomic does, but streamed: a file
 * of many large lines (eval's samples.jsonl) never becomes one string, which V8 caps at ~512 MiB.
 */
export async function writeLinesAtomic(path: string, lines: Iterable<string>): Promise<void> {
  refuseSpecialTarget(path);
  await mkdir(dirname(path), { recursive: true });
  const writer = new StagedLineWriter(path);
  try {
    for (const line of lines) if (writer.push(line)) await writer.flush();
    await writer.commit();
  } catch (error) {
    await writer.abort();
    throw diskFullError(path, error);
  }
}
