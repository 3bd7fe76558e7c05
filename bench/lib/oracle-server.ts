// A loopback OpenAI-compatible server for the throughput bench: answers every IntentionQA
// question correctly after a fixed latency, doing as little else as it can (the "ideal" server of
// the bench's ratio), in its own process so the harness has its event loop and core to itself.
//   node --import tsx bench/lib/oracle-server.ts <latency-ms>   -> prints {"url": ...}; stops on stdin EOF
import { createServer } from "node:http";
import { goldByPrompt } from "../../test/helpers/gold.ts";
import { serveUntilStdinEnds } from "./server-process.ts";

const latencyMs = Number(process.argv[2] ?? "0");
const gold = await goldByPrompt(["understanding", "utilization"]);
const completion = (letter: string) =>
  `{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"test-model","choices":[{"index":0,"message":{"role":"assistant","content":"${letter}"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`;
const models = `{"object":"list","data":[{"id":"test-model","object":"model","created":0,"owned_by":"bench"}]}`;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(models);
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { messages: Array<{ content: string }> };
    const payload = completion(gold.get(body.messages[body.messages.length - 1]!.content) ?? "?");
    const send = () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(payload);
    };
    if (latencyMs > 0) setTimeout(send, latencyMs);
    else send();
  });
});
await serveUntilStdinEnds(server);
