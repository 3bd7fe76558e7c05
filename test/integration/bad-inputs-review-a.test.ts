/**
 * The bad-input table of a fresh hostile review after the merge (issue 17's acceptance), on
 * outputs, secrets and files people open: cases no class table listed. Every row checks the exit
 * code, the one-line message, no stack and nothing half-written; rows on secrets also check that
 * no secret reaches the terminal or any file the run left.
 */
import { readFile } from "node:fs/promises";
import { expect } from "vitest";
import type { CliResult } from "../helpers/cli.ts";
import { type BadInputContext, badInputTable, filesUnder } from "../helpers/bad-input-table.ts";

const EVAL1 = "eval --data {data} --cache-dir {dir}/cache --out {dir}/reports --progress false --task understanding --limit 2";

/** Secrets written into URLs below: none may be printed or stored, whole or in part. */
const SECRETS = ["pass-part-one", "part-two-after-at", "sk-query-secret-77", "frag-token-secret-88"];

async function noSecretAnywhere(result: CliResult, { dir }: BadInputContext): Promise<void> {
  for (const secret of SECRETS) {
    expect(result.stdout + result.stderr, "terminal").not.toContain(secret);
    for (const file of await filesUnder(dir)) expect(await readFile(file, "latin1"), file).not.toContain(secret);
  }
}

badInputTable("hostile review (outputs, secrets, files people open)", {
  "eval: --base-url whose password holds '@', unreachable": {
    args: `${EVAL1} --model openai:m --base-url http://alice:${SECRETS[0]}@${SECRETS[1]}@127.0.0.1:9/v1`,
    exit: 1,
    message: "cannot reach an OpenAI-compatible server at http://alice:[REDACTED]@127.0.0.1:9/v1",
    check: noSecretAnywhere,
  },
  "eval: --base-url with ?api_key= and #access_token= (kept out of the cache meta too)": {
    args: `${EVAL1} --model openai:m --base-url {url}?api_key=${SECRETS[2]}#access_token=${SECRETS[3]}`,
    exit: 1,
    message: "the server refused the run",
    check: noSecretAnywhere,
  },
});
