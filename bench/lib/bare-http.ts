import { Agent, request } from "undici";

/**
 * The floor a bench server and the OS allow: `count` chat-completion POSTs in a bare undici loop
 * (no SDK, no cache, no retries) with `concurrency` in flight. Returns the seconds it took; the
 * benches print the harness's rate over this one.
 */
export async function bareChatLoopSeconds(url: string, count: number, concurrency: number, bodyOf: (i: number) => object): Promise<number> {
  const agent = new Agent({ connections: concurrency * 2 });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const response = await request(`${url}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(bodyOf(i)),
          dispatcher: agent,
        });
        await response.body.json();
      }
    }),
  );
  await agent.close();
  return (performance.now() - started) / 1000;
}
