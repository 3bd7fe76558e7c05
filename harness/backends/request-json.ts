import type { RequestMessage } from "./types.ts";

/**
 * JSON texts of a chat request that the request key and the chat body both carry. A prompt's JSON
 * is the largest piece of either (a few KB, ~7 us on a 2-core VM), so it is made once per
 * messages array and spliced into both; the splices are byte for byte what JSON.stringify of the
 * whole would give (property tests in test/unit/backends/request-json.test.ts). Requests are never
 * changed after they are built, which the memo relies on.
 */
const messagesTexts = new WeakMap<readonly RequestMessage[], string>();

/** JSON.stringify(messages), made once per messages array. */
export function messagesJson(messages: readonly RequestMessage[]): string {
  let text = messagesTexts.get(messages);
  if (text === undefined) {
    text = JSON.stringify(messages);
    messagesTexts.set(messages, text);
  }
  return text;
}

/** A value as JSON.stringify writes it inside an array (undefined is null there). */
export function arrayItemJson(value: string | number | boolean | null | undefined): string {
  return value === undefined ? "null" : JSON.stringify(value);
}

/** `,"name":value` as JSON.stringify writes an object member, or nothing for an undefined value (JSON.stringify leaves it out). */
export function memberJson(name: string, value: string | number | boolean | null | undefined): string {
  return value === undefined ? "" : `,${JSON.stringify(name)}:${JSON.stringify(value)}`;
}

/**
 * True when the OpenAI wire shape of these messages is the messages themselves: each is exactly
 * { role, content } with text content (what the prompt builders make), so their JSON is the body's.
 */
export function messagesAreWireShaped(messages: readonly RequestMessage[]): boolean {
  for (const message of messages) {
    if (typeof message.content !== "string") return false;
    const keys = Object.keys(message);
    if (keys.length !== 2 || keys[0] !== "role" || keys[1] !== "content") return false;
  }
  return true;
}
