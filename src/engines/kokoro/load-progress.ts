/**
 * Turns transformers.js load progress into a few log lines: the first start-up downloads about 92 MB, and an
 * operator watching the log should see it move, not a silent minute. One line per file each time it crosses
 * another `stepPercent`, so the log stays short however many chunks the download arrives in.
 */
import type { Logger } from "pino";

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
  logger: Pick<Logger, "info">,
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
