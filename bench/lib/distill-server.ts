// A loopback OpenAI-compatible server for the distill scale bench: answers each MIND stage with
// text of realistic length (features ~150 words, an intention ~60 words, a "Yes, ..." verdict),
// unique per prompt, at zero latency, in its own process so the harness has its core to itself.
//   node --import tsx bench/lib/distill-server.ts   -> prints {"url": ...}; stops on stdin EOF
// POST <url>/__bench/record {"file": F} keeps every chat body it gets from then on; {"file": null}
// writes them to F, one per line: the bare loop replays the harness's own requests from it.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { serveUntilStdinEnds } from "./server-process.ts";

const FEATURES =
  "The product is a lightweight, durable item made of breathable synthetic mesh with reinforced stitching along the seams. " +
  "Its design is minimal and functional, in a neutral colour that suits everyday use, and the packaging shows it is meant for regular outdoor activity. " +
  "Key features include a padded interior, an adjustable fit, a non-slip base and a water-resistant outer layer that keeps the contents dry in light rain. " +
  "It is easy to clean, folds flat for storage and travel, and weighs little enough to carry all day without discomfort. " +
  "The brand positions it for commuters, hikers and casual athletes who want reliable gear at a moderate price.";
const INTENTION =
  "the potential co-buy intention could be preparing for a weekend hiking trip, because the first product keeps the buyer's belongings dry and organised " +
  "while the second adds comfort and support on long walks, so together they make the trip easier and more enjoyable for someone who walks outdoors often.";
const VERDICT = "Yes, the intention is specific, plausible and explains why a customer would buy both products together.";

const body = (content: string) =>
  JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: 0,
    model: "bench-vlm",
    choices: [{ index: 0, message: { role: "assistant", content }, logprobs: null, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
const models = JSON.stringify({ object: "list", data: [{ id: "bench-vlm", object: "model", created: 0, owned_by: "bench" }] });

let recording: { file: string; bodies: string[] } | null = null;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    if (req.method === "GET") {
      res.end(models);
      return;
    }
    const text = Buffer.concat(chunks).toString("utf8");
    if (req.url?.endsWith("/__bench/record")) {
      if (recording) writeFileSync(recording.file, recording.bodies.join("\n"));
      const { file } = JSON.parse(text) as { file: string | null };
      recording = file ? { file, bodies: [] } : null;
      res.end("{}");
      return;
    }
    recording?.bodies.push(text);
    // Unique per prompt, so every intention (and so every filter prompt) differs, as a model's would.
    const tag = createHash("sha1").update(text).digest("hex").slice(0, 12);
    const answer = text.includes("Under the relation of")
      ? VERDICT
      : text.includes("Start with the potential co-buy intention")
        ? `${INTENTION} (${tag})`
        : `${FEATURES} (${tag})`;
    res.end(body(answer));
  });
});
await serveUntilStdinEnds(server);
