/**
 * Flag validation shared by every command: each check names the flag and what was expected, and
 * fails as a usage error (exit 2) before any work starts.
 */
import { HarnessError } from "./errors.ts";

/** Node's timers hold at most 2^31-1 ms: a longer timeout would fire at once (every request "timed out"). */
export const MAX_TIMEOUT_SECONDS = 86_400;
/** Seeds are 32-bit. */
export const MAX_SEED = 2 ** 32 - 1;
/** More resamples than this change nothing but the wait. */
export const MAX_BOOTSTRAP = 1_000_000;

function usage(message: string): HarnessError {
  return new HarnessError(message, { exitCode: 2 });
}

/** A rule between flags (one needs another, two exclude each other): a usage error with `message` when it is broken. */
export function checkUsage(condition: boolean, message: string): void {
  if (!condition) throw usage(message);
}

export interface NumberRange {
  min?: number;
  max?: number;
  /** min is exclusive (a timeout must be > 0). */
  minExclusive?: boolean;
}

function rangeText(range: NumberRange): string {
  const parts: string[] = [];
  if (range.min !== undefined) parts.push(`${range.minExclusive ? ">" : ">="} ${range.min}`);
  if (range.max !== undefined) parts.push(`<= ${range.max}`);
  return parts.join(" and ");
}

/** A number flag within a range; undefined (not given) passes. */
export function checkNumber(flag: string, value: number | undefined, range: NumberRange = {}): void {
  if (value === undefined) return;
  const tooLow = range.min !== undefined && (range.minExclusive ? !(value > range.min) : !(value >= range.min));
  const tooHigh = range.max !== undefined && !(value <= range.max);
  if (!Number.isFinite(value) || tooLow || tooHigh) {
    const expected = rangeText(range);
    throw usage(`--${flag} must be a number${expected ? ` ${expected}` : ""}, got ${value}`);
  }
}

/** An integer flag within a range; undefined (not given) passes. */
export function checkInteger(flag: string, value: number | undefined, range: Omit<NumberRange, "minExclusive"> = {}): void {
  if (value === undefined) return;
  const tooLow = range.min !== undefined && value < range.min;
  const tooHigh = range.max !== undefined && value > range.max;
  if (!Number.isInteger(value) || tooLow || tooHigh) {
    const expected = rangeText(range);
    throw usage(`--${flag} must be an integer${expected ? ` ${expected}` : ""}, got ${value}`);
  }
}

/** An http(s) URL (a server's base URL, a download mirror). */
export function checkHttpUrl(flag: string, value: string | undefined): void {
  if (value === undefined) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usage(`--${flag} "${value}" is not a URL: expected http://host:port/... or https://...`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usage(`--${flag} "${value}": expected an http:// or https:// URL, got ${url.protocol}`);
  }
}

/**
 * The variable an --api-key-env flag names must be set: otherwise the request would go out with
 * no key (or a placeholder) and fail later with a message that never names the variable.
 */
export function checkKeyVariable(flag: string, variable: string | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (variable === undefined) return;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw usage(`--${flag} "${variable}" is not an environment variable name`);
  if (!env[variable]) throw usage(`--${flag} ${variable}: the variable ${variable} is not set (or empty) in the environment`);
}

/** The shape of yargs' parsed options that the argv checks need. */
export interface ParsedOptionKinds {
  array: readonly string[];
  number: readonly string[];
  boolean: readonly string[];
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The text given for --flag on the command line (for "got ..." in messages). */
function rawValue(raw: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < raw.length; i++) {
    const token = raw[i]!;
    if (token === `--${flag}`) return raw[i + 1];
    if (token.startsWith(`--${flag}=`)) return token.slice(flag.length + 3);
  }
  return undefined;
}

/**
 * Checks that hold for every command, on the raw words and yargs' result: a number flag given
 * something that is not a number (yargs turns it into NaN, stored as null in JSON), and a flag
 * that takes one value given twice (yargs silently makes an array of it).
 */
export function checkParsedArgv(raw: readonly string[], argv: Record<string, unknown>, kinds: ParsedOptionKinds): void {
  const arrays = new Set([...kinds.array].flatMap((n) => [n, camel(n), kebab(n)]));
  const booleans = new Set([...kinds.boolean].flatMap((n) => [n, camel(n), kebab(n)]));
  const counts = new Map<string, number>();
  for (const token of raw) {
    if (token === "--") break;
    const match = /^--([A-Za-z0-9][A-Za-z0-9-]*)(=|$)/.exec(token);
    if (!match) continue;
    const name = match[1]!;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const [name, count] of counts) {
    if (count > 1 && !arrays.has(name) && !booleans.has(name) && !booleans.has(name.replace(/^no-/, ""))) {
      throw usage(`--${name} was given ${count} times; give it once (a comma-separated list where it takes several values)`);
    }
  }
  for (const name of kinds.number) {
    const value = argv[name] ?? argv[camel(name)];
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === "number" && Number.isNaN(v))) {
      const given = rawValue(raw, kebab(name));
      throw usage(`--${kebab(name)} expects a number, got ${given === undefined ? "nothing" : JSON.stringify(given)}`);
    }
  }
}
