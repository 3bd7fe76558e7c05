/**
 * Text inputs are UTF-8. A byte-order mark (Excel and Notepad write one) is accepted and
 * dropped, so the first key or id is not "\uFEFFid"; bytes that are not UTF-8 are an error
 * naming the file and line, never silently turned into U+FFFD and compared as text.
 */
import { createReadStream } from "node:fs";
import { Transform } from "node:stream";
import { BoundedReadError, MAX_LINE_BYTES, MAX_TEXT_FILE_BYTES, readRegularFileCapped } from "./bounded.ts";
import { EXIT, HarnessError } from "./errors.ts";
import { describeFsError, specialPathKind } from "./paths.ts";

const BOM = [0xef, 0xbb, 0xbf];

/** Line (1-based) and column of the first byte that is not valid UTF-8; null when all is valid. */
export function firstInvalidUtf8(bytes: Uint8Array): { line: number; byte: number } | null {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    decoder.decode(bytes);
    return null;
  } catch {
    // Narrow down by lines: the first line that does not decode on its own.
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          decoder.decode(bytes.subarray(start, i));
        } catch {
          return { line, byte: start };
        }
        line += 1;
        start = i + 1;
      }
    }
    return { line, byte: start };
  }
}

/** UTF-8 bytes to text: the BOM dropped, invalid bytes an error naming `label` (a file, or "--flag file"). */
export function decodeUtf8(bytes: Uint8Array, label: string, exitCode: number = EXIT.failed): string {
  const start = bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2] ? 3 : 0;
  const body = bytes.subarray(start);
  const bad = firstInvalidUtf8(body);
  if (bad) throw new HarnessError(`${label}:${bad.line}: not valid UTF-8 text; save the file as UTF-8`, { exitCode });
  return new TextDecoder("utf-8").decode(body);
}

function boundedReason(error: BoundedReadError): string {
  return error.reason === "not-a-file"
    ? "not a regular file (a device, FIFO, socket or folder); expected a text file"
    : `larger than ${MAX_TEXT_FILE_BYTES} bytes, the most read as one text file`;
}

/** The error for an input path that is a FIFO, device or socket: a usage error naming it. */
export function notRegularInput(label: string, kind: string, exitCode: number = EXIT.usage): HarnessError {
  return new HarnessError(`${label}: ${kind}, not a regular file; expected a text file`, { exitCode });
}

/** Reads a UTF-8 text file (see decodeUtf8); a missing or unreadable file names `label`. */
export async function readTextFile(path: string, label: string = path, exitCode: number = EXIT.failed): Promise<string> {
  const special = specialPathKind(path);
  if (special !== null) throw notRegularInput(label, special, exitCode);
  let bytes: Buffer;
  try {
    // A regular file under the cap: a FIFO or /dev/zero would be read forever.
    bytes = await readRegularFileCapped(path, MAX_TEXT_FILE_BYTES);
  } catch (error) {
    if (error instanceof BoundedReadError) throw new HarnessError(`${label}: ${boundedReason(error)}`, { exitCode });
    throw new HarnessError(`${label}: ${describeFsError(error)}`, { exitCode });
  }
  return decodeUtf8(bytes, label, exitCode);
}

/**
 * The streaming form of decodeUtf8 for files too big to hold (KBs, FolkScope CSVs): a Transform
 * that passes the bytes through unchanged, minus a leading BOM, and fails with a HarnessError
 * naming `label` and the line of the first byte that is not UTF-8. A fatal TextDecoder in stream
 * mode validates at native speed; lines are counted only to place an error.
 */
export function utf8CheckStream(label: string, exitCode: number = EXIT.failed, maxLineBytes = MAX_LINE_BYTES): Transform {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let linesBefore = 0;
  /** Bytes since the last newline: a line past maxLineBytes ends the read (nothing downstream buffers it whole). */
  let lineBytes = 0;
  let first = true;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let bytes = chunk;
      if (first) {
        first = false;
        if (bytes.length >= 3 && bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2]) bytes = bytes.subarray(3);
      }
      try {
        decoder.decode(bytes, { stream: true });
      } catch {
        // A sequence cut at the chunk's start fails on the chunk's first line, which is the right line.
        const at = firstInvalidUtf8(bytes)?.line ?? 1;
        done(new HarnessError(`${label}:${linesBefore + at}: not valid UTF-8 text; save the file as UTF-8`, { exitCode }));
        return;
      }
      let start = 0;
      for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) {
        if (lineBytes + (i - start) > maxLineBytes) break;
        linesBefore += 1;
        lineBytes = 0;
        start = i + 1;
      }
      lineBytes += bytes.length - start;
      if (lineBytes > maxLineBytes || bytes.indexOf(0x0a, start) !== -1) {
        done(
          new HarnessError(`${label}:${linesBefore + 1}: a line longer than ${maxLineBytes} bytes; expected one record per line`, {
            exitCode,
          }),
        );
        return;
      }
      done(null, bytes);
    },
    flush(done) {
      try {
        decoder.decode();
        done();
      } catch {
        done(
          new HarnessError(`${label}:${linesBefore + 1}: not valid UTF-8 text (the file ends inside a character); save the file as UTF-8`, {
            exitCode,
          }),
        );
      }
    },
  });
}

/** A file's bytes, checked as UTF-8 as they stream (see utf8CheckStream). Errors reading the file come through the stream too. */
export function createUtf8ReadStream(path: string, options: { label?: string; highWaterMark?: number } = {}): Transform {
  const label = options.label ?? path;
  const check = utf8CheckStream(label);
  // A FIFO or device would be read forever (or block on open): refused before it is opened.
  const special = specialPathKind(path);
  if (special !== null) {
    process.nextTick(() => check.destroy(notRegularInput(label, special)));
    return check;
  }
  const input = createReadStream(path, { highWaterMark: options.highWaterMark ?? 1 << 18 });
  input.on("error", (error) => check.destroy(error));
  check.on("close", () => input.destroy());
  return input.pipe(check);
}
