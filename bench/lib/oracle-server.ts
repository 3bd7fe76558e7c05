// A loopback OpenAI-compatible server that answers every IntentionQA question correctly after a
// fixed latency. Run as its own process so the harness being measured has the event loop to itself.
import { startOpenAIServer, promptOf } from "../../test/helpers/openai-server.ts";
import { goldByPrompt } from "../../test/helpers/gold.ts";

const latencyMs = Number(process.argv[2] ?? "0");
const gold = await goldByPrompt(["understanding", "utilization"]);
const server = await startOpenAIServer({ latencyMs, chat: (body) => gold.get(promptOf(body)) ?? "?" });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.stdin.resume();
process.stdin.on("end", () => void server.close().then(() => process.exit(0)));
setInterval(() => {
  // Report the count on request so the bench can see how many requests reached the server.
}, 1 << 30);
process.on("SIGUSR2", () => process.stderr.write(`${JSON.stringify({ chat: server.chatRequests().length })}\n`));
