/**
 * The server's side of the models directory: an in-process engine whose model is expected at its default
 * place in MODELS_DIR gets it there before loading, downloaded once with checksums, its progress logged and
 * shown in `/health`. Without a network the failure names the model and the exact command that fetches it,
 * so a person can run it elsewhere and copy the directory over.
 */
import type { EngineLogger } from "../engines/engine-logger.js";
import { messageOf } from "../error-message.js";
import { DownloadError, type FileProgress, type HubFile } from "./hub-download.js";
import type { DownloadableModel } from "./model-catalog.js";
import { fetchModel, type HubAccess, hubSource, missingModelFiles, modelDirectory } from "./model-fetch.js";
import { formatBytes, type ProgressReporter } from "./progress-reporter.js";

export interface ModelSupply {
  model: DownloadableModel;
  modelsDir: string;
  hub: HubAccess;
  /** The command that fetches it by hand (`npm run models -- download <name> ...`). */
  command: string;
  logger: Pick<EngineLogger, "info">;
}

/** How often progress is logged: a log of a 1 GB download gets ten lines, not a thousand. */
const LOG_EVERY_FRACTION = 0.1;

/**
 * Resolves once every file the engine loads is in place, downloading what is missing; `downloading` hears
 * what is being fetched and how far it got. Rejects with a `DownloadError` that names the model, the reason
 * and the command.
 */
export async function supplyModel(
  supply: ModelSupply,
  downloading: (activity: string) => void,
): Promise<void> {
  const { model, modelsDir } = supply;
  const missing = await missingModelFiles(model, modelsDir);
  if (missing.length === 0) return;
  const label = `${model.name} model (${model.repo})`;
  const targetDir = modelDirectory(model, modelsDir);
  const source = hubSource(model, supply.hub);
  downloading(`downloading the ${label} into ${targetDir}`);
  supply.logger.info(
    { model: model.name, repo: model.repo, dir: targetDir, from: source.endpoint, missing },
    `${model.name}: the ${label} is not in ${targetDir}: downloading it from ${source.endpoint} (${model.license})`,
  );
  try {
    const fetched = await fetchModel(model, modelsDir, source, (files, totalBytes) =>
      loggedProgress(supply, files, totalBytes, downloading),
    );
    supply.logger.info(
      { model: model.name, dir: fetched.targetDir, files: fetched.files, downloaded: fetched.downloaded },
      `${model.name}: downloaded into ${fetched.targetDir}, checksums verified`,
    );
  } catch (error) {
    const reason = (error instanceof DownloadError ? error.message : messageOf(error)).replace(/\.+$/, "");
    throw new DownloadError(
      `the ${label} is missing from ${targetDir} (${missing.join(", ")}) and could not be downloaded: ` +
        `${reason}. Fetch it with \`${supply.command}\``,
      { cause: error },
    );
  }
}

function loggedProgress(
  supply: ModelSupply,
  files: readonly HubFile[],
  totalBytes: number,
  downloading: (activity: string) => void,
): ProgressReporter {
  const name = supply.model.name;
  let doneBytes = 0;
  let shownPercent = -1;
  let loggedStep = 0;
  const show = (bytes: number, file: HubFile) => {
    const fraction = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : 1;
    const percent = Math.floor(fraction * 100);
    if (percent === shownPercent) return;
    shownPercent = percent;
    const text = `downloading ${file.path}: ${percent}% of ${formatBytes(totalBytes)} (${files.length} files)`;
    downloading(`${name}: ${text}`);
    const step = Math.floor(fraction / LOG_EVERY_FRACTION);
    if (step > loggedStep) {
      loggedStep = step;
      supply.logger.info({ model: name, percent, totalBytes }, `${name}: ${text}`);
    }
  };
  return {
    update: ({ file, receivedBytes }: FileProgress) => show(doneBytes + receivedBytes, file),
    fileDone: (file) => {
      doneBytes += file.size;
      show(doneBytes, file);
    },
    finish: () => undefined,
  };
}
