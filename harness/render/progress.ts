/** Formats seconds as H:MM:SS (or M:SS under an hour). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WriteStream;
  /** Plain (non-terminal) output prints a line at most this often. */
  intervalMs?: number;
  /** Force a style; by default a bar on a terminal, plain lines otherwise. */
  interactive?: boolean;
  now?: () => number;
  /** Read at each print and shown last: a state that changes under the run (the adaptive concurrency level). */
  status?: () => string | undefined;
}

/** A progress bar with rate and ETA on a terminal; plain periodic lines in logs and CI. */
export class Progress {
  private done = 0;
  private readonly start: number;
  private lastPrint = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly interactive: boolean;
  private readonly now: () => number;
  private extra = "";

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.interactive = options.interactive ?? Boolean(this.stream.isTTY);
    this.now = options.now ?? Date.now;
    this.start = this.now();
  }

  /** Extra words after the counts (cached hits, retries). */
  note(extra: string): void {
    this.extra = extra;
  }

  tick(count = 1): void {
    this.done += count;
    const now = this.now();
    const interval = this.interactive ? 100 : (this.options.intervalMs ?? 10_000);
    if (this.done >= this.options.total || now - this.lastPrint >= interval) {
      this.lastPrint = now;
      this.render(now);
    }
  }

  line(now: number = this.now()): string {
    const { total, label } = this.options;
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (total - this.done) / rate : Number.NaN;
    const pct = total > 0 ? (100 * this.done) / total : 100;
    const status = this.options.status?.();
    const counts = `${this.done}/${total} (${pct.toFixed(1)}%) ${rate.toFixed(1)}/s ETA ${formatDuration(eta)}${this.extra ? ` ${this.extra}` : ""}${status ? `, ${status}` : ""}`;
    if (!this.interactive) return `${label}: ${counts}`;
    const width = 24;
    const filled = Math.round((width * Math.min(this.done, total)) / Math.max(total, 1));
    return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${counts}`;
  }

  private render(now: number): void {
    if (this.interactive) this.stream.write(`\r\x1b[2K${this.line(now)}`);
    else this.stream.write(`${this.line(now)}\n`);
  }

  finish(): void {
    if (this.interactive) this.stream.write(`\r\x1b[2K${this.line()}\n`);
    else if (this.lastPrint === 0 || this.done < this.options.total) this.stream.write(`${this.line()}\n`);
  }
}
