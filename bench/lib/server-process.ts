import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { execa } from "execa";

/**
 * Starts one of the bench servers in bench/lib/ in a process of its own (so its work is not
 * measured as the harness's), reads the URL it prints first, and stops it by closing its stdin.
 */
export async function startServerProcess(
  script: string,
  args: readonly string[] = [],
): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = execa("node", ["--import", "tsx", join(import.meta.dirname, script), ...args], {
    stdin: "pipe",
    stderr: "inherit",
    reject: false,
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once("data", (chunk: Buffer) => resolve((JSON.parse(chunk.toString()) as { url: string }).url));
    child.once("exit", () => reject(new Error(`${script} exited before printing its URL`)));
  });
  return {
    url,
    stop: async () => {
      child.stdin!.end();
      await child;
    },
  };
}

/**
 * The server side of the same protocol: listens on loopback, prints {"url"} as the first line,
 * and exits when stdin ends (the bench closing it), whatever connections are still open.
 */
export async function serveUntilStdinEnds(server: Server): Promise<void> {
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
