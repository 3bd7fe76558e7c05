import { describe, expect, it, onTestFinished, vi } from "vitest";
import { BackendError } from "../../../harness/backends/types.ts";
import { DEFAULT_RETRY_POLICY, withRetry } from "../../../harness/requests/retry.ts";
import { AdaptiveLimit, type AttemptOutcome, ConcurrencyLimiter, concurrencyLimiter } from "../../../harness/requests/limiter.ts";

/** Ends one whole round at the limit's level: every attempt begun now, ended with `latencyMs` (and `outcome`). */
function round(limit: AdaptiveLimit, latencyMs: number | number[], outcome: AttemptOutcome = "ok"): number {
  const size = limit.roundLength;
  const id = limit.begin();
  for (let i = 0; i < size; i++) limit.end(id, outcome, Array.isArray(latencyMs) ? latencyMs[i % latencyMs.length]! : latencyMs);
  return limit.level;
}

describe("the adaptive limit rule", () => {
  it("starts at 1 and multiplies by 4 a round while latency stays at the floor, up to the ceiling and no further", () => {
    const limit = new AdaptiveLimit({ ceiling: 48, timeoutMs: 120_000 });
    expect(limit.level).toBe(1);
    const levels = Array.from({ length: 5 }, () => round(limit, 20));
    expect(levels).toEqual([4, 16, 48, 48, 48]);
    expect(limit.floorMs).toBe(20);
  });

  it("decides on a round's median: one slow answer in a round does not lower the level", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10); // 4
    expect(round(limit, [10, 10, 10, 500])).toBe(16);
  });

  it("scales the level by 2 x floor / median when the median climbs past twice the floor (queueing at the server)", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10); // level 4, floor 10
    round(limit, 10); // 16
    expect(round(limit, 40)).toBe(8); // 16 x 2 x 10 / 40
    expect(limit.reason).toBe("latency");
    // At most halved, even when the median is far past the floor.
    expect(round(limit, 1000)).toBe(4);
    expect(round(limit, 1000)).toBe(2);
    expect(round(limit, 1000)).toBe(1);
    expect(round(limit, 1000)).toBe(1);
  });

  it("leaves queueing alone while it stays under 1 % of the timeout (a fast local server)", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 60_000 });
    round(limit, 0.5);
    for (let i = 0; i < 7; i++) round(limit, 5 + i * 50); // 10x to 700x the floor, all under 600 ms of queueing
    expect(limit.level).toBe(64);
    expect(round(limit, 700)).toBe(32); // past floor + 600 ms: halved
  });

  it("drops to 0.75 x the level at the first 429/503/timeout of a round, once per round", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10);
    round(limit, 10);
    expect(limit.level).toBe(16);
    const old = limit.begin();
    limit.end(old, "overload", 1);
    expect(limit.level).toBe(12);
    expect(limit.reason).toBe("overload");
    // The rest of the old round's 429s came from the old level: no further drop.
    for (let i = 0; i < 10; i++) limit.end(old, "overload", 1);
    expect(limit.level).toBe(12);
    expect(limit.overloads).toBe(11);
    expect(limit.knownGood).toBe(15);
  });

  it("climbs back halfway to the last good level, holds there, then probes by 1, 2, 4...", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10);
    round(limit, 10); // 16
    limit.end(limit.begin(), "overload", 1); // 12, known good 15
    const levels = Array.from({ length: 14 }, () => round(limit, 10));
    // 12 -> 13 (halfway, at least 1) -> 14 -> 15, three clean rounds held, probe +1, hold, probe +2...
    expect(levels).toEqual([13, 14, 15, 15, 15, 16, 16, 16, 18, 18, 18, 22, 22, 22]);
    expect(limit.dropped).toBe(true);
  });

  it("probes half as often each time it runs into the same limit again", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10);
    round(limit, 10); // 16
    limit.end(limit.begin(), "overload", 1); // 12, known good 15, probes after 3 clean rounds
    const roundsAt = (level: number): number => {
      let rounds = 0;
      while (limit.level === level) {
        round(limit, 10);
        rounds += 1;
      }
      return rounds;
    };
    const climb = () => [round(limit, 10), round(limit, 10), round(limit, 10)];
    expect(climb()).toEqual([13, 14, 15]);
    expect(roundsAt(15)).toBe(3);
    limit.end(limit.begin(), "overload", 1); // the probe at 16 fails again: 12, and 6 clean rounds before the next probe
    climb();
    expect(roundsAt(15)).toBe(6);
    limit.end(limit.begin(), "overload", 1);
    climb();
    expect(roundsAt(15)).toBe(12);
  });

  it("a round that never filled its level (the work ran short) does not raise it", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10); // 4
    const id = limit.begin(2);
    for (let i = 0; i < 4; i++) limit.end(id, "ok", 10);
    expect(limit.level).toBe(4);
    expect(round(limit, 10)).toBe(16);
  });

  it("a round of other errors (400s, connection resets) moves nothing but the round", () => {
    const limit = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    round(limit, 10);
    expect(round(limit, 0, "other")).toBe(4);
    expect(round(limit, 10)).toBe(16);
  });

  it("never goes under 1", () => {
    const limit = new AdaptiveLimit({ ceiling: 8, timeoutMs: 1000 });
    for (let i = 0; i < 5; i++) limit.end(limit.begin(), "overload", 1);
    expect(limit.level).toBe(1);
    expect(limit.lowest).toBe(1);
  });
});

/**
 * A deterministic simulation: `jobs` requests through the rule against a server model, on a
 * virtual clock; an attempt that fails is retried after `backoffMs`.
 */
interface SimServer {
  /** The attempt starting at `now`: when it ends and how. */
  start(now: number): { at: number; outcome: AttemptOutcome };
}

interface SimResult {
  finishedAt: number;
  overloads: number;
  timeouts: number;
  maxLatency: number;
  levels: number[];
}

function simulate(
  server: SimServer,
  options: { jobs: number; level: (() => number) | number; timeoutMs: number; backoffMs: number; rule?: AdaptiveLimit; untilMs?: number },
): SimResult {
  const events: Array<{ at: number; start: number; round: number; outcome: AttemptOutcome }> = [];
  const retryAt: number[] = [];
  let now = 0;
  let pending = options.jobs;
  let done = 0;
  let inFlight = 0;
  const result: SimResult = { finishedAt: 0, overloads: 0, timeouts: 0, maxLatency: 0, levels: [] };
  const level = () => (typeof options.level === "number" ? options.level : options.level());
  while (done < options.jobs && now < (options.untilMs ?? Number.POSITIVE_INFINITY)) {
    // Retries whose backoff is over rejoin the queue.
    for (let i = retryAt.length - 1; i >= 0; i--)
      if (retryAt[i]! <= now) {
        retryAt.splice(i, 1);
        pending += 1;
      }
    while (inFlight < level() && pending > 0) {
      pending -= 1;
      inFlight += 1;
      const answer = server.start(now);
      const timedOut = answer.at - now > options.timeoutMs;
      events.push({
        at: timedOut ? now + options.timeoutMs : answer.at,
        start: now,
        round: options.rule?.begin(inFlight) ?? 0,
        outcome: timedOut ? "overload" : answer.outcome,
      });
      if (timedOut) result.timeouts += 1;
    }
    events.sort((a, b) => a.at - b.at);
    const next = events.shift();
    const nextRetry = Math.min(...retryAt);
    if (next === undefined || nextRetry < next.at) {
      if (next) events.unshift(next);
      now = nextRetry;
      continue;
    }
    now = next.at;
    inFlight -= 1;
    options.rule?.end(next.round, next.outcome, next.at - next.start);
    result.levels.push(level());
    if (next.outcome === "overload") {
      result.overloads += 1;
      retryAt.push(now + options.backoffMs);
    } else {
      done += 1;
      result.maxLatency = Math.max(result.maxLatency, next.at - next.start);
    }
  }
  result.finishedAt = now;
  return result;
}

/** One request at a time, first come first served; a request the client gave up on is still served. */
function serialServer(serviceMs: number): SimServer {
  let freeAt = 0;
  return {
    start(now) {
      freeAt = Math.max(freeAt, now) + serviceMs;
      return { at: freeAt, outcome: "ok" };
    },
  };
}

/** Up to `capacity` requests at once, each `serviceMs`; past it, an immediate 429. */
function capacityServer(capacity: number, serviceMs: number): SimServer {
  const busyUntil: number[] = [];
  return {
    start(now) {
      for (let i = busyUntil.length - 1; i >= 0; i--) if (busyUntil[i]! <= now) busyUntil.splice(i, 1);
      if (busyUntil.length >= capacity) return { at: now + 1, outcome: "overload" };
      busyUntil.push(now + serviceMs);
      return { at: now + serviceMs, outcome: "ok" };
    },
  };
}

describe("the rule against simulated servers (virtual clock)", () => {
  it("a one-at-a-time server: no timeouts, latency a few service times, the server never idle", () => {
    const rule = new AdaptiveLimit({ ceiling: 64, timeoutMs: 1000 });
    const adaptive = simulate(serialServer(50), { jobs: 500, level: () => rule.level, timeoutMs: 1000, backoffMs: 500, rule });
    expect(adaptive.timeouts).toBe(0);
    expect(adaptive.maxLatency).toBeLessThanOrEqual(4 * 50);
    expect(adaptive.finishedAt).toBeLessThanOrEqual(500 * 50 * 1.02);
    expect(Math.max(...adaptive.levels.slice(50))).toBeLessThanOrEqual(3);
    // Fixed at the ceiling floods it: requests queue past the timeout (and, served anyway, keep the queue long).
    const fixed = simulate(serialServer(50), { jobs: 500, level: 64, timeoutMs: 1000, backoffMs: 500, untilMs: 60_000 });
    expect(fixed.timeouts).toBeGreaterThan(0);
  });

  it("a server with room for 8: a handful of 429s where fixed 32 gets thousands, throughput within 10 % of fixed 8", () => {
    const jobs = 2000;
    const rule = new AdaptiveLimit({ ceiling: 32, timeoutMs: 10_000 });
    const adaptive = simulate(capacityServer(8, 20), { jobs, level: () => rule.level, timeoutMs: 10_000, backoffMs: 250, rule });
    // A quarter of the jobs is enough to show fixed 32's 429s.
    const fixed32 = simulate(capacityServer(8, 20), { jobs: jobs / 4, level: 32, timeoutMs: 10_000, backoffMs: 250 });
    const fixed8 = simulate(capacityServer(8, 20), { jobs, level: 8, timeoutMs: 10_000, backoffMs: 250 });
    expect(fixed8.overloads).toBe(0);
    expect(adaptive.overloads).toBeLessThan(fixed32.overloads / 10);
    expect(fixed8.finishedAt / adaptive.finishedAt).toBeGreaterThanOrEqual(0.9);
  });

  it("a wide server: the level reaches the ceiling and stays", () => {
    const rule = new AdaptiveLimit({ ceiling: 64, timeoutMs: 120_000 });
    const run = simulate(capacityServer(1000, 20), { jobs: 5000, level: () => rule.level, timeoutMs: 120_000, backoffMs: 500, rule });
    expect(run.overloads).toBe(0);
    expect(run.levels.slice(500).every((l) => l === 64)).toBe(true);
  });
});

describe("the gate", () => {
  it("admits up to the level at once, queues the rest in order, and opens as many places as the level grew by", async () => {
    let clock = 0;
    const gate = new ConcurrencyLimiter(8, 1000, () => clock);
    const first = gate.acquire();
    expect(first).not.toBeInstanceOf(Promise); // level 1: a place free, no promise
    const order: number[] = [];
    const second = (gate.acquire() as Promise<{ end(o: AttemptOutcome): void }>).then((p) => {
      order.push(2);
      return p;
    });
    const third = (gate.acquire() as Promise<{ end(o: AttemptOutcome): void }>).then((p) => {
      order.push(3);
      return p;
    });
    clock = 10;
    // Level 1: each end lets the next one in, in order.
    (first as { end(o: AttemptOutcome): void }).end("ok");
    const p2 = await second;
    expect(order).toEqual([2]);
    p2.end("ok");
    const p3 = await third;
    expect(order).toEqual([2, 3]);
    // The third answer ends the first round (3 attempts at level 1) clean: the level goes to 4, four places at once.
    p3.end("ok");
    expect(Array.from({ length: 4 }, () => gate.acquire()).every((p) => !(p instanceof Promise))).toBe(true);
    expect(gate.status()).toBe("concurrency 4/8");
  });

  it("an abort takes a waiting attempt out of the queue with the signal's reason", async () => {
    const gate = new ConcurrencyLimiter(4, 1000);
    const held = gate.acquire() as { end(o: AttemptOutcome): void };
    const controller = new AbortController();
    const waiting = gate.acquire(controller.signal);
    controller.abort(new Error("interrupted"));
    await expect(waiting).rejects.toThrow("interrupted");
    held.end("ok");
    // The aborted one took no place: the next acquire is admitted at once.
    expect(gate.acquire()).not.toBeInstanceOf(Promise);
  });

  it("says on the status line when the server made it lower the level, and when it rises again", () => {
    const gate = new ConcurrencyLimiter(16, 1000);
    round(gate.limit, 10);
    round(gate.limit, 10);
    gate.limit.end(gate.limit.begin(), "overload", 1);
    expect(gate.status()).toBe("concurrency 12/16 (lowered: server busy, 429/503/timeouts)");
    round(gate.limit, 10);
    expect(gate.status()).toBe("concurrency 13/16 (rising again)");
    round(gate.limit, 10);
    round(gate.limit, 10);
    expect(gate.status()).toBe("concurrency 15/16");
  });

  it("fixed:N has no gate; N is the adaptive ceiling", () => {
    expect(concurrencyLimiter({ concurrency: 8, concurrencyMode: "fixed" }, 1000)).toBeUndefined();
    expect(concurrencyLimiter({ concurrency: 8, concurrencyMode: "adaptive" }, 1000)?.ceiling).toBe(8);
  });
});

describe("the gate in the retry loop", () => {
  const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 500, maxDelayMs: 500, timeoutMs: 1000 };

  it("waiting for a place is not part of an attempt's timeout", async () => {
    vi.useFakeTimers();
    try {
      const gate = new ConcurrencyLimiter(8, policy.timeoutMs); // level 1 at the start
      const admit = (signal?: AbortSignal) => gate.acquire(signal);
      const answerAfter = (ms: number, text: string) => () => new Promise<string>((resolve) => setTimeout(() => resolve(text), ms));
      const first = withRetry(answerAfter(900, "first"), policy, { admit });
      // Queued behind the first for 900 ms, then answers in 900: 1.8 s in all, past the 1 s timeout, under it per attempt.
      const queued = withRetry(answerAfter(900, "second"), policy, { admit });
      await vi.advanceTimersByTimeAsync(1800);
      expect(await Promise.all([first, queued])).toEqual(["first", "second"]);
      expect(gate.limit.overloads).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a 429 gives its place back during the backoff, and the rule hears it", async () => {
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const gate = new ConcurrencyLimiter(8, policy.timeoutMs);
    let calls = 0;
    const retried = withRetry(
      async () => {
        calls += 1;
        if (calls === 1) throw new BackendError("rate-limit", "429 Too Many Requests", { status: 429 });
        return "answered";
      },
      policy,
      { admit: (signal) => gate.acquire(signal), random: () => 1 },
    );
    await vi.advanceTimersByTimeAsync(5); // inside the 500 ms backoff
    const other = gate.acquire();
    expect(other).not.toBeInstanceOf(Promise);
    (other as { end(o: AttemptOutcome): void }).end("other");
    await vi.advanceTimersByTimeAsync(600);
    expect(await retried).toBe("answered");
    expect(gate.limit.overloads).toBe(1);
  });

  it("Ctrl-C while waiting for a place ends the call with the run's reason and takes no place", async () => {
    const gate = new ConcurrencyLimiter(8, policy.timeoutMs);
    const run = new AbortController();
    const holder = gate.acquire() as { end(o: AttemptOutcome): void };
    let sent = 0;
    const waiting = withRetry(
      async () => {
        sent += 1;
        return "x";
      },
      policy,
      { admit: (signal) => gate.acquire(signal), signal: run.signal },
    );
    run.abort(new Error("interrupted"));
    await expect(waiting).rejects.toThrow("interrupted");
    expect(sent).toBe(0);
    holder.end("ok");
    expect(gate.acquire()).not.toBeInstanceOf(Promise);
  });
});
