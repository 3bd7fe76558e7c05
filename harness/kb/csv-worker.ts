import { parentPort, workerData } from "node:worker_threads";
import { EXIT, HarnessError } from "../util/errors.ts";
import { csvRecords, type CsvSkip } from "./csv-records.ts";

/**
 * The parse worker: runs csv-parse on its own thread and posts records to the reader in batches,
 * so parsing (the slowest step) overlaps with everything the main thread does. At most
 * maxBatchesInFlight batches are unacknowledged at a time: memory stays flat when the main
 * thread is the slower side.
 */

export interface CsvWorkerInput {
  /** Marks this module's own workers (the module is also imported on the main thread). */
  csvWorker: true;
  file: string;
  skipBadRows: boolean;
  /** Post a batch once its fields take this many UTF-8 bytes. */
  batchBytes: number;
  maxBatchesInFlight: number;
}

/**
 * Worker -> reader. A batch's fields travel UTF-8 encoded, back to back in one buffer that is
 * transferred, not copied; `ends[i]` is where field i ends. Record j is `widths[j]` consecutive
 * fields and starts on line `lines[j]`. Cloning the strings themselves took a tenth of the
 * worker's time, and one big string per batch would live in V8's large-object space, which is
 * only freed by full collections: memory grew with the input.
 */
export type CsvWorkerMessage =
  | {
      kind: "batch";
      bytes: Uint8Array<ArrayBuffer>;
      ends: Int32Array<ArrayBuffer>;
      widths: Int32Array<ArrayBuffer>;
      lines: Int32Array<ArrayBuffer>;
      skips: CsvSkip[];
    }
  | { kind: "error"; message: string; exitCode: number }
  | { kind: "end" };

/** Reader -> worker: one batch was consumed. */
export const ACK = "ack";

async function run(port: NonNullable<typeof parentPort>, input: CsvWorkerInput): Promise<void> {
  let inFlight = 0;
  let wake: (() => void) | null = null;
  port.on("message", () => {
    inFlight -= 1;
    const resume = wake;
    wake = null;
    resume?.();
  });
  const encoder = new TextEncoder();
  // Room for a full batch plus one more record of ordinary size; a bigger field gets its own buffer.
  const capacity = input.batchBytes * 2;
  let bytes = new Uint8Array(capacity);
  let used = 0;
  let ends: number[] = [];
  let widths: number[] = [];
  let lines: number[] = [];
  let skips: CsvSkip[] = [];
  const send = async () => {
    while (inFlight >= input.maxBatchesInFlight) await new Promise<void>((resolve) => (wake = resolve));
    const batch: CsvWorkerMessage = {
      kind: "batch",
      bytes,
      ends: Int32Array.from(ends),
      widths: Int32Array.from(widths),
      lines: Int32Array.from(lines),
      skips,
    };
    port.postMessage(batch, [batch.bytes.buffer, batch.ends.buffer, batch.widths.buffer, batch.lines.buffer]);
    inFlight += 1;
    bytes = new Uint8Array(capacity);
    used = 0;
    ends = [];
    widths = [];
    lines = [];
    skips = [];
  };
  try {
    const records = csvRecords(input.file, { skipBadRows: input.skipBadRows, onSkip: (skip) => skips.push(skip) });
    for await (const record of records) {
      // UTF-8 needs at most 3 bytes per UTF-16 unit.
      let worstCase = 0;
      for (const field of record.fields) worstCase += field.length * 3;
      if (used + worstCase > bytes.length) {
        if (widths.length > 0 || skips.length > 0) await send();
        if (worstCase > bytes.length) bytes = new Uint8Array(worstCase);
      }
      for (const field of record.fields) {
        used += encoder.encodeInto(field, bytes.subarray(used)).written;
        ends.push(used);
      }
      widths.push(record.fields.length);
      lines.push(record.line);
      if (used >= input.batchBytes) await send();
    }
    if (widths.length > 0 || skips.length > 0) await send();
    port.postMessage({ kind: "end" } satisfies CsvWorkerMessage);
  } catch (error) {
    const message: CsvWorkerMessage =
      error instanceof HarnessError
        ? { kind: "error", message: error.message, exitCode: error.exitCode }
        : {
            kind: "error",
            message: `CSV parse worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
            exitCode: EXIT.bug,
          };
    port.postMessage(message);
  }
  port.close();
}

if (parentPort && (workerData as Partial<CsvWorkerInput> | null)?.csvWorker === true) await run(parentPort, workerData as CsvWorkerInput);
