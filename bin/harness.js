#!/usr/bin/env node
// The `harness` command: the compiled CLI in dist/ (`npm run build`, which `npm ci` runs through
// `prepare`). Development and the tests run the TypeScript sources instead: bin/harness-dev.js.
import { existsSync } from "node:fs";

const cli = new URL("../dist/cli.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("harness: error: the compiled CLI (dist/cli.js) is missing: run `npm run build` (npm ci runs it)\n");
  process.exit(2);
}
await import(cli.href);
