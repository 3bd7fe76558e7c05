import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../../harness/util/version.ts";
import { checkFlagRange, checkFlagValues, checkParsedArgv, FLAG_RANGES, type FlagRange } from "../../../harness/util/validate.ts";

const KINDS = {
  array: ["base-url"],
  number: ["limit"],
  boolean: ["cache", "help"],
  key: { limit: true, task: true, out: true, "base-url": true, cache: true, help: true, published: true },
};

describe("a flag that takes a value, given none", () => {
  it("is a usage error naming the flag: at the end, before another flag, or empty after =", () => {
    for (const raw of [
      ["eval", "--limit"],
      ["eval", "--limit", "--task", "all"],
      ["eval", "--limit="],
      ["eval", "--out"],
      ["eval", "--base-url", "--cache"],
      ["eval", "--task", "-x"],
    ]) {
      const flag = raw.find((w) => w.startsWith("--") && !w.startsWith("--cache"))!.replace(/=$/, "");
      expect(() => checkFlagValues(raw, KINDS), raw.join(" ")).toThrow(`${flag} needs a value`);
    }
  });

  it("booleans, negative numbers, a lone '-' and words after -- pass", () => {
    for (const raw of [
      ["eval", "--cache"],
      ["eval", "--limit", "-5"],
      ["eval", "--out", "-"],
      ["eval", "--task", "all", "--cache", "--", "--limit"],
      ["eval", "--unknown-to-yargs"],
      ["report", "r.json", "--published", "--out", "x.md"],
    ]) {
      expect(() => checkFlagValues(raw, KINDS), raw.join(" ")).not.toThrow();
    }
  });
});

const rangeArb: fc.Arbitrary<FlagRange> = fc.constantFrom(...Object.values(FLAG_RANGES));

describe("number flags have ranges (property)", () => {
  it("any number is either accepted, inside the range, or refused with the flag, the range and the value", () => {
    fc.assert(
      fc.property(
        rangeArb,
        fc.oneof(fc.double(), fc.integer(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 2 ** 53, 1e7)),
        (range, value) => {
          const inside =
            (range.integer ? Number.isInteger(value) : Number.isFinite(value)) &&
            (range.minExclusive ? value > range.min : value >= range.min) &&
            value <= range.max;
          let message = "";
          try {
            checkFlagRange("x", value, range);
          } catch (error) {
            message = (error as Error).message;
            expect((error as { exitCode?: number }).exitCode).toBe(2);
          }
          if (inside) expect(message).toBe("");
          else {
            expect(message).toContain(`--x must be ${range.integer ? "an integer" : "a number"}`);
            expect(message).toMatch(new RegExp(`(<= |at most )${range.max}`));
          }
        },
      ),
    );
  });

  it("every range is finite, ordered, and holds its own bounds", () => {
    for (const [flag, range] of Object.entries(FLAG_RANGES)) {
      expect(Number.isFinite(range.min) && Number.isFinite(range.max) && range.min < range.max, flag).toBe(true);
      expect(range.max <= Number.MAX_SAFE_INTEGER, flag).toBe(true);
      expect(() => checkFlagRange(flag, range.max, range)).not.toThrow();
    }
  });

  it("the CLI check names the typed text for values that are not finite (1e400)", () => {
    const kinds = { array: [], number: ["limit"], boolean: [], key: { limit: true } };
    expect(() => checkParsedArgv(["eval", "--limit", "1e400"], { limit: Infinity }, kinds)).toThrow(
      "--limit must be an integer >= 1 and <= 1000000000, got 1e400",
    );
    expect(() => checkParsedArgv(["eval", "--limit", "7"], { limit: 7 }, kinds)).not.toThrow();
  });

  it("a number option with no range is a bug the CLI names, not a silent pass", () => {
    const kinds = { array: [], number: ["frobs"], boolean: [], key: { frobs: true } };
    expect(() => checkParsedArgv(["eval"], { frobs: 3 }, kinds)).toThrow("--frobs is a number flag with no range");
  });

  it("every number option declared in harness/commands and util/request-flags.ts has a range", async () => {
    const files = [
      ...(await readdir(join(PROJECT_ROOT, "harness/commands"))).map((f) => join(PROJECT_ROOT, "harness/commands", f)),
      join(PROJECT_ROOT, "harness/util/request-flags.ts"),
    ];
    const found = new Set<string>();
    for (const file of files) {
      const text = await readFile(file, "utf8");
      // `.option("name", { type: "number"` and `name: { type: "number"` (request-flags), over line breaks.
      for (const m of text.matchAll(/(?:option\(\s*"([a-z-]+)"\s*,|([a-z][a-zA-Z-]*)\s*:)\s*\{\s*type:\s*"number"/g)) {
        found.add(m[1] ?? m[2]!);
      }
    }
    expect(found.size).toBeGreaterThan(20);
    expect([...found].filter((flag) => FLAG_RANGES[flag] === undefined)).toEqual([]);
  });
});
