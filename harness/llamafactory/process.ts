import { createWriteStream, type WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { execa } from "execa";

/**
 * A long-running child (LLaMA-Factory train or api, vLLM) in its own process group, so a stop
 * reaches every process it started (torchrun workers, dataloader workers) and Ctrl-C on the
 * terminal reaches only the harness, which then stops the child in order.
 */
export interface ManagedProcess {
  readonly pid: number;
  /** Resolves when the child has exited (never rejects). */
  readonly exited: Promise<{ exitCode: number | null; signal: string | null }>;
  /** The last lines of output, oldest first. */
  tail(count: number): string[];
  /** Sends `signal` to the group, waits up to graceMs, then kills the group. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Every output line is appended here. */
  logFile?: string;
  onLine?: (line: string) => void;
}

const TAIL_LINES = 200;
const live = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

// If the harness exits for any reason with a child still running, take the group down with it.
process.on("exit", () => {
  for (const pid of live) killGroup(pid, "SIGKILL");
});

export function startManaged(file: string, args: readonly string[], options: StartOptions = {}): ManagedProcess {
  const log: WriteStream | null = options.logFile ? createWriteStream(options.logFile, { flags: "a" }) : null;
  const child = execa(file, args, {
    env: { PYTHONUNBUFFERED: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    detached: true,
    cleanup: false,
    stdin: "ignore",
    reject: false,
    buffer: false,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${file}`);
  live.add(pid);
  const lines: string[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > TAIL_LINES) lines.shift();
    log?.write(`${line}\n`);
    options.onLine?.(line);
  };
  const readers = [child.stdout, child.stderr].map((stream) =>
    stream
      ? new Promise<void>((resolve) => createInterface({ input: stream, crlfDelay: Infinity }).on("line", onLine).on("close", resolve))
      : Promise.resolve(),
  );
  const exited = (async () => {
    const result = await child;
    await Promise.all(readers);
    live.delete(pid);
    // Whatever the child left behind in its group (workers) goes with it.
    killGroup(pid, "SIGKILL");
    await new Promise<void>((resolve) => (log ? log.end(resolve) : resolve()));
    return { exitCode: result.exitCode ?? null, signal: result.signal ?? null };
  })();

  return {
    pid,
    exited,
    tail: (count) => lines.slice(-count),
    async stop(signal: NodeJS.Signals = "SIGINT", graceMs = 30_000) {
      if (!live.has(pid)) return;
      killGroup(pid, signal);
      const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
      if ((await Promise.race([exited, timer])) === "timeout") killGroup(pid, "SIGKILL");
      await exited;
    },
  };
}

/** Single-quotes a word for bash unless it is plainly safe. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `A=1 B=2 cmd args`: for showing a launch, never for running one. */
export function formatCommand(env: Record<string, string>, argv: readonly string[]): string {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [...assignments, ...argv.map(shellQuote)].join(" ");
}
