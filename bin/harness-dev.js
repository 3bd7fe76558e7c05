#!/usr/bin/env node
// Runs the TypeScript sources through tsx, with no build step and stack traces that point at the
// .ts files: `npm run harness -- <command>` and the tests use it. Users get bin/harness.js.
import { register } from "tsx/esm/api";

register();
await import("../harness/cli.ts");
