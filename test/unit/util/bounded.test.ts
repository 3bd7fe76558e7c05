import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkHubAnswer, checkRevision, isInside, unsafeRelativePath } from "../../../harness/hub/guard.ts";
import { downloadToFile, readRegularFileCapped, readResponseCapped } from "../../../harness/util/bounded.ts";
import { sha256 } from "../../../harness/util/fs.ts";
import { utf8CheckStream } from "../../../harness/util/text.ts";

const tmp = () => mkdtemp(join(tmpdir(), "harness-bounded-"));

describe("readRegularFileCapped", () => {
  it("reads a regular file under the cap, refuses one over it, a FIFO and a device", async () => {
    const dir = await tmp();
    await writeFile(join(dir, "a.png"), "12345");
    expect((await readRegularFileCapped(join(dir, "a.png"), 5)).toString()).toBe("12345");
    await expect(readRegularFileCapped(join(dir, "a.png"), 4)).rejects.toMatchObject({ reason: "too-large", bytes: 5 });
    execFileSync("mkfifo", [join(dir, "fifo")]);
    // No writer: a plain open would block forever.
    await expect(readRegularFileCapped(join(dir, "fifo"), 10)).rejects.toMatchObject({ reason: "not-a-file" });
    await expect(readRegularFileCapped("/dev/zero", 10)).rejects.toMatchObject({ reason: "not-a-file" });
    await expect(readRegularFileCapped(dir, 10)).rejects.toMatchObject({ code: "EISDIR" });
  });
});

describe("readResponseCapped and downloadToFile", () => {
  const endless = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new Uint8Array(4096));
        },
      }),
    );

  it("a body that never ends stops at the cap", async () => {
    await expect(readResponseCapped(endless(), 10_000, "body")).rejects.toMatchObject({ reason: "too-large" });
    expect((await readResponseCapped(new Response("abc"), 3, "body")).toString()).toBe("abc");
  });

  it("keeps a download only at its size and sha256, and never leaves a temp file", async () => {
    const dir = await tmp();
    const target = join(dir, "f.jsonl");
    const good = Buffer.from("hello\n");
    const expected = { bytes: good.length, maxBytes: good.length, sha256: sha256(good) };
    await expect(downloadToFile(endless(), target, expected, "u")).rejects.toThrow("more than the 6 bytes expected");
    await expect(downloadToFile(new Response("hell\n"), target, expected, "u")).rejects.toThrow("5 bytes, not the 6 expected");
    await expect(downloadToFile(new Response("HELLO\n"), target, expected, "u")).rejects.toThrow("does not match the pinned");
    expect(await readdir(dir)).toEqual([]);
    expect(await downloadToFile(new Response(good), target, expected, "u")).toBe(6);
    expect(await readdir(dir)).toEqual(["f.jsonl"]);
  });
});

describe("line length bound (property)", () => {
  it("any line over the cap is refused naming its line; any text with shorter lines passes unchanged", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 30 }),
        async (lengths, cap) => {
          const text = lengths.map((n) => "x".repeat(n)).join("\n");
          const chunks: Buffer[] = [];
          let error: Error | undefined;
          try {
            // Chunks of 7 bytes: a line is cut across chunks as a file stream would cut it.
            const input = Readable.from(
              Buffer.from(text)
                .toString()
                .match(/[\s\S]{1,7}/g)
                ?.map((s) => Buffer.from(s)) ?? [],
            );
            for await (const chunk of input.pipe(utf8CheckStream("f.jsonl", 1, cap))) chunks.push(chunk as Buffer);
          } catch (e) {
            error = e as Error;
          }
          const firstLong = lengths.findIndex((n) => n > cap);
          if (firstLong === -1) {
            expect(error).toBeUndefined();
            expect(Buffer.concat(chunks).toString()).toBe(text);
          } else expect(error?.message).toBe(`f.jsonl:${firstLong + 1}: a line longer than ${cap} bytes; expected one record per line`);
        },
      ),
    );
  });
});

describe("the Hub guard (property)", () => {
  it("a path with a .. part, absolute, with NUL or backslash is unsafe; a joined safe path stays inside", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b.bin", "..", ".", "", "/", "\\", "\0", "c:", "x/y"), { maxLength: 6 }), (parts) => {
        const path = parts.join("/");
        const problem = unsafeRelativePath(path);
        if (problem === null) expect(isInside("/cache/models--o--r/snapshots/c", join("/cache/models--o--r/snapshots/c", path))).toBe(true);
        if (path.split("/").includes("..")) expect(problem).not.toBeNull();
      }),
    );
  });

  it("refuses an etag, commit or path that is not a hash or a relative path", () => {
    const good = { sha: "a".repeat(40), siblings: [{ rfilename: "w.bin" }] };
    expect(() => checkHubAnswer(good, "hub")).not.toThrow();
    expect(() => checkHubAnswer([{ path: "w.bin", oid: "b".repeat(40), lfs: { oid: "c".repeat(64) } }], "hub")).not.toThrow();
    for (const bad of [
      { sha: "../../x" },
      [{ path: "w", oid: "/etc/passwd" }],
      [{ path: "w", lfs: { oid: "../../../outside" } }],
      [{ path: "w", xetHash: "a/b" }],
      [{ path: "w", lastCommit: { id: ".." } }],
      [{ path: "../w" }],
      [{ path: 7 }],
      { siblings: [{ rfilename: "/abs" }] },
    ]) {
      expect(() => checkHubAnswer(bad, "hub"), JSON.stringify(bad)).toThrow(/the Hub at hub answered/);
    }
    expect(() => checkRevision("refs/pr/1")).not.toThrow();
    expect(() => checkRevision("../x")).toThrow('--revision "../x"');
  });
});
