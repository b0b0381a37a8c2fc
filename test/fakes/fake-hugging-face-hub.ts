/**
 * A loopback stand-in for the Hugging Face Hub's two endpoints a download uses, in their documented shapes:
 * `GET /api/models/<repo>/tree/<rev>?recursive=true` answers `[{type, path, size, oid, lfs?: {oid, size}}]`
 * (LFS files carry their SHA-256 in `lfs.oid`, others their git blob id in `oid`), and
 * `GET /<repo>/resolve/<rev>/<path>` answers the bytes, for LFS files through a 302 to a CDN path as the
 * real Hub does.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepoFile {
  path: string;
  content: Buffer;
  /** Stored with LFS (weights): listed with a SHA-256 and served through a redirect. */
  lfs?: boolean;
}

export interface FakeHub {
  endpoint: string;
  /** Paths of every file the fake served, in order (redirect targets not counted twice). */
  served: string[];
  /** Serve different bytes than listed for this path (a corrupted transfer). */
  corrupt(path: string): void;
  close(): Promise<void>;
}

export async function startFakeHub(repos: Record<string, FakeRepoFile[]>): Promise<FakeHub> {
  const served: string[] = [];
  const corrupted = new Set<string>();
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://fake");
    const tree = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/);
    if (tree) {
      const files = repos[decodeURIComponent(tree[1] ?? "")];
      if (!files) return notFound(response);
      const entries = files.map((file) => ({
        type: "file",
        path: file.path,
        size: file.content.length,
        oid: gitBlobId(file.content),
        ...(file.lfs
          ? {
              lfs: {
                oid: createHash("sha256").update(file.content).digest("hex"),
                size: file.content.length,
                pointerSize: 134,
              },
            }
          : {}),
      }));
      // A folder entry, as the real listing has, which a download must skip.
      const folders = [
        ...new Set(files.map((f) => f.path.split("/").slice(0, -1).join("/")).filter(Boolean)),
      ];
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify([
          ...folders.map((path) => ({ type: "directory", path, size: 0, oid: "0" })),
          ...entries,
        ]),
      );
      return;
    }
    const cdn = url.pathname.match(/^\/cdn\/([^/]+\/[^/]+)\/(.+)$/);
    const resolve = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/);
    const match = cdn ?? resolve;
    if (!match) return notFound(response);
    const repo = decodeURIComponent(match[1] ?? "");
    const path = (match[2] ?? "").split("/").map(decodeURIComponent).join("/");
    const file = repos[repo]?.find((f) => f.path === path);
    if (!file) return notFound(response);
    if (resolve && file.lfs) {
      response.writeHead(302, { location: `/cdn/${repo}/${match[2]}` });
      response.end();
      return;
    }
    served.push(path);
    const body = corrupted.has(path) ? flipFirstByte(file.content) : file.content;
    response.setHeader("content-length", body.length);
    response.end(body);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    served,
    corrupt: (path) => corrupted.add(path),
    close: () => new Promise((done) => server.close(() => done())),
  };
}

function gitBlobId(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function notFound(response: import("node:http").ServerResponse) {
  response.statusCode = 404;
  response.end("Repository not found");
}

function flipFirstByte(content: Buffer): Buffer {
  const copy = Buffer.from(content);
  copy[0] = (copy[0] ?? 0) ^ 0xff;
  return copy;
}
