/**
 * Adaptive concurrency: how many requests may be in flight at once, found from what the server
 * does (docs/eval.md, "Concurrency that fits the server", states the rule; keep the two in step).
 *
 * The level starts at 1 and moves once per round: the next `level` attempts begun at the current
 * level (about one latency's worth; 3 at level 1, so that a cold first request is not the floor). Attempts begun at an earlier level are not counted (their
 * outcome says nothing of this one).
 * - Overload: an attempt of the round ends in 429, 503 or a timeout. At once: the level drops to
 *   floor(0.75 x level) (at least 1) and the level below the one that failed is remembered as
 *   the known good level.
 * - Congestion: the round's median latency is over twice the floor (the lowest round median seen)
 *   and over the floor plus 1 % of the per-request timeout (queueing that costs nothing is left
 *   alone). The level is scaled by 2 x floor / median (at most halved).
 * - Otherwise, if the round filled its level at some point (the work did not run short), the
 *   level grows: x4 a round until the first drop (slow start: a few rounds to the ceiling); below
 *   the known good level, halfway back up to it; at or above it, after 3 clean rounds in a row,
 *   by 1, then 2, 4... while the probes keep succeeding. Each overload at or under the level of
 *   the one before doubles the clean rounds a probe waits for (up to 48); one above it sets them
 *   back to 3.
 * The level never goes over the ceiling (--concurrency) or under 1.
 */
import type { ConcurrencySetting } from "../util/request-flags.ts";

/** How an attempt ended, as the rule reads it. */
export type AttemptOutcome = "ok" | "overload" | "other";

export interface AdaptiveLimitOptions {
  /** The most in flight (--concurrency N). */
  ceiling: number;
  /** The per-request timeout: 1 % of it is the queueing delay the rule ignores. */
  timeoutMs: number;
}

/** Why the level last changed, for the progress line. */
export type LevelReason = "start" | "growing" | "latency" | "overload";

const SLOW_START_FACTOR = 4;
/** A round at level 1 is 3 attempts: its median (the first floor) is not the cold first request's connect and warm-up. */
const LEVEL_ONE_ROUND = 3;
const OVERLOAD_FACTOR = 0.75;
const LATENCY_TOLERANCE = 2;
const SLACK_SHARE = 0.01;
const HOLD_ROUNDS = 3;
const MAX_HOLD_ROUNDS = 48;

/** The rule alone, with no clock and no queue: fed attempt outcomes, it sets `level`. */
export class AdaptiveLimit {
  level = 1;
  reason: LevelReason = "start";
  /** The lowest median latency of a round (ms). */
  floorMs = Number.POSITIVE_INFINITY;
  /** The level last known not to overload the server (Infinity until the first drop). */
  knownGood = Number.POSITIVE_INFINITY;
  /** Lowest and highest levels reached; overloads seen (429/503/timeouts). */
  lowest = 1;
  highest = 1;
  overloads = 0;
  /** Whether the level was ever lowered (growth after that is "rising again"). */
  dropped = false;
  private round = 0;
  private roundSize = LEVEL_ONE_ROUND;
  private latencies: number[] = [];
  private peak = 0;
  private ended = 0;
  private slowStart = true;
  private cleanRounds = 0;
  private probeStep = 1;
  private holdRounds = HOLD_ROUNDS;
  /** The level of the last overload: failing again at or under it means the server's limit is still there. */
  private lastOverload = 0;
  private readonly slackMs: number;

  constructor(private readonly options: AdaptiveLimitOptions) {
    this.slackMs = Math.max(0, options.timeoutMs) * SLACK_SHARE;
  }

  /** How many attempts of the current round decide it. */
  get roundLength(): number {
    return this.roundSize;
  }

  /**
   * The round an attempt begun now belongs to: hand it back to end(). `inFlight`: attempts in
   * flight with this one; a round that never filled its level (the work ran short, at the end of
   * a task) says nothing about a higher one.
   */
  begin(inFlight: number = this.level): number {
    if (inFlight > this.peak) this.peak = inFlight;
    return this.round;
  }

  /** An attempt of round `round` ended: `latencyMs` is how long it took (read for "ok" only). */
  end(round: number, outcome: AttemptOutcome, latencyMs: number): void {
    if (outcome === "overload") this.overloads += 1;
    if (round !== this.round) return;
    if (outcome === "overload") {
      // Probing into the same wall again: probe half as often (fewer 429s on a server whose limit holds).
      this.holdRounds = this.level <= this.lastOverload ? Math.min(MAX_HOLD_ROUNDS, this.holdRounds * 2) : HOLD_ROUNDS;
      this.lastOverload = this.level;
      this.knownGood = Math.max(1, this.level - 1);
      this.set(Math.floor(this.level * OVERLOAD_FACTOR), "overload");
      return;
    }
    this.ended += 1;
    if (outcome === "ok") this.latencies.push(latencyMs);
    if (this.ended >= this.roundSize) this.decide();
  }

  private decide(): void {
    if (this.latencies.length === 0) {
      this.set(this.level, "growing", true);
      return;
    }
    const median = medianOf(this.latencies);
    this.floorMs = Math.min(this.floorMs, median);
    const congested = median > LATENCY_TOLERANCE * this.floorMs && median > this.floorMs + this.slackMs;
    if (congested) {
      const scaled = Math.round(this.level * Math.max(0.5, (LATENCY_TOLERANCE * this.floorMs) / median));
      this.knownGood = Math.max(1, this.level - 1);
      this.set(Math.min(scaled, this.level - 1), "latency");
    } else if (this.peak < this.level) {
      this.set(this.level, "growing", true);
    } else if (this.slowStart) {
      this.set(this.level * SLOW_START_FACTOR, "growing");
    } else if (this.level < this.knownGood) {
      this.set(this.level + Math.max(1, Math.floor((this.knownGood - this.level) / 2)), "growing");
    } else if (this.level < this.options.ceiling && ++this.cleanRounds >= this.holdRounds) {
      const next = this.level + this.probeStep;
      this.probeStep *= 2;
      this.knownGood = Math.min(next, this.options.ceiling);
      this.set(next, "growing", true);
    } else {
      this.set(this.level, "growing", true);
    }
  }

  /** A new round at `level` (kept within 1..ceiling). `holding`: a clean round at or above the known good level. */
  private set(level: number, reason: LevelReason, holding = false): void {
    const previous = this.level;
    this.level = Math.max(1, Math.min(this.options.ceiling, level));
    if (reason === "overload" || reason === "latency") {
      this.slowStart = false;
      this.probeStep = 1;
      this.dropped = true;
    }
    if (!holding || this.level !== previous) this.cleanRounds = 0;
    if (this.level !== previous || reason === "overload" || reason === "latency") this.reason = reason;
    this.lowest = Math.min(this.lowest, this.level);
    this.highest = Math.max(this.highest, this.level);
    this.round += 1;
    this.roundSize = this.level === 1 ? LEVEL_ONE_ROUND : this.level;
    this.latencies = [];
    this.ended = 0;
    this.peak = 0;
  }
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One admitted attempt: end() it exactly once with how it went. */
export interface Permit {
  end(outcome: AttemptOutcome): void;
}

/**
 * The gate every attempt of an Asker passes: at most `limit.level` attempts in flight, the others
 * wait in order. Backoff waits hold no place, so a retry does not crowd out the attempts running.
 */
export class ConcurrencyLimiter {
  readonly limit: AdaptiveLimit;
  private inFlight = 0;
  private readonly waiting: Array<{ admit: (permit: Permit) => void }> = [];

  constructor(
    readonly ceiling: number,
    timeoutMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limit = new AdaptiveLimit({ ceiling, timeoutMs });
  }

  /** A permit now when a place is free (no promise: this runs thousands of times a second), else a promise of one. */
  acquire(signal?: AbortSignal): Permit | Promise<Permit> {
    if (this.inFlight < this.limit.level && this.waiting.length === 0) return this.admit();
    signal?.throwIfAborted();
    return new Promise<Permit>((resolve, reject) => {
      const entry = {
        admit: (permit: Permit) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(permit);
        },
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private admit(): Permit {
    this.inFlight += 1;
    const round = this.limit.begin(this.inFlight);
    const started = this.now();
    let ended = false;
    return {
      end: (outcome) => {
        if (ended) return;
        ended = true;
        this.inFlight -= 1;
        this.limit.end(round, outcome, this.now() - started);
        this.wake();
      },
    };
  }

  /** Lets waiting attempts in while the level has room (it may have grown by more than one). */
  private wake(): void {
    while (this.waiting.length > 0 && this.inFlight < this.limit.level) this.waiting.shift()!.admit(this.admit());
  }

  /** The levels the run went through, for its report. */
  levels(): { lowest: number; highest: number; final: number } {
    return { lowest: this.limit.lowest, highest: this.limit.highest, final: this.limit.level };
  }

  /** For the progress line: "concurrency 12/64", and why when the server made it move. */
  status(): string {
    const { level, reason, dropped } = this.limit;
    const why =
      reason === "overload"
        ? " (lowered: server busy, 429/503/timeouts)"
        : reason === "latency"
          ? " (lowered: latency rising)"
          : dropped && reason === "growing" && level < this.limit.knownGood
            ? " (rising again)"
            : "";
    return `concurrency ${level}/${this.ceiling}${why}`;
  }
}

/** The gate a stage's setting asks for: adaptive, a limiter under the ceiling; fixed, none (the stage's pools keep N in flight). */
export function concurrencyLimiter(setting: ConcurrencySetting, timeoutMs: number): ConcurrencyLimiter | undefined {
  return setting.concurrencyMode === "fixed" ? undefined : new ConcurrencyLimiter(setting.concurrency, timeoutMs);
}
