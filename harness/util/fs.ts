import { createHash, hash as oneShotHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { EXIT, HarnessError } from "./errors.ts";
import { specialPathKind } from "./paths.ts";

const FULL_DISK: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
};

/**
 * A write that failed because the disk or the quota is full, as one line naming the file the
 * user asked for (not the temp file, and write(2) errors carry no path at all); any other error
 * is returned unchanged.
 */
export function diskFullError(target: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code === undefined ? undefined : FULL_DISK[code];
  if (reason === undefined) return error;
  return new HarnessError(`cannot write ${target}: ${reason}; nothing was replaced: free some space and rerun`, {
    exitCode: EXIT.failed,
    cause: error,
  });
}

/**
 * The check just before a staged rename: the target may have become a device, FIFO or socket (or
 * a link to one) since the command checked it up front, and a rename would replace it.
 */
export function refuseSpecialTarget(target: string): void {
  const kind = specialPathKind(target);
  if (kind !== null) throw new HarnessError(`${target}: is ${kind}; expected a regular file: not replaced`, { exitCode: EXIT.failed });
}

/**
 * Writes a file so that readers see either the old content or the whole new content, never
 * a half-written file: write a sibling temp file, then rename over the target (never over a
 * device, FIFO or socket). A full disk is one line naming `path`, with the temp file removed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  refuseSpecialTarget(path);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, data);
    refuseSpecialTarget(path);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw diskFullError(path, error);
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export function sha256(text: string | Uint8Array): string {
  // One-shot: half the cost of a Hash object for the small texts of request keys.
  return oneShotHash("sha256", text, "hex");
}

/** JSON with object keys sorted, so equal values always hash equally. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}
