#!/usr/bin/env node
// The test's stand-in VLM as a process of its own, for a server started outside the test (a SLURM
// task's --server-command): fakeVlm over the OpenAI protocol on 127.0.0.1:$PORT, serving the model
// named by the first argument, until it is stopped.
import { register } from "tsx/esm/api";

register();
const { startOpenAIServer } = await import("./openai-server.ts");
const { fakeVlm } = await import("./distill-fixtures.ts");
const server = await startOpenAIServer({
  port: Number(process.env.PORT),
  chat: (body) => fakeVlm(body),
  models: [process.argv[2] ?? "llava-test"],
});
process.stdout.write(`fake VLM at ${server.url}\n`);
