import { createHash } from "node:crypto";

/**
 * Seeded sampling that does not depend on the order rows arrive in: each row gets a priority
 * from a hash of (seed, its key), and a sample of size k is the k rows with the lowest
 * priorities. The same seed and the same rows give the same sample even from a re-sorted file,
 * memory stays at k rows per group, and growing k keeps the smaller sample inside the larger.
 */

/** A row's priority: 64 bits of sha256(seed, key), as a bigint so no two distinct hashes tie. */
export function samplePriority(seed: number, key: string): bigint {
  return createHash("sha256").update(`${seed}\u0000${key}`).digest().readBigUInt64BE(0);
}

interface Candidate<T> {
  priority: bigint;
  key: string;
  item: T;
}

const byPriority = <T>(a: Candidate<T>, b: Candidate<T>): number =>
  a.priority < b.priority ? -1 : a.priority > b.priority ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

/** The k lowest-priority rows seen so far, kept in a buffer trimmed whenever it reaches 2k. */
export class SeededSample<T> {
  private buffer: Array<Candidate<T>> = [];
  private seen = 0;

  constructor(
    readonly size: number,
    private readonly seed: number,
  ) {}

  /** Rows offered so far (the population size once every row is offered). */
  get population(): number {
    return this.seen;
  }

  offer(key: string, item: T): void {
    this.seen += 1;
    if (this.size <= 0) return;
    this.buffer.push({ priority: samplePriority(this.seed, key), key, item });
    if (this.buffer.length >= 2 * this.size) this.trim();
  }

  private trim(): void {
    this.buffer.sort(byPriority);
    this.buffer.length = Math.min(this.buffer.length, this.size);
  }

  /** The sample, lowest priority first; fewer than `size` items when the population is smaller. */
  items(): T[] {
    this.trim();
    return this.buffer.map((c) => c.item);
  }
}
