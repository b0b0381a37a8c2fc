/**
 * Fetches files from a Hugging Face repository and proves each one arrived intact. The Hub's tree API
 * lists every file with its checksum: LFS files (the weights) carry their SHA-256, small files their git
 * blob id (SHA-1 over "blob <size>\0" + content). A file is written to `<name>.partial`, hashed while it
 * streams, and renamed into place only when its checksum matches, so an interrupted or corrupted download
 * never leaves a file the server would then try to load. Files already present with the right checksum are
 * not fetched again.
 *
 * Written by hand rather than with @huggingface/hub: that package is not a dependency, and the part needed
 * here (one listing call, plain GETs, two hash rules) is smaller than its configuration.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface HubFile {
  path: string;
  size: number;
  checksum: { algorithm: "sha256" | "git-sha1"; hex: string };
}

export interface HubSource {
  /** https://huggingface.co unless HF_ENDPOINT says otherwise (a mirror, or a local fake in tests). */
  endpoint: string;
  repo: string;
  revision: string;
  token?: string;
}

interface TreeEntry {
  type: string;
  path: string;
  size: number;
  oid: string;
  lfs?: { oid: string; size: number };
}

export class DownloadError extends Error {
  override name = "DownloadError";
}

/** Every file of the repository at `revision`, with size and checksum. */
export async function listRepositoryFiles(source: HubSource): Promise<HubFile[]> {
  const url = `${source.endpoint}/api/models/${source.repo}/tree/${encodeURIComponent(source.revision)}?recursive=true`;
  const response = await fetchOrExplain(url, source);
  const entries = (await response.json()) as unknown;
  if (!Array.isArray(entries)) {
    throw new DownloadError(`${url} did not answer a file list (got ${typeof entries})`);
  }
  return (entries as TreeEntry[])
    .filter((entry) => entry.type === "file")
    .map((entry) => ({
      path: entry.path,
      size: entry.lfs?.size ?? entry.size,
      checksum: entry.lfs
        ? { algorithm: "sha256", hex: entry.lfs.oid }
        : { algorithm: "git-sha1", hex: entry.oid },
    }));
}

export interface FileProgress {
  file: HubFile;
  receivedBytes: number;
}

export type FileOutcome = "downloaded" | "already present";

/** Downloads `file` into `targetDir` (keeping its repository path) unless an intact copy is there already. */
export async function downloadFile(
  source: HubSource,
  file: HubFile,
  targetDir: string,
  onProgress: (progress: FileProgress) => void,
): Promise<FileOutcome> {
  const target = join(targetDir, file.path);
  if (await isIntact(target, file)) return "already present";
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.partial`;
  const url = `${source.endpoint}/${source.repo}/resolve/${encodeURIComponent(source.revision)}/${file.path
    .split("/")
    .map(encodeURIComponent)
    .join("/")}`;
  const response = await fetchOrExplain(url, source);
  if (!response.body) throw new DownloadError(`${url} answered without a body`);
  const hash = startHash(file);
  let receivedBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      receivedBytes += chunk.length;
      onProgress({ file, receivedBytes });
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as never), meter, createWriteStream(partial));
    const actual = hash.digest("hex");
    if (receivedBytes !== file.size || actual !== file.checksum.hex) {
      throw new DownloadError(
        `${file.path} arrived corrupted: ${receivedBytes} bytes with ${file.checksum.algorithm} ${actual}, ` +
          `expected ${file.size} bytes with ${file.checksum.hex}. Run the command again.`,
      );
    }
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error instanceof DownloadError
      ? error
      : new DownloadError(`${file.path} failed to download: ${messageOf(error)}`, { cause: error });
  }
  return "downloaded";
}

/** True when `path` holds exactly `file` (same size and checksum). */
export async function isIntact(path: string, file: HubFile): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile() || info.size !== file.size) return false;
  const hash = startHash(file);
  await pipeline(createReadStream(path), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) hash.update(chunk);
  });
  return hash.digest("hex") === file.checksum.hex;
}

function startHash(file: HubFile): Hash {
  if (file.checksum.algorithm === "sha256") return createHash("sha256");
  // A git blob id hashes a header before the content.
  return createHash("sha1").update(`blob ${file.size}\0`);
}

async function fetchOrExplain(url: string, source: HubSource): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: source.token ? { authorization: `Bearer ${source.token}` } : {},
      redirect: "follow",
    });
  } catch (error) {
    throw new DownloadError(
      `cannot reach ${source.endpoint} (${messageOf(error)}). On a machine without internet, download on ` +
        "another machine and copy the models directory over, or set HF_ENDPOINT to a mirror.",
      { cause: error },
    );
  }
  if (!response.ok) {
    const hint =
      response.status === 404
        ? ` (is "${source.repo}" at revision "${source.revision}" right?)`
        : response.status === 401 || response.status === 403
          ? " (set HF_TOKEN if the repository needs a login)"
          : "";
    throw new DownloadError(`${url} answered HTTP ${response.status}${hint}`);
  }
  return response;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
