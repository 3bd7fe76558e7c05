/**
 * Checks on the paths a command will write, made before the work starts: a folder that is a file,
 * a file that is a folder, a parent that cannot be written (permissions, a read-only file system)
 * are found in a second, not after an hour of questions.
 */
import { type Stats, statSync } from "node:fs";
import { mkdtemp, realpath, rmdir, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { EXIT, HarnessError } from "./errors.ts";

/**
 * What a path is when it is neither a regular file nor a folder: a device (/dev/null, /dev/full),
 * a FIFO, a socket. A command never writes there: the staged rename would replace it (as root,
 * the system's own /dev/null), and a write to it is lost or blocks. null for a file or folder.
 */
export function specialKind(info: Stats): string | null {
  if (info.isFile() || info.isDirectory()) return null;
  if (info.isCharacterDevice()) return "a character device";
  if (info.isBlockDevice()) return "a block device";
  if (info.isFIFO()) return "a FIFO";
  if (info.isSocket()) return "a socket";
  return "not a regular file";
}

/** Refuses an output that stat (following symlinks) finds to be a device, FIFO or socket. */
function refuseSpecial(label: string, path: string, info: Stats, expected: string, exitCode: number): void {
  const kind = specialKind(info);
  if (kind !== null) throw new HarnessError(`${label} ${path}: is ${kind}; expected ${expected}`, { exitCode });
}

/**
 * What `path` is when it exists and is (or links to) something other than a regular file or
 * folder ("a FIFO", "a character device", ...), else null. Synchronous and never
 * blocking: asked just before a rename (a rename over it would replace the device), and before
 * an input is opened (opening a FIFO to read waits for a writer forever).
 */
export function specialPathKind(path: string): string | null {
  try {
    return specialKind(statSync(path));
  } catch {
    return null;
  }
}

/** What a failed file-system call means, in words. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a part of the path is a file, not a directory";
    case "ENOSPC":
      return "no space left on the device";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EEXIST":
      return "already exists";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Whether a folder can be written, by creating (and removing) an empty folder in it: access(2)
 * says yes to root everywhere, also on a read-only or virtual file system.
 */
async function probeWritable(dir: string): Promise<void> {
  const probe = await mkdtemp(join(dir, ".harness-write-check-"));
  await rmdir(probe);
}

/** The nearest part of the path that exists, with its kind; null when nothing does (cannot happen for "/"). */
async function nearestExisting(path: string): Promise<{ path: string; isDirectory: boolean } | null> {
  let current = resolve(path);
  for (;;) {
    try {
      const info = await stat(current);
      return { path: current, isDirectory: info.isDirectory() };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") {
        // ENOTDIR: a file sits where a folder should be; report it at the file.
        if (code === "ENOTDIR") {
          const parent = dirname(current);
          if (parent !== current) {
            current = parent;
            continue;
          }
        }
        throw error;
      }
      const parent = dirname(current);
      if (parent === current) return null;
      current = parent;
    }
  }
}

async function checkCreatableUnder(label: string, target: string, exitCode: number): Promise<void> {
  const existing = await nearestExisting(dirname(resolve(target)));
  if (!existing) return;
  if (!existing.isDirectory) {
    throw new HarnessError(`${label} ${target}: cannot create it: ${existing.path} is a file, not a directory`, { exitCode });
  }
  try {
    await probeWritable(existing.path);
  } catch (error) {
    throw new HarnessError(`${label} ${target}: cannot write in ${existing.path}: ${describeFsError(error)}`, { exitCode });
  }
}

/**
 * A folder the command will create or write into. `label` is how the user named it (a flag such
 * as "--out", or a config key). A usage error (exit 2) by default: the user picked the path.
 */
export async function checkWritableDir(label: string, path: string, options: { exitCode?: number } = {}): Promise<void> {
  const exitCode = options.exitCode ?? EXIT.usage;
  const absolute = resolve(path);
  const info = await statOrCheckCreatable(label, path, absolute, exitCode);
  if (!info) return;
  refuseSpecial(label, path, info, "a directory (or a path to create one)", exitCode);
  if (!info.isDirectory())
    throw new HarnessError(`${label} ${path}: is a file; expected a directory (or a path to create one)`, { exitCode });
  try {
    await probeWritable(absolute);
  } catch (error) {
    throw new HarnessError(`${label} ${path}: cannot write in it: ${describeFsError(error)}`, { exitCode });
  }
}

/** A file the command will create or replace. */
export async function checkWritableFile(label: string, path: string, options: { exitCode?: number } = {}): Promise<void> {
  const exitCode = options.exitCode ?? EXIT.usage;
  const absolute = resolve(path);
  const info = await statOrCheckCreatable(label, path, absolute, exitCode);
  if (!info) return;
  if (info.isDirectory()) throw new HarnessError(`${label} ${path}: is a directory; expected a file name`, { exitCode });
  refuseSpecial(label, path, info, "a regular file (or a path to create one)", exitCode);
  // Replaced by rename (writeFileAtomic): what matters is the folder it is in.
  try {
    await probeWritable(dirname(absolute));
  } catch (error) {
    throw new HarnessError(`${label} ${path}: cannot write in ${dirname(absolute)}: ${describeFsError(error)}`, { exitCode });
  }
}

/** The path's stat; null when it does not exist yet and could be created (checked here). */
async function statOrCheckCreatable(label: string, path: string, absolute: string, exitCode: number): Promise<Stats | null> {
  try {
    return await stat(absolute);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw new HarnessError(`${label} ${path}: ${describeFsError(error)}`, { exitCode });
  }
  await checkCreatableUnder(label, absolute, exitCode);
  return null;
}

/** A file the command reads: it must exist and be a file. */
export async function checkReadableFile(label: string, path: string, options: { exitCode?: number } = {}): Promise<void> {
  const exitCode = options.exitCode ?? EXIT.usage;
  let info: Stats;
  try {
    info = await stat(path);
  } catch (error) {
    throw new HarnessError(`${label} ${path}: ${describeFsError(error)}`, { exitCode });
  }
  if (info.isDirectory()) throw new HarnessError(`${label} ${path}: is a directory; expected a file`, { exitCode });
}

/** A path as given (for messages) and the flag or key that named it. */
export interface NamedPath {
  label: string;
  path: string;
}

/**
 * The path with every symlink in its existing part resolved, so `a/../b`, `./b` and a link to b
 * compare equal; the part that does not exist yet is appended as written.
 */
export async function canonicalPath(path: string): Promise<string> {
  const absolute = resolve(path);
  const rest: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return join(await realpath(current), ...rest.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return absolute;
      rest.push(basename(current));
      current = parent;
    }
  }
}

async function sameFile(a: string, b: string): Promise<boolean> {
  if ((await canonicalPath(a)) === (await canonicalPath(b))) return true;
  // Hard links: two names, one file.
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Refuses, before any work, an output that would overwrite one of the command's inputs (`report RUN
 * --out RUN/report.json`, `diff a.json b.json --out a.json`). `writes`: the files the command puts
 * in an output folder (their names in it); without it `output` is the file written. An input that
 * is undefined (an optional flag not given) is skipped.
 */
export async function refuseOutputOverInput(
  output: NamedPath & { writes?: readonly string[] },
  inputs: readonly (NamedPath | undefined)[],
  options: { exitCode?: number } = {},
): Promise<void> {
  const exitCode = options.exitCode ?? EXIT.usage;
  const targets = output.writes ? [output.path, ...output.writes.map((name) => join(output.path, name))] : [output.path];
  for (const input of inputs) {
    if (!input) continue;
    for (const target of targets) {
      if (await sameFile(target, input.path)) {
        const what = target === output.path ? output.path : `${output.path} (its ${basename(target)})`;
        throw new HarnessError(
          `${output.label} ${what}: is also the input ${input.label} ${input.path}; writing it would overwrite the input: choose another output path`,
          { exitCode },
        );
      }
    }
  }
}
