import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MODEL_SOURCES, PROVENANCE_FILE } from "../../harness/provision/defaults.ts";
import type { Provenance } from "../../harness/provision/provenance.ts";

/** The provenance file `harness model provision smollm2-135m` writes, from the pinned source, into `dir`. */
export async function writeSmolProvenance(dir: string): Promise<Provenance> {
  const source = MODEL_SOURCES["smollm2-135m"];
  const provenance: Provenance = {
    schema: 1,
    id: "smollm2-135m",
    package: source.package,
    version: source.version,
    wheel: { file: source.wheelFile, sha256: source.wheelSha256 },
    gguf: { member: source.member, sha256: source.ggufSha256, metadata: {} },
    licence: source.licence,
    source: source.source,
    homepage: source.homepage,
    upstream: source.upstream,
    template: source.template,
    conversion: { parameters: 1, tokenizerFixed: {}, packages: {}, seconds: 1 },
    createdAt: "2026-01-01T00:00:00.000Z",
  };
  await writeFile(join(dir, PROVENANCE_FILE), JSON.stringify(provenance));
  return provenance;
}
