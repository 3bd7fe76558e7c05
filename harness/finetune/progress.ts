import { FailureCollector } from "../llamafactory/failures.ts";
import { FileFollower } from "../llamafactory/follow.ts";
import { formatTrainerProgress, isDiverged, parseTrainerLogLine, type TrainerLogEntry } from "../llamafactory/trainer-log.ts";
import type { Io } from "../util/io.ts";
import { parseResumeLine } from "./plan.ts";

export interface TrainingDisplayOptions {
  /** Echo LLaMA-Factory's own output; otherwise only its known failures are explained. */
  verbose: boolean;
  /** Force the bar on or off; default: a bar on a terminal, plain lines otherwise. */
  progress?: boolean;
}

/**
 * What `harness finetune` shows and keeps while LLaMA-Factory trains: its trainer_log.jsonl
 * followed as a bar (a terminal) or a line per logged step (a log file), its output echoed or
 * only its known failures explained, and the checkpoint it says it resumed from.
 */
export class TrainingMonitor {
  readonly failures = new FailureCollector();
  /** The checkpoint LLaMA-Factory said it resumed from, if it said so. */
  resumedFrom: string | null = null;
  /** The last trainer-log entry, with the last known learning rate. */
  lastEntry: TrainerLogEntry | null = null;
  private lastLoss: number | undefined;
  private lastLr: number | undefined;
  private warnedDiverged = false;
  private lastPrintedStep = -1;
  private barOnScreen = false;
  private readonly interactive: boolean;
  private readonly follower: FileFollower;

  constructor(
    trainerLog: string,
    private readonly io: Io,
    private readonly options: TrainingDisplayOptions,
  ) {
    this.interactive = options.progress ?? Boolean(io.stderr.isTTY);
    this.follower = new FileFollower(trainerLog, (line) => this.onTrainerLogLine(line));
  }

  /** Follows the trainer log from its current end (a resumed run appends to the old one). */
  start(): Promise<void> {
    return this.follower.start();
  }

  /** Reads the rest of the trainer log, takes the bar down and leaves its last state as a line. */
  async stop(): Promise<void> {
    await this.follower.stop();
    this.clearBar();
    if (this.lastEntry && this.interactive) this.say(formatTrainerProgress(this.lastEntry, this.interactive, this.lastLoss));
  }

  /** A line on stderr, above the bar. */
  print(line: string): void {
    this.clearBar();
    this.say(line);
  }

  /** One line of LLaMA-Factory's own output. */
  onOutputLine(line: string): void {
    if (this.options.verbose) this.print(line);
    const resumed = parseResumeLine(line);
    if (resumed) this.resumedFrom = resumed;
    for (const failure of this.failures.feed(line)) if (!this.options.verbose) this.print(`! ${failure.explanation}`);
  }

  private onTrainerLogLine(line: string): void {
    const entry = parseTrainerLogLine(line);
    if (!entry) return;
    // The end-of-training line carries neither loss nor lr: keep showing the last ones.
    if (entry.loss !== undefined) this.lastLoss = entry.loss;
    if (entry.lr !== undefined) this.lastLr = entry.lr;
    this.lastEntry = { ...entry, ...(this.lastLr !== undefined ? { lr: entry.lr ?? this.lastLr } : {}) };
    if (isDiverged(entry) && !this.warnedDiverged) {
      this.warnedDiverged = true;
      for (const f of this.failures.feed('"loss": NaN')) this.print(`warning: ${f.explanation}`);
    }
    if (this.options.progress === false) return;
    const text = formatTrainerProgress(this.lastEntry, this.interactive, this.lastLoss);
    if (this.interactive) {
      this.io.stderr.write(`\r\x1b[2K${text}`);
      this.barOnScreen = true;
    } else if (entry.loss !== undefined || entry.currentSteps !== this.lastPrintedStep) {
      // The end-of-training line repeats the last step without a loss: not worth a line in a log.
      this.say(text);
    }
    this.lastPrintedStep = entry.currentSteps;
  }

  private clearBar(): void {
    if (this.barOnScreen) this.io.stderr.write("\r\x1b[2K");
    this.barOnScreen = false;
  }

  private say(line: string): void {
    this.io.stderr.write(`${line}\n`);
  }
}
