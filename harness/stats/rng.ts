import { createHash } from "node:crypto";

/** A small, fast seeded PRNG (mulberry32): every random draw in the harness goes through one. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed derived from a base seed and names, so draws do not depend on the order work runs in. */
export function deriveSeed(seed: number, ...parts: Array<string | number>): number {
  const digest = createHash("sha256")
    .update(`${seed}\u0000${parts.join("\u0000")}`)
    .digest();
  return digest.readUInt32LE(0);
}
