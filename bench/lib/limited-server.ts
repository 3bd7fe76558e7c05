// A loopback OpenAI-compatible server that cannot take everything at once, for the adaptive
// concurrency bench, in its own process:
//   node --import tsx bench/lib/limited-server.ts serial <service-ms>          one request at a time, in order
//   node --import tsx bench/lib/limited-server.ts capacity <service-ms> <K>   K at once, 429 past that
//   node --import tsx bench/lib/limited-server.ts wide <service-ms>           any number at once
// Prints {"url": ...}; stops on stdin EOF. Every answer is "A" (the bench counts questions, not scores).
import { createServer, type ServerResponse } from "node:http";
import { serveUntilStdinEnds } from "./server-process.ts";

const [kind = "wide", service = "20", room = "8"] = process.argv.slice(2);
const serviceMs = Number(service);
const capacity = Number(room);
const completion =
  '{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"test-model","choices":[{"index":0,"message":{"role":"assistant","content":"A"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
const models = '{"object":"list","data":[{"id":"test-model","object":"model","created":0,"owned_by":"bench"}]}';
const busy = '{"error":{"message":"Rate limit reached: too many requests in flight","type":"requests"}}';

const reply = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(body);
};

let active = 0;
/** When the one-at-a-time server is next free. */
let freeAt = 0;

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.method === "GET") return reply(res, 200, models);
    if (kind === "serial") {
      // Served in turn, even after the client gave up on it (as a one-slot model server does).
      freeAt = Math.max(freeAt, performance.now()) + serviceMs;
      setTimeout(() => reply(res, 200, completion), freeAt - performance.now());
      return;
    }
    if (kind === "capacity" && active >= capacity) return reply(res, 429, busy);
    active += 1;
    setTimeout(() => {
      active -= 1;
      reply(res, 200, completion);
    }, serviceMs);
  });
});
await serveUntilStdinEnds(server);
