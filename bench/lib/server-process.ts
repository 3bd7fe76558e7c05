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
