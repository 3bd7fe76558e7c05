import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** The distribution's Chromium that .ci/run installs; the browser tests drive it with playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Whether the browser tests can run: in CI a missing Chromium fails the file in one line (a CI
 * that skips them would hide a broken install); elsewhere the test skips with a warning.
 */
export function chromiumAvailable(what: string): boolean {
  const available = existsSync(CHROMIUM);
  if (!available && process.env["CI"] === "true")
    throw new Error(`${CHROMIUM} is missing; CI must install chromium (apt-get install -y chromium)`);
  if (!available) console.warn(`SKIPPED: ${what} needs ${CHROMIUM} (apt-get install -y chromium)`);
  return available;
}

// Offline and quiet: nothing the browser does on its own may show up as a request the tests count.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium with a fresh profile; close it when done. */
export async function launchChromium(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), "harness-chromium-profile-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
}
