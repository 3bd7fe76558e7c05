/**
 * Secrets (API keys, tokens) must never reach the terminal, a log, a report, a cache or a
 * manifest, and a server may echo them back (an error body quoting the Authorization header).
 * Every key the harness reads is registered here; redact() is applied wherever server text or an
 * error message is surfaced.
 */

const secrets = new Set<string>();

/** Shorter values are not treated as secrets: redacting "1" or "abc" would mangle every message. */
const MIN_SECRET_LENGTH = 6;

export const REDACTED = "[REDACTED]";

/** Registers a value to be removed from every surfaced text. */
export function registerSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= MIN_SECRET_LENGTH && value !== "EMPTY") secrets.add(value);
}

/** Names that hold secrets by convention: OPENAI_API_KEY, HF_TOKEN, MY_SECRET, DB_PASSWORD... */
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)/i;

/** Registers every environment variable whose name says it holds a secret. */
export function registerSecretsFromEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(env)) if (SECRET_NAME.test(name)) registerSecret(value);
}

/** The text with every registered secret (and any bearer token) replaced by [REDACTED]. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  // A token the harness did not know about, echoed in an Authorization header.
  return out.replace(/(Bearer\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{6,}/g, `$1${REDACTED}`);
}
