import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the test server received: the parsed JSON body of every POST, and the headers. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: Record<string, unknown> | null;
}

export type Reply =
  | string
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { content: string; logprobs?: Array<{ token: string; logprob: number; top_logprobs: Array<{ token: string; logprob: number }> }> }
  | { hang: true };

/** Decides the reply to a chat completion; a string is the assistant's content. */
export type ChatHandler = (body: Record<string, unknown>, index: number, headers: IncomingMessage["headers"]) => Reply | Promise<Reply>;

export interface ServerOptions {
  chat?: ChatHandler;
  /** Vectors for /v1/embeddings inputs. */
  embed?: (input: string) => number[];
  models?: string[];
  /** Added to every chat reply. */
  latencyMs?: number;
  /** When set, only this bearer token is accepted (401 otherwise). */
  apiKey?: string;
  /** The port to listen on (default: a free one). */
  port?: number;
}

export interface TestServer {
  url: string;
  requests: RecordedRequest[];
  /** Chat completion requests only. */
  chatRequests(): RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A real HTTP server that speaks the OpenAI chat-completions protocol on loopback, for tests
 * and benchmarks: no mock of the client, the SDK talks to it over TCP.
 */
export async function startOpenAIServer(options: ServerOptions = {}): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  let chatIndex = 0;
  const hanging = new Set<ServerResponse>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let body: Record<string, unknown> | null = null;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    } catch {
      body = null;
    }
    const path = (req.url ?? "").replace(/\?.*$/, "");
    requests.push({ method: req.method ?? "", path, headers: req.headers, body });
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(payload));
    };
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      send(401, { error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } });
      return;
    }
    if (req.method === "GET" && path.endsWith("/models")) {
      send(200, {
        object: "list",
        data: (options.models ?? ["test-model"]).map((id) => ({ id, object: "model", created: 0, owned_by: "test" })),
      });
      return;
    }
    if (req.method === "POST" && path.endsWith("/embeddings")) {
      const input = body?.["input"];
      const inputs = Array.isArray(input) ? (input as string[]) : [String(input)];
      const embed = options.embed ?? ((s: string) => [s.length, 1]);
      send(200, {
        object: "list",
        model: body?.["model"],
        data: inputs.map((s, index) => ({ object: "embedding", index, embedding: embed(s) })),
      });
      return;
    }
    if (req.method === "POST" && path.endsWith("/chat/completions")) {
      const index = chatIndex++;
      const reply = options.chat ? await options.chat(body ?? {}, index, req.headers) : "A";
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      if (typeof reply === "object" && "hang" in reply) {
        hanging.add(res);
        res.on("close", () => hanging.delete(res));
        return;
      }
      if (typeof reply === "object" && "status" in reply) {
        if (typeof reply.body === "string") {
          // A raw body (an HTML page, broken JSON), sent as is.
          res.writeHead(reply.status, { "content-type": reply.headers?.["content-type"] ?? "text/html", ...reply.headers });
          res.end(reply.body);
          return;
        }
        send(reply.status, reply.body ?? { error: { message: `status ${reply.status}` } }, reply.headers);
        return;
      }
      const content = typeof reply === "string" ? reply : reply.content;
      const logprobs = typeof reply === "object" && "logprobs" in reply && reply.logprobs ? { content: reply.logprobs } : null;
      send(200, {
        id: `chatcmpl-${index}`,
        object: "chat.completion",
        created: 0,
        model: body?.["model"] ?? "test-model",
        choices: [{ index: 0, message: { role: "assistant", content }, logprobs, finish_reason: "stop" }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      return;
    }
    send(404, { error: { message: `no route ${req.method} ${path}` } });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    chatRequests: () => requests.filter((r) => r.path.endsWith("/chat/completions")),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The user prompt of a chat body. */
export function promptOf(body: Record<string, unknown>): string {
  const messages = body["messages"] as Array<{ role: string; content: unknown }>;
  const last = messages[messages.length - 1]!;
  if (typeof last.content === "string") return last.content;
  return (last.content as Array<{ type: string; text?: string }>)
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("");
}
