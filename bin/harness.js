#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx harness` works right after `npm ci`
// with no build step and stack traces point at the .ts files.
import { register } from "tsx/esm/api";

register();
await import("../harness/cli.ts");
