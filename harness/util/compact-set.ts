/**
 * A set of strings kept as 64-bit hashes in typed arrays (about 20 bytes an entry at the worst load,
 * against ~80 for a Set<string>), for counting distinct things over a paper-scale stream. Two
 * strings whose hashes collide (about 1 in 10^7 pairs at a million entries) count as one.
 */
export class CompactStringSet {
  private hi = new Uint32Array(1024);
  private lo = new Uint32Array(1024);
  private used = new Uint8Array(1024);
  size = 0;

  /** Adds `text`; true when it was not there. */
  add(text: string): boolean {
    const [hi, lo] = hash64(text);
    if (!this.insert(hi, lo)) return false;
    this.size += 1;
    if (this.size * 2 > this.used.length) this.grow();
    return true;
  }

  has(text: string): boolean {
    const [hi, lo] = hash64(text);
    const mask = this.used.length - 1;
    for (let i = lo & mask; this.used[i]; i = (i + 1) & mask) if (this.hi[i] === hi && this.lo[i] === lo) return true;
    return false;
  }

  private insert(hi: number, lo: number): boolean {
    const mask = this.used.length - 1;
    let i = lo & mask;
    for (; this.used[i]; i = (i + 1) & mask) if (this.hi[i] === hi && this.lo[i] === lo) return false;
    this.used[i] = 1;
    this.hi[i] = hi;
    this.lo[i] = lo;
    return true;
  }

  private grow(): void {
    const { hi, lo, used } = this;
    this.hi = new Uint32Array(used.length * 2);
    this.lo = new Uint32Array(used.length * 2);
    this.used = new Uint8Array(used.length * 2);
    for (let i = 0; i < used.length; i++) if (used[i]) this.insert(hi[i]!, lo[i]!);
  }
}

/** Two FNV-1a 32-bit hashes with different offset bases. */
function hash64(text: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [a >>> 0, b >>> 0];
}
