/**
 * One writer per run folder. Two runs into one folder (two evals with one --run-id, two distills
 * into one --out) would both finish and one result would be lost; so the first takes a lock file,
 * created exclusively, and the second stops at once saying which run holds it. A lock left by a
 * run that died (its pid gone on this host) is taken over, with a line saying so.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { EXIT, HarnessError } from "./errors.ts";
import { onStopSignal } from "./interrupt.ts";

export const RUN_LOCK_FILE = ".harness.lock";

export interface RunLockOwner {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
  /** Tells this lock from a later one with the same pid. */
  token: string;
}

export interface RunLock {
  readonly file: string;
  /** Removes the lock (if it is still this run's) and the folder if the lock created it and it stayed empty. */
  release(): void;
}

function isRunLockOwner(value: unknown): value is RunLockOwner {
  const v = value as Partial<RunLockOwner> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.pid === "number" &&
    typeof v.host === "string" &&
    typeof v.command === "string" &&
    typeof v.startedAt === "string"
  );
}

/** Whether a process with this pid lives on this host (EPERM: it exists, and is another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readOwner(file: string): Promise<RunLockOwner | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, "utf8"));
    return isRunLockOwner(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function describeOwner(owner: RunLockOwner): string {
  return `pid ${owner.pid} on ${owner.host}, \`harness ${owner.command}\`, started ${owner.startedAt}`;
}

/**
 * Writes the lock file exclusively; over a stale lock (its run gone on this host) once more.
 * "held": this process holds it already (ablate's build-sft into its own work folder): one writer still.
 */
async function writeLockFile(label: string, dir: string, file: string, owner: RunLockOwner): Promise<"taken" | "held"> {
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${JSON.stringify(owner)}\n`, { flag: "wx" });
      return "taken";
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") {
          throw new HarnessError(`${label} ${dir}: another run took the lock ${file} at the same moment; try again`, {
            exitCode: EXIT.failed,
          });
        }
        throw error;
      }
      const holder = await readOwner(file);
      if (holder === null) {
        throw new HarnessError(
          `${label} ${dir}: is locked by ${file}, which does not say which run holds it; if no harness run is writing there, remove it and rerun`,
          { exitCode: EXIT.failed },
        );
      }
      if (holder.host === owner.host && holder.pid === owner.pid) return "held";
      if (holder.host !== owner.host || processAlive(holder.pid)) {
        throw new HarnessError(
          // Said on this host too: the pid may have been reused by another process since its run died.
          `${label} ${dir}: another run is writing there (${describeOwner(holder)}); wait for it to finish, or choose another folder (if that run is gone, remove ${file})`,
          { exitCode: EXIT.failed },
        );
      }
      process.stderr.write(`harness: taking over the stale lock ${file} of a run that is no longer running (${describeOwner(holder)})\n`);
      await rm(file, { force: true });
    }
  }
}

/**
 * Removes the lock once (if it is still this run's) and the folder if the lock created it and it
 * stayed empty; also on process exit.
 */
function lockReleaser(file: string, dir: string, token: string, createdDir: boolean): () => void {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    try {
      const current: unknown = JSON.parse(readFileSync(file, "utf8"));
      if (isRunLockOwner(current) && current.token === token) rmSync(file, { force: true });
    } catch {
      // Gone already, or replaced: not ours to remove.
    }
    if (createdDir) {
      try {
        rmdirSync(dir);
      } catch {
        // Not empty: the run wrote something there.
      }
    }
  };
  // A process.exit() or an uncaught error skips the caller's finally; the exit hook still runs.
  process.on("exit", release);
  return release;
}

/**
 * A Ctrl-C before the stage hooks its own handler would end the process by default, skipping
 * both: then remove the lock and end as the signal would. A stage that handles the signal
 * itself (listeners remain) ends through its finally, which releases the lock.
 * Where a handler is hooked already (build-sft's command), it owns the signal: no fallback.
 * Returns the unhook.
 */
function releaseOnStopSignal(release: () => void): () => void {
  const handled = process.listenerCount("SIGINT") > 0 || process.listenerCount("SIGTERM") > 0;
  return handled
    ? () => {}
    : onStopSignal((signal) => {
        if (process.listenerCount(signal) > 0) return;
        release();
        process.kill(process.pid, signal);
      });
}

/**
 * Takes the lock of run folder `dir` (created if missing) for `command`. `label`: how the user
 * named the folder (a flag), for the message. Exit 1 when another live run holds it: the inputs
 * are fine, the folder is busy.
 */
export async function acquireRunLock(label: string, dir: string, command: string): Promise<RunLock> {
  const createdDir = !existsSync(dir);
  await mkdir(dir, { recursive: true });
  const file = join(dir, RUN_LOCK_FILE);
  const owner: RunLockOwner = {
    pid: process.pid,
    host: hostname(),
    command,
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString("hex"),
  };
  if ((await writeLockFile(label, dir, file, owner)) === "held") return { file, release: () => {} };
  const release = lockReleaser(file, dir, owner.token, createdDir);
  const unhook = releaseOnStopSignal(release);
  return {
    file,
    release: () => {
      unhook();
      release();
    },
  };
}

/**
 * A run folder under `parent` named `name`, or `name-2`, `name-3`... when that one exists: an
 * exclusive mkdir, so two runs that generate the same name (same model, same second) get two folders.
 */
export async function claimFreshRunDir(parent: string, name: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${name}-${n}`;
    try {
      await mkdir(join(parent, candidate));
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/** Runs `work` holding the lock of run folder `dir`; the lock goes however the work ends (an error, Ctrl-C). */
export async function withRunLock<T>(label: string, dir: string, command: string, work: () => Promise<T>): Promise<T> {
  const lock = await acquireRunLock(label, dir, command);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/**
 * Removes the lock in `dir` when another host holds it, returning what it said; null when there is
 * none or this host holds it (a dead pid here is taken over by acquireRunLock's own check). Only for
 * a caller that knows the holder is gone: a scheduler that says the task which took it has ended.
 */
export async function removeForeignRunLock(dir: string): Promise<{ file: string; host: string; pid: unknown } | null> {
  const file = join(dir, RUN_LOCK_FILE);
  let owner: { host?: unknown; pid?: unknown };
  try {
    owner = JSON.parse(await readFile(file, "utf8")) as { host?: unknown; pid?: unknown };
  } catch {
    return null;
  }
  if (typeof owner.host !== "string" || owner.host === hostname()) return null;
  await rm(file, { force: true });
  return { file, host: owner.host, pid: owner.pid };
}
