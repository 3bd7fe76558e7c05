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

/** Worker -> reader. A batch's records are `widths[i]` consecutive entries of `fields`. */
export type CsvWorkerMessage =
  | { kind: "batch"; fields: string[]; widths: number[]; lines: number[]; skips: CsvSkip[] }
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
  let batch: Extract<CsvWorkerMessage, { kind: "batch" }> = { kind: "batch", fields: [], widths: [], lines: [], skips: [] };
  let chars = 0;
  const send = async () => {
    while (inFlight >= input.maxBatchesInFlight) await new Promise<void>((resolve) => (wake = resolve));
    port.postMessage(batch);
    inFlight += 1;
    batch = { kind: "batch", fields: [], widths: [], lines: [], skips: [] };
    chars = 0;
  };
  try {
    const records = csvRecords(input.file, { skipBadRows: input.skipBadRows, onSkip: (skip) => batch.skips.push(skip) });
    for await (const record of records) {
      for (const field of record.fields) {
        batch.fields.push(field);
        chars += field.length;
      }
      batch.widths.push(record.fields.length);
      batch.lines.push(record.line);
      if (chars >= input.batchChars) await send();
    }
    if (batch.widths.length > 0 || batch.skips.length > 0) await send();
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
