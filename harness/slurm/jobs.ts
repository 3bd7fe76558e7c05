import { execa } from "execa";
import { findTool } from "../llamafactory/tool.ts";
import { usageError } from "../util/errors.ts";

/** What the scheduler says about one job: squeue while it is known there, then scontrol, then sacct. */

/** A job's state as the harness acts on it; "unknown" when the scheduler no longer knows the job. */
export type JobPhase = "pending" | "running" | "completed" | "failed" | "cancelled" | "unknown";

export interface JobState {
  /** The scheduler's own word (PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT...). */
  state: string;
  phase: JobPhase;
  /** The scheduler's reason (Resources, NonZeroExitCode, TimeLimit...), null for "None" or none given. */
  reason: string | null;
  /** The batch script's exit status ("1:0" is exit 1; "0:15" is signal 15), when known. */
  exitCode: string | null;
  name: string | null;
  /** The job's output file, when the scheduler says (scontrol's StdOut). */
  stdout: string | null;
  from: "squeue" | "scontrol" | "sacct";
}

const PENDING = new Set(["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"]);
const RUNNING = new Set(["RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"]);

/** Every state not pending, running, completed or cancelled is the end of a job that did not finish: a failure. */
export function phaseOf(state: string): JobPhase {
  // sacct writes "CANCELLED by 0"; squeue and scontrol write the bare word.
  const word = state.trim().split(/\s+/)[0]!.replace(/\+$/, "").toUpperCase();
  if (PENDING.has(word)) return "pending";
  if (RUNNING.has(word)) return "running";
  if (word === "COMPLETED") return "completed";
  if (word === "CANCELLED") return "cancelled";
  return word === "" ? "unknown" : "failed";
}

const noneToNull = (value: string | undefined): string | null =>
  value === undefined || value === "" || value === "None" || value === "(null)" ? null : value;

/** `squeue -h -t all -j ID -o '%T|%r|%j'`: state, reason, name (the name last: it may hold a "|"). */
export function parseSqueue(stdout: string): Pick<JobState, "state" | "reason" | "name"> | null {
  const line = stdout.split("\n").find((l) => l.trim() !== "");
  if (!line) return null;
  const [state = "", reason, ...name] = line.split("|");
  return { state: state.trim(), reason: noneToNull(reason?.trim()), name: noneToNull(name.join("|")) };
}

/** One field of `scontrol show job -o ID` (KEY=value pairs on one line; the values asked for hold no spaces). */
function scontrolField(line: string, key: string): string | null {
  const match = new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(line);
  return match ? noneToNull(match[1]) : null;
}

export function parseScontrol(stdout: string): (Omit<JobState, "phase" | "from"> & { line: string }) | null {
  const line = stdout.split("\n").find((l) => /(?:^|\s)JobState=/.test(l));
  if (!line) return null;
  return {
    line,
    state: scontrolField(line, "JobState") ?? "",
    reason: scontrolField(line, "Reason"),
    exitCode: scontrolField(line, "ExitCode"),
    name: scontrolField(line, "JobName"),
    stdout: scontrolField(line, "StdOut"),
  };
}

/** `sacct -n -P -X -j ID -o State,ExitCode,JobName`: the allocation's line. */
export function parseSacct(stdout: string): Pick<JobState, "state" | "exitCode" | "name"> | null {
  const line = stdout.split("\n").find((l) => l.trim() !== "");
  if (!line) return null;
  const [state = "", exitCode, ...name] = line.split("|");
  return { state: state.trim(), exitCode: noneToNull(exitCode?.trim()), name: noneToNull(name.join("|")) };
}

/** The exit status of the batch script from "code:signal", or null when a signal ended it or it is unknown. */
export function exitStatusOf(exitCode: string | null): number | null {
  const match = /^(\d+):(\d+)$/.exec(exitCode ?? "");
  return match?.[2] === "0" ? Number(match[1]) : null;
}

async function ask(tool: string, args: string[]): Promise<string | null> {
  const found = findTool(tool, `HARNESS_${tool.toUpperCase()}`);
  if (!found.path) return null;
  const result = await execa(found.path, args, { reject: false, timeout: 30_000 });
  return result.exitCode === 0 ? String(result.stdout) : null;
}

/**
 * The scheduler's record of a job. squeue knows queued and running jobs and, for a while
 * (MinJobAge), finished ones; scontrol adds the exit code and output file; sacct (accounting)
 * remembers jobs slurmctld has forgotten. Null when none of them knows the job, or scontrol
 * shows that the id now belongs to a job of another script.
 */
/** Whether scontrol's line is of the job that ran `script` (a job id can be reused after a cluster's state is wiped). */
export function runsScript(line: string, script: string): boolean {
  return !/(?:^|\s)Command=/.test(line) || line.includes(` Command=${script} `) || line.endsWith(` Command=${script}`);
}

export async function querySlurmJob(jobId: string, script?: string): Promise<JobState | null> {
  if (!findTool("squeue", "HARNESS_SQUEUE").path)
    throw usageError("squeue is not on PATH: run `harness status` where SLURM's commands are (a login node of the cluster)");
  const queued = parseSqueue((await ask("squeue", ["-h", "-t", "all", "-j", jobId, "-o", "%T|%r|%j"])) ?? "");
  const found = parseScontrol((await ask("scontrol", ["show", "job", "-o", jobId])) ?? "");
  if (found && script && !runsScript(found.line, script)) return null;
  if (queued && ["pending", "running"].includes(phaseOf(queued.state)))
    return { ...queued, phase: phaseOf(queued.state), exitCode: null, stdout: found?.stdout ?? null, from: "squeue" };
  if (found) {
    const { state, reason, exitCode, name, stdout } = found;
    return { state, reason, exitCode, name, stdout, phase: phaseOf(state), from: "scontrol" };
  }
  if (queued) return { ...queued, phase: phaseOf(queued.state), exitCode: null, stdout: null, from: "squeue" };
  const accounted = parseSacct((await ask("sacct", ["-n", "-P", "-X", "-j", jobId, "-o", "State,ExitCode,JobName"])) ?? "");
  if (accounted) return { ...accounted, phase: phaseOf(accounted.state), reason: null, stdout: null, from: "sacct" };
  return null;
}

/** The task index of an array task's id: "22_3" of array job 22 is task 3. */
function taskOf(id: string, arrayJobId: string): number | null {
  const match = /^(\d+)_(\d+)$/.exec(id.trim());
  return match && match[1] === arrayJobId ? Number(match[2]) : null;
}

/** Lines "ARRAYID_TASK|rest" of this array only, each rest read by `parse`, by task index. */
function byArrayTask<T>(stdout: string, arrayJobId: string, parse: (rest: string) => T | null): Map<number, T> {
  const tasks = new Map<number, T>();
  for (const line of stdout.split("\n")) {
    const [id = "", ...rest] = line.split("|");
    const task = taskOf(id, arrayJobId);
    const parsed = task === null ? null : parse(rest.join("|"));
    if (task !== null && parsed) tasks.set(task, parsed);
  }
  return tasks;
}

/** `squeue -h -t all -r -j ID -o '%i|%T|%r|%j'`: one line per task (-r expands "22_[0-9]"). */
export function parseArraySqueue(stdout: string, arrayJobId: string): Map<number, Pick<JobState, "state" | "reason" | "name">> {
  return byArrayTask(stdout, arrayJobId, parseSqueue);
}

/** `scontrol show job -o ID` of an array job: one line per task that has started, with ArrayTaskId=N. */
export function parseArrayScontrol(stdout: string): Map<number, Omit<JobState, "phase" | "from"> & { line: string }> {
  const tasks = new Map<number, Omit<JobState, "phase" | "from"> & { line: string }>();
  for (const line of stdout.split("\n")) {
    const task = scontrolField(line, "ArrayTaskId");
    const parsed = task !== null && /^\d+$/.test(task) ? parseScontrol(line) : null;
    if (parsed) tasks.set(Number(task), parsed);
  }
  return tasks;
}

/** `sacct -n -P -X -j ID -o JobID,State,ExitCode,JobName`: one line per task. */
export function parseArraySacct(stdout: string, arrayJobId: string): Map<number, Pick<JobState, "state" | "exitCode" | "name">> {
  return byArrayTask(stdout, arrayJobId, parseSacct);
}

/**
 * The scheduler's record of every task of an array job, by task index, read like one job's:
 * squeue while a task is queued or running, scontrol once it ended (exit code, output file),
 * sacct for what slurmctld forgot. A task none of them knows is absent from the map.
 */
export async function queryArrayTasks(arrayJobId: string, script?: string): Promise<Map<number, JobState>> {
  if (!findTool("squeue", "HARNESS_SQUEUE").path)
    throw usageError("squeue is not on PATH: follow SLURM jobs where SLURM's commands are (a login node of the cluster)");
  const queued = parseArraySqueue(
    (await ask("squeue", ["-h", "-t", "all", "-r", "-j", arrayJobId, "-o", "%i|%T|%r|%j"])) ?? "",
    arrayJobId,
  );
  const found = parseArrayScontrol((await ask("scontrol", ["show", "job", "-o", arrayJobId])) ?? "");
  if (script && [...found.values()].some((task) => !runsScript(task.line, script))) return new Map();
  const accounted = parseArraySacct(
    (await ask("sacct", ["-n", "-P", "-X", "-j", arrayJobId, "-o", "JobID,State,ExitCode,JobName"])) ?? "",
    arrayJobId,
  );
  const tasks = new Map<number, JobState>();
  for (const task of new Set([...queued.keys(), ...found.keys(), ...accounted.keys()])) {
    const fromQueue = queued.get(task);
    const fromControl = found.get(task);
    const fromAccounting = accounted.get(task);
    if (fromQueue && ["pending", "running"].includes(phaseOf(fromQueue.state)))
      tasks.set(task, {
        ...fromQueue,
        phase: phaseOf(fromQueue.state),
        exitCode: null,
        stdout: fromControl?.stdout ?? null,
        from: "squeue",
      });
    else if (fromControl) {
      const { state, reason, exitCode, name, stdout } = fromControl;
      tasks.set(task, { state, reason, exitCode, name, stdout, phase: phaseOf(state), from: "scontrol" });
    } else if (fromQueue) tasks.set(task, { ...fromQueue, phase: phaseOf(fromQueue.state), exitCode: null, stdout: null, from: "squeue" });
    else if (fromAccounting)
      tasks.set(task, { ...fromAccounting, phase: phaseOf(fromAccounting.state), reason: null, stdout: null, from: "sacct" });
  }
  return tasks;
}
