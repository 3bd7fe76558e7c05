import { parentPort, workerData } from "node:worker_threads";
import { HarnessError } from "../util/errors.ts";
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
  /** Post a batch once its fields hold this many characters. */
  batchChars: number;
  maxBatchesInFlight: number;
}

/**
 * Worker -> reader. A batch's fields travel as one UTF-8 buffer (`text`, cut by `lengths` in
 * UTF-16 units once decoded), transferred rather than copied: cloning the strings themselves
 * took a tenth of the worker's time. Record i is `widths[i]` consecutive fields and starts on
 * line `lines[i]`.
 */
export type CsvWorkerMessage =
  | { kind: "batch"; text: Uint8Array<ArrayBuffer>; lengths: Int32Array<ArrayBuffer>; widths: Int32Array<ArrayBuffer>; lines: Int32Array<ArrayBuffer>; skips: CsvSkip[] }
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
  let parts: string[] = [];
  let lengths: number[] = [];
  let widths: number[] = [];
  let lines: number[] = [];
  let skips: CsvSkip[] = [];
  let chars = 0;
  const send = async () => {
    while (inFlight >= input.maxBatchesInFlight) await new Promise<void>((resolve) => (wake = resolve));
    const batch: CsvWorkerMessage = {
      kind: "batch",
      text: encoder.encode(parts.join("")),
      lengths: Int32Array.from(lengths),
      widths: Int32Array.from(widths),
      lines: Int32Array.from(lines),
      skips,
    };
    port.postMessage(batch, [batch.text.buffer, batch.lengths.buffer, batch.widths.buffer, batch.lines.buffer]);
    inFlight += 1;
    parts = [];
    lengths = [];
    widths = [];
    lines = [];
    skips = [];
    chars = 0;
  };
  try {
    const records = csvRecords(input.file, { skipBadRows: input.skipBadRows, onSkip: (skip) => skips.push(skip) });
    for await (const record of records) {
      for (const field of record.fields) {
        parts.push(field);
        lengths.push(field.length);
        chars += field.length;
      }
      widths.push(record.fields.length);
      lines.push(record.line);
      if (chars >= input.batchChars) await send();
    }
    if (widths.length > 0 || skips.length > 0) await send();
    port.postMessage({ kind: "end" } satisfies CsvWorkerMessage);
  } catch (error) {
    const message: CsvWorkerMessage =
      error instanceof HarnessError
        ? { kind: "error", message: error.message, exitCode: error.exitCode }
        : { kind: "error", message: `CSV parse worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, exitCode: 70 };
    port.postMessage(message);
  }
  port.close();
}

if (parentPort && (workerData as Partial<CsvWorkerInput> | null)?.csvWorker === true) await run(parentPort, workerData as CsvWorkerInput);
