/**
 * The output guards on their own (util/paths.ts, util/fs.ts, util/staged-output.ts,
 * util/run-lock.ts): special files refused up front and again before a rename, outputs equal to
 * an input, a full disk as one line, one writer per run folder.
 */
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT, HarnessError } from "../../../harness/util/errors.ts";
import { diskFullError, writeFileAtomic } from "../../../harness/util/fs.ts";
import { checkWritableDir, checkWritableFile, refuseOutputOverInput, specialKind } from "../../../harness/util/paths.ts";
import { acquireRunLock, claimFreshRunDir, RUN_LOCK_FILE } from "../../../harness/util/run-lock.ts";
import { StagedFile, StagedLineWriter } from "../../../harness/util/staged-output.ts";

let dir = "";
let socketServer: Server;
const fifo = () => join(dir, "fifo");
const socket = () => join(dir, "socket");
const linkToNull = () => join(dir, "link-to-null");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "harness-outputs-unit-"));
  execFileSync("mkfifo", [fifo()]);
  symlinkSync("/dev/null", linkToNull());
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(socket(), resolve));
});

afterAll(async () => {
  await new Promise((resolve) => socketServer.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** The HarnessError a promise or call rejects with. */
async function failure(run: () => unknown): Promise<HarnessError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(HarnessError);
    return error as HarnessError;
  }
  throw new Error("expected a failure");
}

describe("special files", () => {
  it("names each kind", () => {
    expect(specialKind(statSync("/dev/null"))).toBe("a character device");
    expect(specialKind(statSync(fifo()))).toBe("a FIFO");
    expect(specialKind(statSync(socket()))).toBe("a socket");
    expect(specialKind(statSync(dir))).toBeNull();
  });

  it("are refused as output files and folders, links to them too, with a usage error naming the flag", async () => {
    for (const path of ["/dev/null", fifo(), socket(), linkToNull()]) {
      const asFile = await failure(() => checkWritableFile("--out", path));
      expect(asFile.exitCode).toBe(EXIT.usage);
      expect(asFile.message).toMatch(new RegExp(`^--out ${path}: is a .*; expected a regular file`));
      const asDir = await failure(() => checkWritableDir("--out", path));
      expect(asDir.message).toMatch(/expected a directory/);
    }
    await expect(checkWritableFile("--out", join(dir, "new.json"))).resolves.toBeUndefined();
  });

  it("writeFileAtomic never renames over one, even when the check up front was passed", async () => {
    const error = await failure(() => writeFileAtomic(linkToNull(), "x"));
    expect(error.message).toContain("is a character device");
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("a StagedFile whose target turns into a FIFO after it started is not renamed over it", async () => {
    const target = join(dir, "late-fifo");
    const file = new StagedFile(target);
    file.write("rows\n");
    execFileSync("mkfifo", [target]);
    expect(() => file.commit()).toThrow(/late-fifo: is a FIFO/);
    file.abandon();
    expect(statSync(target).isFIFO()).toBe(true);
    expect(existsSync(file.tempPath)).toBe(false);
  });

  it("a StagedLineWriter whose target turns into a link to /dev/null is not renamed over it", async () => {
    const target = join(dir, "late-link.jsonl");
    const writer = new StagedLineWriter(target);
    await writer.writeLine("{}");
    symlinkSync("/dev/null", target);
    await expect(writer.commit()).rejects.toThrow(/late-link\.jsonl: is a character device/);
    await writer.abort();
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
  });
});

describe("an output equal to an input", () => {
  it("is refused however it is named: the same path, through .., a symlink, a hard link", async () => {
    const input = join(dir, "in.json");
    writeFileSync(input, "{}");
    symlinkSync(input, join(dir, "in-link.json"));
    linkSync(input, join(dir, "in-hard.json"));
    mkdirSync(join(dir, "sub"), { recursive: true });
    for (const out of [input, join(dir, "sub", "..", "in.json"), join(dir, "in-link.json"), join(dir, "in-hard.json")]) {
      const error = await failure(() => refuseOutputOverInput({ label: "--out", path: out }, [{ label: "--kb", path: input }]));
      expect(error.exitCode).toBe(EXIT.usage);
      expect(error.message).toBe(
        `--out ${out}: is also the input --kb ${input}; writing it would overwrite the input: choose another output path`,
      );
    }
  });

  it("names the file of an output folder that is the input", async () => {
    const out = join(dir, "kb-out");
    const error = await failure(() =>
      refuseOutputOverInput({ label: "--out", path: out, writes: ["mind_kb.csv", "stats.json"] }, [
        undefined,
        { label: "--records", path: join(out, "stats.json") },
      ]),
    );
    expect(error.message).toContain(`--out ${out} (its stats.json): is also the input --records ${out}/stats.json`);
  });

  it("lets other paths through, including a file beside the input", async () => {
    await expect(
      refuseOutputOverInput({ label: "--out", path: join(dir, "other.json") }, [{ label: "--kb", path: join(dir, "in.json") }]),
    ).resolves.toBeUndefined();
    await expect(
      refuseOutputOverInput({ label: "--out", path: dir, writes: ["report.json"] }, [{ label: "--kb", path: join(dir, "in.json") }]),
    ).resolves.toBeUndefined();
  });
});

describe("a full disk", () => {
  it("is one line naming the file the user asked for, exit 1; other errors pass unchanged", () => {
    for (const [code, words] of [
      ["ENOSPC", "no space left on the device"],
      ["EDQUOT", "disk quota exceeded"],
    ] as const) {
      const error = diskFullError("/data/kb/mind_kb.csv", Object.assign(new Error("write"), { code }));
      expect(error).toBeInstanceOf(HarnessError);
      expect((error as HarnessError).exitCode).toBe(EXIT.failed);
      expect((error as HarnessError).message).toBe(
        `cannot write /data/kb/mind_kb.csv: ${words}; nothing was replaced: free some space and rerun`,
      );
    }
    const other = Object.assign(new Error("boom"), { code: "EIO" });
    expect(diskFullError("/x", other)).toBe(other);
  });
});

describe("one writer per run folder", () => {
  it("takes the lock, refuses a second live run naming it, and removes the lock and the empty folder it made", async () => {
    const runDir = join(dir, "runs", "r1");
    const lock = await acquireRunLock("--out", runDir, "eval");
    const held = JSON.parse(await readFile(join(runDir, RUN_LOCK_FILE), "utf8"));
    expect(held).toMatchObject({ pid: process.pid, host: hostname(), command: "eval" });
    // The same process again (ablate's build-sft into its own folder) is one writer.
    const nested = await acquireRunLock("--out", runDir, "build-sft");
    nested.release();
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(true);
    lock.release();
    expect(existsSync(runDir)).toBe(false);
  });

  it("refuses a folder a live run on this host holds (exit 1, its pid and start)", async () => {
    const runDir = join(dir, "runs", "busy");
    mkdirSync(runDir, { recursive: true });
    const other = { pid: 1, host: hostname(), command: "distill", startedAt: "2026-01-01T00:00:00.000Z", token: "t" };
    await writeFile(join(runDir, RUN_LOCK_FILE), JSON.stringify(other));
    const error = await failure(() => acquireRunLock("--out", runDir, "distill"));
    expect(error.exitCode).toBe(EXIT.failed);
    expect(error.message).toBe(
      `--out ${runDir}: another run is writing there (pid 1 on ${hostname()}, \`harness distill\`, started 2026-01-01T00:00:00.000Z); wait for it to finish, or choose another folder (if that run is gone, remove ${join(runDir, RUN_LOCK_FILE)})`,
    );
  });

  it("takes over a lock whose run is gone, and does not remove a lock that is no longer its own", async () => {
    const runDir = join(dir, "runs", "stale");
    mkdirSync(runDir, { recursive: true });
    const gone = { pid: 4_194_303, host: hostname(), command: "eval", startedAt: "2026-01-01T00:00:00.000Z", token: "t" };
    await writeFile(join(runDir, RUN_LOCK_FILE), JSON.stringify(gone));
    const lock = await acquireRunLock("--out", runDir, "eval");
    const mine = JSON.parse(await readFile(join(runDir, RUN_LOCK_FILE), "utf8"));
    expect(mine.pid).toBe(process.pid);
    await writeFile(join(runDir, RUN_LOCK_FILE), JSON.stringify({ ...gone, token: "someone else" }));
    lock.release();
    expect(existsSync(join(runDir, RUN_LOCK_FILE)), "another run's lock stays").toBe(true);
  });

  it("gives a generated run id a fresh folder when the name is taken", async () => {
    const parent = join(dir, "generated");
    expect(await claimFreshRunDir(parent, "20260101T000000-m")).toBe("20260101T000000-m");
    expect(await claimFreshRunDir(parent, "20260101T000000-m")).toBe("20260101T000000-m-2");
    expect(await claimFreshRunDir(parent, "20260101T000000-m")).toBe("20260101T000000-m-3");
  });
});
