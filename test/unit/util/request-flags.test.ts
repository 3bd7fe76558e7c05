import { describe, expect, it } from "vitest";
import {
  concurrencySetting,
  formatConcurrency,
  isConcurrencyText,
  parseConcurrency,
  requestSettingsFromFlags,
} from "../../../harness/util/request-flags.ts";

describe("--concurrency", () => {
  it("N is the adaptive ceiling, fixed:N the fixed level (adaptive:N the long form of N)", () => {
    expect(parseConcurrency("16")).toEqual({ concurrency: 16, concurrencyMode: "adaptive" });
    expect(parseConcurrency(16)).toEqual({ concurrency: 16, concurrencyMode: "adaptive" });
    expect(parseConcurrency("fixed:4")).toEqual({ concurrency: 4, concurrencyMode: "fixed" });
    expect(parseConcurrency("adaptive:1024")).toEqual({ concurrency: 1024, concurrencyMode: "adaptive" });
    expect(parseConcurrency(" FIXED:1 ")).toEqual({ concurrency: 1, concurrencyMode: "fixed" });
  });

  it.each(["fixed:0", "fixed:x", "fixed:", "-3", "0", "1.5", "1e7", "1025", "fixed:2000", "Infinity", "0o20", "", "lifo:4", "4:fixed"])(
    "rejects %j naming the flag, the value and what it takes (a usage error)",
    (value) => {
      expect(() => parseConcurrency(value)).toThrow(
        `--concurrency ${JSON.stringify(value)}: expected N (adapt to the server, at most N in flight) or fixed:N (always N), N an integer from 1 to 1024`,
      );
      expect(isConcurrencyText(value)).toBe(false);
      try {
        parseConcurrency(value);
      } catch (error) {
        expect((error as { exitCode: number }).exitCode).toBe(2);
      }
    },
  );

  it("is written back the way it is typed, and a config without a mode takes the stage's default", () => {
    expect(formatConcurrency({ concurrency: 64, concurrencyMode: "adaptive" })).toBe("64");
    expect(formatConcurrency({ concurrency: 8, concurrencyMode: "fixed" })).toBe("fixed:8");
    expect(concurrencySetting({ concurrency: 8 }, { concurrencyMode: "adaptive" })).toEqual({
      concurrency: 8,
      concurrencyMode: "adaptive",
    });
    expect(concurrencySetting({ concurrency: 8, concurrencyMode: "fixed" }, { concurrencyMode: "adaptive" }).concurrencyMode).toBe("fixed");
    expect(requestSettingsFromFlags({ concurrency: "fixed:3", timeout: 2.5, retries: 1 })).toEqual({
      concurrency: 3,
      concurrencyMode: "fixed",
      timeoutMs: 2500,
      retries: 1,
    });
  });
});
