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

/** Whether any secret is registered: callers skip redaction work on the hot path when none is. */
export function hasSecrets(): boolean {
  return secrets.size > 0;
}

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

/**
 * `scheme://user:password@`: the password of credentials written into a URL. The password runs to
 * the LAST `@` before the host, as a URL parser reads it: `user:p@ss@host` has the password `p@ss`.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@:]*):([^\s/?#]+)@/gi;
/** `scheme://token@`: a URL whose only credential is its user part (a token, as git hosts take). */
const URL_TOKEN = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#:[\]]+)@/gi;
/**
 * `?api_key=...`, `&token=...`, `#access_token=...`: a credential passed as a query or fragment
 * parameter (gateways that take `?key=`, signed URLs, OAuth fragments). Parameters with other
 * names (`api-version`, `model`) are kept.
 */
const URL_PARAM_SECRET =
  /([?&#;](?:[a-z0-9_.-]*[_.-])?(?:key|apikey|token|secret|password|passwd|pwd|sig|signature|auth|authorization|credential|credentials)=)([^\s&#"'<>]+)/gi;

/**
 * Registers the password of every URL with credentials in these values (command-line arguments,
 * environment variables), raw and percent-decoded, so it is redacted wherever it shows up later.
 */
export function registerUrlSecrets(values: Iterable<string | undefined>): void {
  for (const value of values) {
    if (value === undefined || !(value.includes("@") || value.includes("="))) continue;
    const found = [...value.matchAll(URL_CREDENTIALS)].map((m) => m[3]!);
    found.push(...[...value.matchAll(URL_TOKEN)].map((m) => m[2]!));
    found.push(...[...value.matchAll(URL_PARAM_SECRET)].map((m) => m[2]!));
    for (const password of found) {
      registerSecret(password);
      try {
        registerSecret(decodeURIComponent(password));
      } catch {
        // Not percent-encoding: the raw form is registered.
      }
    }
  }
}

/**
 * A URL (or any text holding URLs) fit to show, store or key on: a password replaced by
 * [REDACTED], its user kept, so two accounts on one server stay apart but no credential is
 * written anywhere; a lone token in the user part is replaced whole.
 */
export function publicUrl(url: string): string {
  let out = url.includes("@") ? url.replace(URL_CREDENTIALS, `$1$2:${REDACTED}@`).replace(URL_TOKEN, `$1${REDACTED}@`) : url;
  if (out.includes("=")) out = out.replace(URL_PARAM_SECRET, `$1${REDACTED}`);
  return out;
}

/** The text with every registered secret, URL password and bearer token replaced by [REDACTED]. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  if (out.includes("@") || out.includes("=")) out = publicUrl(out);
  // A token the harness did not know about, echoed in an Authorization header.
  return out.includes("Bearer") ? out.replace(/(Bearer\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{6,}/g, `$1${REDACTED}`) : out;
}

/**
 * A URL without its credentials, and those credentials as a Basic Authorization header (what a
 * mirror behind a password expects): WHATWG fetch refuses a URL that carries them.
 */
export function splitUrlCredentials(url: string): { url: string; authorization?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url };
  }
  if (parsed.username === "" && parsed.password === "") return { url };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString(), authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` };
}
