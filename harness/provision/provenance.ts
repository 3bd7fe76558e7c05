import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { PROVENANCE_FILE } from "./defaults.ts";

const sha = z.string().regex(/^[0-9a-f]{64}$/);

/** Where a provisioned model came from: package, files and their sha256, licence, conversion. */
export const provenanceSchema = z.object({
  schema: z.literal(1),
  id: z.string(),
  package: z.string(),
  version: z.string(),
  wheel: z.object({ file: z.string(), sha256: sha }),
  gguf: z.object({ member: z.string(), sha256: sha, metadata: z.record(z.string(), z.union([z.string(), z.number()])) }),
  licence: z.string(),
  source: z.string(),
  homepage: z.string(),
  upstream: z.string(),
  /** LLaMA-Factory's template for it: what `serve --base-model` and `finetune` use. */
  template: z.string(),
  conversion: z.object({
    parameters: z.number().int().positive(),
    /** Special tokens set from the GGUF's own ids where transformers read them otherwise. */
    tokenizerFixed: z.record(z.string(), z.string()),
    packages: z.record(z.string(), z.string()),
    seconds: z.number(),
  }),
  createdAt: z.string(),
});
export type Provenance = z.infer<typeof provenanceSchema>;

/** The provenance manifest of a model folder; null when the folder has none. Throws on a malformed one. */
export async function readProvenance(modelDir: string): Promise<Provenance | null> {
  const file = join(modelDir, PROVENANCE_FILE);
  if (!existsSync(file)) return null;
  const parsed = provenanceSchema.safeParse(JSON.parse(await readFile(file, "utf8")));
  if (!parsed.success)
    throw new Error(`${file}: not a provenance manifest (${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message})`);
  return parsed.data;
}
