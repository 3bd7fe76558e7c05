export const ENGINES = ["huggingface", "vllm"] as const;
export type Engine = (typeof ENGINES)[number];

/**
 * Serving's defaults, once: `harness serve`'s flag defaults, and startServer's when `eval --run` or
 * `ablate` give none. Its own module, so `serve --help` reads it without loading the server code.
 */
export const SERVE_DEFAULTS = {
  /** How long a model may take to load before the server is given up on. */
  startupTimeoutMs: 600_000,
  /** Loopback: other machines reach the server only when asked for (--host 0.0.0.0). */
  host: "127.0.0.1",
} as const;
