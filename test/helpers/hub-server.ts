import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface HubFile {
  path: string;
  content: Buffer;
  /** Stored with Git LFS (large weights): the Hub reports its sha256 as lfs.oid. */
  lfs?: boolean;
}

export interface HubRepo {
  commit: string;
  files: HubFile[];
  /** Requires this bearer token (a gated model). */
  token?: string;
}

/** The git blob id of a file, as the Hub reports `oid` for files not in LFS. */
function gitBlobOid(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function entry(file: HubFile, commit: string) {
  const sha256 = createHash("sha256").update(file.content).digest("hex");
  return {
    type: "file",
    path: file.path,
    size: file.content.length,
    oid: gitBlobOid(file.content),
    ...(file.lfs ? { lfs: { oid: sha256, size: file.content.length, pointerSize: 134 } } : {}),
    lastCommit: { id: commit, title: "upload", date: "2026-01-01T00:00:00.000Z" },
  };
}

/**
 * A real HTTP server on loopback that speaks the parts of the Hugging Face Hub protocol a
 * snapshot download uses (revision info, tree, paths-info, resolve with ranges), so
 * @huggingface/hub runs unmodified against it. `tamper` serves other bytes than it lists.
 */
export interface HubServerOptions {
  /** Serves other bytes than it lists for this path. */
  tamper?: string;
  /** A hostile Hub: rewrites each listed entry (tree and paths-info), e.g. an etag of "../../x". */
  hostileEntry?: (listed: Record<string, unknown>) => Record<string, unknown>;
  /** A hostile Hub: the commit sha its revision answer gives. */
  hostileSha?: string;
  /** Sends this path's bytes and then never stops (a body without end). */
  endless?: string;
}

export async function startHubServer(repos: Record<string, HubRepo>, options: HubServerOptions = {}) {
  const listed = (file: HubFile, commit: string): Record<string, unknown> => (options.hostileEntry ?? ((e) => e))(entry(file, commit));
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://hub");
    requests.push(`${req.method} ${url.pathname}`);
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree|paths-info)\/([^/]+)/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repoName = decodeURIComponent(api?.[1] ?? resolve?.[1] ?? "");
    const repo = repos[repoName];
    if (!repo) return json(404, { error: "Repository not found" }, { "x-error-code": "RepoNotFound" });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`)
      return json(401, { error: "Access to this model is restricted" });
    if (api?.[2] === "revision")
      return json(200, {
        _id: "0",
        id: repoName,
        sha: options.hostileSha ?? repo.commit,
        private: false,
        gated: repo.token ? "manual" : false,
        siblings: repo.files.map((f) => ({ rfilename: f.path })),
      });
    if (api?.[2] === "tree")
      return json(
        200,
        repo.files.map((f) => listed(f, repo.commit)),
      );
    if (api?.[2] === "paths-info") {
      const wanted = (JSON.parse(Buffer.concat(chunks).toString() || "{}") as { paths?: string[] }).paths ?? [];
      return json(
        200,
        repo.files.filter((f) => wanted.includes(f.path)).map((f) => listed(f, repo.commit)),
      );
    }
    if (resolve) {
      const file = repo.files.find((f) => f.path === decodeURIComponent(resolve[3]!));
      if (!file) return json(404, { error: "Entry not found" }, { "x-error-code": "EntryNotFound" });
      const body = options.tamper === file.path ? Buffer.from(file.content.map((b) => b ^ 1)) : file.content;
      const e = entry(file, repo.commit);
      if (options.endless === file.path) {
        // The size it claims is the listed one; the body goes on past it (chunked, no content-length).
        res.writeHead(req.headers.range ? 206 : 200, {
          "content-type": "application/octet-stream",
          etag: `"${e.oid}"`,
          "content-range": `bytes 0-${file.content.length - 1}/${file.content.length}`,
          "x-repo-commit": repo.commit,
        });
        const chunk = Buffer.alloc(64 * 1024, 7);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once("drain", pump);
        };
        res.on("close", () => res.removeAllListeners("drain"));
        pump();
        return;
      }
      const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? "");
      const start = range ? Number(range[1]) : 0;
      const end = range?.[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      res.writeHead(range ? 206 : 200, {
        "content-type": "application/octet-stream",
        etag: `"${e.oid}"`,
        ...(e.lfs ? { "x-linked-etag": `"${e.lfs.oid}"`, "x-linked-size": String(body.length) } : {}),
        "x-repo-commit": repo.commit,
        ...(range ? { "content-range": `bytes ${start}-${end}/${body.length}` } : {}),
        "content-length": String(end - start + 1),
      });
      res.end(body.subarray(start, end + 1));
      return;
    }
    json(404, { error: `no route ${req.method} ${url.pathname}` });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
