/**
 * Reads with a ceiling: a file or a body from outside is never read whole into memory on trust.
 * An image "file" that is a FIFO or /dev/zero, or a download that never ends, stops at a cap with
 * an error that names it, instead of growing memory until the process dies.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants, createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** The longest line a streamed text input may hold (a record, a KB row, a benchmark question is a few KB). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** The largest text file read whole (a benchmark file, a report, a judgements sheet): past it, a string cannot hold it anyway. */
export const MAX_TEXT_FILE_BYTES = 256 * 1024 * 1024;

/** Why a bounded read stopped. */
export class BoundedReadError extends Error {
  constructor(
    readonly reason: "not-a-file" | "too-large" | "size-mismatch" | "hash-mismatch",
    message: string,
    /** For too-large: the size declared or seen (at least this many bytes). */
    readonly bytes?: number,
  ) {
    super(message);
    this.name = "BoundedReadError";
  }
}

/**
 * A regular file's bytes, at most `maxBytes`: anything else (a FIFO, a device, a socket, a folder)
 * is refused before a byte is read, and a file larger than the cap (or growing past it while read)
 * is refused too. O_NONBLOCK: opening a FIFO with no writer does not wait forever.
 */
export async function readRegularFileCapped(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    // A folder fails as reading one always has (EISDIR), so callers' messages stay the same.
    if (info.isDirectory())
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: "EISDIR", path, syscall: "read" });
    if (!info.isFile()) throw new BoundedReadError("not-a-file", `${path}: not a regular file (a device, FIFO, socket or folder)`);
    if (info.size > maxBytes)
      throw new BoundedReadError("too-large", `${path}: ${info.size} bytes is over the cap of ${maxBytes}`, info.size);
    // One byte past the cap tells a file that grew since the stat.
    const buffer = Buffer.alloc(Math.min(maxBytes, info.size) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buffer.length) {
        if (filled > maxBytes) throw new BoundedReadError("too-large", `${path}: more than the cap of ${maxBytes} bytes`, filled);
        break;
      }
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/** A fetch body, at most `maxBytes`: the declared content-length is checked first, then every chunk as it comes. */
export async function readResponseCapped(response: Response, maxBytes: number, what: string): Promise<Buffer> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new BoundedReadError("too-large", `${what}: ${declared} bytes is over the cap of ${maxBytes}`, declared);
  }
  if (!response.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new BoundedReadError("too-large", `${what}: more than the cap of ${maxBytes} bytes`, total);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, total);
}

export interface StreamedDownload {
  /** The exact size expected, where known (a pinned file). */
  bytes?: number;
  /** The most bytes accepted (always). */
  maxBytes: number;
  /** The sha256 expected, where known: a mismatch is never kept. */
  sha256?: string;
}

/**
 * Streams a fetch body to `target` through a sibling temp file: hashed on the way, stopped past
 * the size it should have, renamed into place only when size and hash agree; the temp file is
 * removed on any failure, so nothing half-downloaded looks finished.
 */
export async function downloadToFile(response: Response, target: string, expected: StreamedDownload, what: string): Promise<number> {
  const limit = Math.min(expected.maxBytes, expected.bytes ?? Number.POSITIVE_INFINITY);
  const pinned = expected.sha256 !== undefined ? ` (so it does not match the pinned ${expected.sha256})` : "";
  const tooLarge = (detail: string) =>
    new BoundedReadError(
      "too-large",
      `${what}: ${detail}, more than the ${limit} bytes expected${pinned}; download stopped, the file was not kept`,
    );
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw tooLarge(`the server declared ${declared} bytes`);
  }
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const hash = createHash("sha256");
  let total = 0;
  try {
    const body = response.body
      ? Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>)
      : Readable.from([]);
    await pipeline(
      body,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          total += chunk.length;
          if (total > limit) throw tooLarge(`at least ${total} bytes`);
          hash.update(chunk);
          yield chunk;
        }
      },
      createWriteStream(tmp, { flags: "wx" }),
    );
    if (expected.bytes !== undefined && total !== expected.bytes)
      throw new BoundedReadError(
        "size-mismatch",
        `${what}: ${total} bytes, not the ${expected.bytes} expected${pinned}; the file was not kept`,
      );
    const digest = hash.digest("hex");
    if (expected.sha256 !== undefined && digest !== expected.sha256)
      throw new BoundedReadError(
        "hash-mismatch",
        `${what}: sha256 ${digest} does not match the pinned ${expected.sha256}; the file was not kept`,
      );
    await rename(tmp, target);
    return total;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
