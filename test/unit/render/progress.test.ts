import { describe, expect, it } from "vitest";
import { formatDuration, Progress } from "../../../harness/render/progress.ts";

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = "";
  const stream = {
    write: (chunk: string) => {
      out += chunk;
      return true;
    },
    isTTY: false,
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out };
}

describe("progress", () => {
  it("prints plain periodic lines with rate and ETA when not on a terminal", () => {
    let now = 0;
    const sink = capture();
    const progress = new Progress({ label: "eval", total: 100, stream: sink.stream, intervalMs: 10_000, now: () => now });
    now = 5_000;
    progress.tick(10);
    now = 12_000;
    progress.tick(10);
    expect(sink.text()).toBe("eval: 20/100 (20.0%) 1.7/s ETA 0:48\n");
    now = 20_000;
    progress.tick(80);
    expect(sink.text().trim().split("\n").at(-1)).toBe("eval: 100/100 (100.0%) 5.0/s ETA 0:00");
  });

  it("draws a bar on a terminal", () => {
    const progress = new Progress({ label: "eval", total: 4, interactive: true, stream: capture().stream, now: () => 1000 });
    progress.tick(1);
    expect(progress.line(2000)).toBe("eval [######------------------] 1/4 (25.0%) 1.0/s ETA 0:03");
  });

  it("shows a changing state last, read at each print (the adaptive concurrency level)", () => {
    let level = "concurrency 4/64";
    const progress = new Progress({
      label: "eval",
      total: 4,
      interactive: false,
      stream: capture().stream,
      now: () => 1000,
      status: () => level,
    });
    progress.tick(1);
    expect(progress.line(2000)).toBe("eval: 1/4 (25.0%) 1.0/s ETA 0:03, concurrency 4/64");
    level = "concurrency 3/64 (lowered: server busy, 429/503/timeouts)";
    expect(progress.line(2000)).toBe("eval: 1/4 (25.0%) 1.0/s ETA 0:03, concurrency 3/64 (lowered: server busy, 429/503/timeouts)");
  });

  it("formats durations", () => {
    expect(formatDuration(59)).toBe("0:59");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(Number.NaN)).toBe("?");
  });
});
