/**
 * Flag validation shared by every command: each check names the flag and what was expected, and
 * fails as a usage error (exit 2) before any work starts.
 */
import { type HarnessError, usageError } from "./errors.ts";

/** Node's timers hold at most 2^31-1 ms: a longer timeout would fire at once (every request "timed out"). */
export const MAX_TIMEOUT_SECONDS = 86_400;
/** Seeds are 32-bit. */
export const MAX_SEED = 2 ** 32 - 1;
/** More resamples than this change nothing but the wait. */
export const MAX_BOOTSTRAP = 1_000_000;
/** Requests in flight at once: each holds sockets and buffers, so 1e7 runs out of memory long before any server keeps up. */
export const MAX_CONCURRENCY = 1024;
/** Retries per request: past this a failing server is not coming back. */
export const MAX_RETRIES = 100;
/** A count of questions, rows, steps or tokens: large enough for any real run, small enough to stay a safe integer. */
export const MAX_COUNT = 1_000_000_000;
/** Rows sampled into memory at once (annotate sheets, analyze samples). */
export const MAX_SAMPLE = 1_000_000;
/** Shards of one distillation (a shard is picked from 32 bits of a hash). */
export const MAX_SHARDS = 1_000_000;
/** The largest image distill reads into memory (a page-sized photo is a few MB; --max-image-bytes may not go past it). */
export const MAX_IMAGE_BYTES = 256 * 1024 * 1024;

function usage(message: string): HarnessError {
  return usageError(message);
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

/** A number flag's accepted values: integer or not, and its bounds (both always given). */
export interface FlagRange {
  integer: boolean;
  min: number;
  max: number;
  /** min is exclusive (a timeout must be > 0). */
  minExclusive?: boolean;
  /**
   * max is a safety cap on a count that has no natural upper end (concurrency, --limit): a value
   * under the minimum is told the minimum first, with the cap after it.
   */
  cap?: boolean;
}

const capped = (min: number, max: number): FlagRange => ({ integer: true, min, max, cap: true });
const integer = (min: number, max: number): FlagRange => ({ integer: true, min, max });
const real = (min: number, max: number, minExclusive = false): FlagRange => ({ integer: false, min, max, minExclusive });

/**
 * Every number flag of every command, by name, with the values it accepts: the CLI checks each one
 * given (and its default) before any handler runs. A number option missing here is a bug that
 * checkParsedArgv reports, and test/unit/util/validate-flags.test.ts finds it in the sources.
 */
export const FLAG_RANGES: Readonly<Record<string, FlagRange>> = {
  // Requests (util/request-flags.ts) and serving.
  concurrency: capped(1, MAX_CONCURRENCY),
  retries: capped(0, MAX_RETRIES),
  timeout: real(0, MAX_TIMEOUT_SECONDS, true),
  "startup-timeout": real(0, MAX_TIMEOUT_SECONDS, true),
  port: integer(0, 65_535),
  "master-port": integer(1, 65_535),
  // Sampling and decoding.
  temperature: real(0, 2),
  "top-p": real(0, 1, true),
  "top-logprobs": integer(0, 20),
  "max-tokens": capped(1, 1_000_000),
  samples: capped(1, 1000),
  // Counts and seeds.
  seed: integer(0, MAX_SEED),
  "permute-options": integer(0, MAX_SEED),
  bootstrap: integer(1, MAX_BOOTSTRAP),
  limit: capped(1, MAX_COUNT),
  sample: capped(1, MAX_SAMPLE),
  "per-relation": capped(1, MAX_SAMPLE),
  total: capped(1, MAX_SAMPLE),
  "max-steps": capped(1, MAX_COUNT),
  nnodes: capped(1, 4096),
  // distill --slurm N: the shards of the array, each task's server.
  slurm: capped(1, MAX_SHARDS),
  "server-port": integer(1, 65_535),
  "server-timeout": real(0, MAX_TIMEOUT_SECONDS, true),
  tail: capped(1, 10_000),
  "node-rank": integer(0, 4095),
  "max-image-bytes": capped(1, MAX_IMAGE_BYTES),
  // Thresholds and shares.
  "critic-threshold": real(0, 1),
  "max-drop": real(0, 100),
  alpha: real(0, 1, true),
  "min-paired": real(0, 1),
};

/** A flag's value against its FLAG_RANGES entry; `given` is the text typed (shown for values like 1e400). */
export function checkFlagRange(flag: string, value: number | undefined, range: FlagRange, given?: string): void {
  if (value === undefined) return;
  const tooLow = range.minExclusive ? !(value > range.min) : !(value >= range.min);
  const tooHigh = !(value <= range.max);
  const wrongKind = range.integer ? !Number.isInteger(value) : !Number.isFinite(value);
  if (wrongKind || tooLow || tooHigh) {
    const shown = Number.isFinite(value) || given === undefined ? String(value) : given;
    const kind = range.integer ? "an integer" : "a number";
    if (range.cap && !tooHigh)
      throw usage(`--${flag} must be ${kind} ${rangeText({ min: range.min })}, got ${shown} (and at most ${range.max})`);
    throw usage(`--${flag} must be ${kind} ${rangeText(range)}, got ${shown}`);
  }
}

/** A flag's value checked against its entry in FLAG_RANGES (for settings that reach a stage without the CLI). */
export function checkFlag(flag: keyof typeof FLAG_RANGES & string, value: number | undefined): void {
  const range = FLAG_RANGES[flag];
  if (range === undefined) throw new Error(`no range for --${flag} in FLAG_RANGES`);
  checkFlagRange(flag, value, range);
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

/** A URL that must be http(s); `label` names where it came from (a flag, an environment variable). */
function checkHttpUrlFrom(label: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usage(`${label} "${value}" is not a URL: expected http://host:port/... or https://...`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw usage(`${label} "${value}": expected an http:// or https:// URL, got ${url.protocol}`);
  }
}

/** An http(s) URL (a server's base URL, a download mirror). */
export function checkHttpUrl(flag: string, value: string | undefined): void {
  if (value === undefined) return;
  checkHttpUrlFrom(`--${flag}`, value);
}

/**
 * An http(s) URL read from an environment variable (HF_ENDPOINT, INTENTIONQA_SOURCE_URL): the
 * same check as the flag it stands in for, naming the variable. Unset or empty: undefined.
 */
export function envHttpUrl(variable: string, env: NodeJS.ProcessEnv = process.env, flag?: string): string | undefined {
  const value = env[variable];
  if (value === undefined || value === "") return undefined;
  checkHttpUrlFrom(`${variable} (environment variable${flag ? `, in place of --${flag}` : ""})`, value);
  return value;
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

/** The shape of yargs' parsed options that the argv checks need (its getOptions()). */
export interface ParsedOptionKinds {
  array: readonly string[];
  number: readonly string[];
  boolean: readonly string[];
  count?: readonly string[];
  /** Every declared option (yargs: key -> true). */
  key?: Readonly<Record<string, unknown>>;
  /** Option -> its other names. */
  alias?: Readonly<Record<string, readonly string[]>>;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** All spellings of the given option names (kebab, camel, and their aliases). */
function spellings(names: readonly string[], alias: Readonly<Record<string, readonly string[]>> = {}): Set<string> {
  const out = new Set<string>();
  for (const name of names) for (const n of [name, ...(alias[name] ?? [])]) for (const s of [n, camel(n), kebab(n)]) out.add(s);
  return out;
}

/** The text given for --flag on the command line (for "got ..." in messages). */
/** What a number flag accepts as written: digits with an optional sign, point and exponent. */
const DECIMAL_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A number written in a file or a flag, read as a person means it: a decimal, else NaN. Number()
 * alone reads "0x1" as 1, "0b0" as 0 and "" or " " as 0.
 */
export function decimalNumber(text: string): number {
  const trimmed = text.trim();
  return DECIMAL_NUMBER.test(trimmed) ? Number(trimmed) : Number.NaN;
}

function rawValue(raw: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < raw.length; i++) {
    const token = raw[i]!;
    if (token === `--${flag}`) return raw[i + 1];
    if (token.startsWith(`--${flag}=`)) return token.slice(flag.length + 3);
  }
  return undefined;
}

/** A word that yargs reads as a value, not as the next flag: anything not starting with "-", a lone "-", or a negative number. */
function isValueWord(word: string | undefined): boolean {
  if (word === undefined) return false;
  return !word.startsWith("-") || word === "-" || /^-(\d|\.\d)/.test(word);
}

/**
 * String flags whose value may be left out, by design: `report --published` alone means every
 * published row. Any other flag that takes a value needs one.
 */
export const OPTIONAL_VALUE_FLAGS: readonly string[] = ["published"];

/**
 * A flag that takes a value (a number, a string, a path, a list) given none: `--limit` at the end
 * of the line, `--limit --task x`, `--out=`, `--out ""`. yargs would run with the default (or an empty string,
 * or 0 for `--limit=`) and call the result complete.
 */
export function checkFlagValues(raw: readonly string[], kinds: ParsedOptionKinds): void {
  const declared = spellings(Object.keys(kinds.key ?? {}), kinds.alias);
  const noValue = spellings([...kinds.boolean, ...(kinds.count ?? []), ...OPTIONAL_VALUE_FLAGS], kinds.alias);
  for (let i = 0; i < raw.length; i++) {
    const token = raw[i]!;
    if (token === "--") break;
    const match = /^--([A-Za-z0-9][A-Za-z0-9-]*)(=(.*))?$/s.exec(token);
    if (!match) continue;
    const name = match[1]!;
    if (!declared.has(name) || noValue.has(name)) continue;
    const value = match[2] !== undefined ? match[3]! : raw[i + 1];
    // `--out ""` (a variable that expanded to nothing) is no value either: build-sft wrote into the working folder.
    const missing = value === "" || (match[2] === undefined && !isValueWord(value));
    if (missing) {
      const next =
        match[2] === undefined && value !== undefined
          ? value === ""
            ? " (an empty word)"
            : ` (the next word, ${JSON.stringify(value)}, is a flag)`
          : "";
      throw usage(`--${name} needs a value: none was given${next}`);
    }
  }
}

/**
 * Checks that hold for every command, on the raw words and yargs' result: a flag that takes a value
 * given none, a number flag given something that is not a number (yargs turns it into NaN, stored
 * as null in JSON) or outside its FLAG_RANGES entry, and a flag that takes one value given twice
 * (yargs silently makes an array of it).
 */
export function checkParsedArgv(
  raw: readonly string[],
  argv: Record<string, unknown>,
  kinds: ParsedOptionKinds,
  ranges: Readonly<Record<string, FlagRange>> = FLAG_RANGES,
): void {
  checkFlagValues(raw, kinds);
  const arrays = spellings(kinds.array, kinds.alias);
  const booleans = spellings(kinds.boolean, kinds.alias);
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
    const flag = kebab(name);
    const value = argv[name] ?? argv[camel(name)];
    const values = Array.isArray(value) ? value : [value];
    const given = rawValue(raw, flag);
    // yargs reads "" and "  " as 0 and "0x10" as 16: only a decimal number is a number here.
    const notDecimal = given !== undefined && !DECIMAL_NUMBER.test(given.trim());
    if (notDecimal || values.some((v) => typeof v === "number" && Number.isNaN(v))) {
      throw usage(`--${flag} expects a number, got ${given === undefined ? "nothing" : JSON.stringify(given)}`);
    }
    const range = ranges[flag];
    // A programming error, not the user's: every number flag must say what it accepts.
    if (range === undefined) throw new Error(`--${flag} is a number flag with no range in FLAG_RANGES (util/validate.ts)`);
    for (const v of values) if (typeof v === "number") checkFlagRange(flag, v, range, given);
  }
}
