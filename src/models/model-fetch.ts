/**
 * Puts a catalog model's files into a models directory, each verified by its checksum: what
 * `npm run models -- download` does, and what the server does on first start for a default model that is
 * not there yet.
 */
import { access, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  DownloadError,
  downloadFile,
  type HubFile,
  type HubSource,
  listRepositoryFiles,
} from "./hub-download.js";
import type { DownloadableModel } from "./model-catalog.js";
import type { ProgressReporter } from "./progress-reporter.js";

/** The Hub (or a mirror) and the token, as HF_ENDPOINT and HF_TOKEN give them. */
export interface HubAccess {
  endpoint: string;
  token?: string;
}

export function hubSource(model: DownloadableModel, hub: HubAccess): HubSource {
  return {
    endpoint: hub.endpoint.replace(/\/+$/, ""),
    repo: model.repo,
    revision: model.revision,
    token: hub.token || undefined,
  };
}

/** The directory the model's files go to (the repository's layout is kept under it). */
export function modelDirectory(model: DownloadableModel, modelsDir: string): string {
  return join(modelsDir, model.subdir);
}

/**
 * The model's files and folders that are not in `modelsDir` (a folder as `name/`). Cheap, so a start with
 * everything present touches no network and hashes nothing: existence, and for a pinned file its size.
 */
export async function missingModelFiles(model: DownloadableModel, modelsDir: string): Promise<string[]> {
  const base = modelDirectory(model, modelsDir);
  const pinnedSize = new Map(model.pinnedFiles?.map((file) => [file.path, file.size]));
  const files = await Promise.all(
    model.requiredFiles.map(async (path) => {
      const info = await stat(join(base, path)).catch(() => undefined);
      const expected = pinnedSize.get(path);
      const present = info?.isFile() === true && (expected === undefined || info.size === expected);
      return present ? [] : [path];
    }),
  );
  const folders = await Promise.all(
    model.requiredFolders.map(async (folder) => ((await hasFiles(join(base, folder))) ? [] : [`${folder}/`])),
  );
  return [...files.flat(), ...folders.flat()];
}

export interface FetchedModel {
  targetDir: string;
  files: number;
  downloaded: number;
}

/** Downloads every file of `model` that is not already intact in `modelsDir`, reporting progress. */
export async function fetchModel(
  model: DownloadableModel,
  modelsDir: string,
  source: HubSource,
  startReporter: (files: readonly HubFile[], totalBytes: number) => ProgressReporter,
): Promise<FetchedModel> {
  const files = model.pinnedFiles ?? selectFiles(model, await listRepositoryFiles(source));
  const targetDir = modelDirectory(model, modelsDir);
  const reporter = startReporter(
    files,
    files.reduce((sum, file) => sum + file.size, 0),
  );
  let downloaded = 0;
  for (const file of files) {
    const outcome = await downloadFile(source, file, targetDir, (progress) => reporter.update(progress));
    reporter.fileDone(file, outcome);
    if (outcome === "downloaded") downloaded += 1;
  }
  reporter.finish();
  return { targetDir, files: files.length, downloaded };
}

/** The files of the listing the engine needs; a required file the repository lacks is an error. */
function selectFiles(model: DownloadableModel, listed: readonly HubFile[]): HubFile[] {
  const byPath = new Map(listed.map((file) => [file.path, file]));
  const missing = model.requiredFiles.filter((path) => !byPath.has(path));
  if (missing.length > 0) {
    throw new DownloadError(
      `${model.repo} has no ${missing.join(", ")}; check the model name (the repository lists ` +
        `${listed
          .slice(0, 8)
          .map((file) => file.path)
          .join(", ")}${listed.length > 8 ? ", ..." : ""})`,
    );
  }
  const inFolders = listed.filter((file) =>
    model.requiredFolders.some((folder) => file.path.startsWith(`${folder}/`)),
  );
  for (const folder of model.requiredFolders) {
    if (!inFolders.some((file) => file.path.startsWith(`${folder}/`))) {
      throw new DownloadError(`${model.repo} has no ${folder}/ folder`);
    }
  }
  return [...model.requiredFiles.map((path) => byPath.get(path) as HubFile), ...inFolders];
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function hasFiles(path: string): Promise<boolean> {
  if (!(await stat(path).catch(() => undefined))?.isDirectory()) return false;
  return (await readdir(path)).length > 0;
}
