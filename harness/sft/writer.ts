import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { once } from "node:events";

// Under V8's large-object size (128 KiB), so flushed buffers die young instead of piling up.
const FLUSH_AT = 1 << 15;

/**
 * Writes lines to a temp file beside the target, batching small writes and waiting for the
 * stream to drain, so memory stays flat however many lines go through. The target appears only
 * on commit() (an atomic rename); abort() removes the temp file.
 */
export class AtomicLineWriter {
  readonly target: string;
  readonly tempPath: string;
  private readonly stream: WriteStream;
  private buffer = "";
  private failure: Error | null = null;
  lines = 0;
  bytes = 0;

  constructor(target: string) {
    this.target = target;
    this.tempPath = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
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
    if (this.failure) throw this.failure;
    if (this.buffer.length === 0) return;
    const chunk = this.buffer;
    this.buffer = "";
    this.bytes += Buffer.byteLength(chunk);
    if (!this.stream.write(chunk)) await once(this.stream, "drain");
    if (this.failure) throw this.failure;
  }

  async commit(): Promise<void> {
    await this.flush();
    this.stream.end();
    await once(this.stream, "close");
    if (this.failure) throw this.failure;
    await rename(this.tempPath, this.target);
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.tempPath, { force: true });
  }
}
