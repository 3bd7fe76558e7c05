import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Finds (or, with network, downloads) the benchmark files once; see test/helpers/paths.ts.
    globalSetup: ["test/helpers/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real servers and subprocesses; two cores, so keep parallelism low.
    maxWorkers: 2,
  },
});
