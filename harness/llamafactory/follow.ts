import { open, stat } from "node:fs/promises";

/**
 * Tails a JSONL file that another process appends to (trainer_log.jsonl), calling onLine for
 * each complete new line. Starts at the file's current end (a resumed run appends to the old
 * log) and starts over when the file is replaced or truncated.
 */
export class FileFollower {
  private offset = 0;
  private partial = "";
  private timer: NodeJS.Timeout | null = null;
  private reading: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
    private readonly intervalMs = 500,
  ) {}

  async start(): Promise<void> {
    this.offset = await stat(this.path).then(
      (s) => s.size,
      () => 0,
    );
    this.timer = setInterval(() => {
      this.reading = this.reading.then(() => this.poll());
    }, this.intervalMs);
  }

  /** Reads what is left, then stops. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reading;
    await this.poll();
    if (this.partial.trim()) this.onLine(this.partial);
    this.partial = "";
  }

  private async poll(): Promise<void> {
    const size = await stat(this.path).then(
      (s) => s.size,
      () => -1,
    );
    if (size < 0) return;
    if (size < this.offset) {
      this.offset = 0;
      this.partial = "";
    }
    if (size === this.offset) return;
    const handle = await open(this.path, "r");
    try {
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buffer.subarray(0, bytesRead).toString("utf8");
      const lines = text.split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) this.onLine(line);
    } finally {
      await handle.close();
    }
  }
}
