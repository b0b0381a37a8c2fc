import type { EngineLogger } from "../engine-logger.js";

/** The fields of transformers.js' ProgressInfo this logger reads (the package does not export the type). */
export interface LoadProgressInfo {
  status: string;
  file?: string;
  progress?: number;
  loaded?: number;
  total?: number;
}

const BAR_WIDTH = 20;

export function createLoadProgressLogger(
  logger: Pick<EngineLogger, "info">,
  stepPercent = 10,
): (info: LoadProgressInfo) => void {
  const lastStepByFile = new Map<string, number>();
  return (info) => {
    if (info.status !== "progress" || info.file === undefined || info.progress === undefined) return;
    const percent = Math.min(100, Math.max(0, info.progress));
    const step = Math.floor(percent / stepPercent);
    if (step <= (lastStepByFile.get(info.file) ?? -1)) return;
    lastStepByFile.set(info.file, step);
    const filled = Math.round((percent / 100) * BAR_WIDTH);
    const bar = `[${"#".repeat(filled)}${" ".repeat(BAR_WIDTH - filled)}]`;
    const size = info.total === undefined ? "" : ` of ${formatBytes(info.total)}`;
    logger.info(
      {
        engine: "tts",
        file: info.file,
        percent: Math.floor(percent),
        loadedBytes: info.loaded,
        totalBytes: info.total,
      },
      `kokoro model ${info.file} ${bar} ${Math.floor(percent)}%${size}`,
    );
  };
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}
