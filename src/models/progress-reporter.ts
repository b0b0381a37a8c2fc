/**
 * Download progress for a person watching: on a terminal one line redrawn at most ten times a second (bytes,
 * percent, speed); in a log (not a TTY) one line per finished file, so CI output stays readable.
 */
import type { FileOutcome, FileProgress, HubFile } from "./hub-download.js";

const REDRAW_EVERY_MS = 100;
const BAR_WIDTH = 24;

export interface ProgressReporter {
  update(progress: FileProgress): void;
  fileDone(file: HubFile, outcome: FileOutcome): void;
  finish(): void;
}

export function createProgressReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  fileCount: number,
  totalBytes: number,
): ProgressReporter {
  const startedAt = Date.now();
  let doneBytes = 0;
  let doneFiles = 0;
  let lastDrawAt = 0;
  const tty = stream.isTTY === true;

  const draw = (currentBytes: number, name: string) => {
    const bytes = doneBytes + currentBytes;
    const fraction = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = Math.max(0.001, (Date.now() - startedAt) / 1000);
    stream.write(
      `\r[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
        `${formatBytes(bytes)}/${formatBytes(totalBytes)} ${formatBytes(bytes / seconds)}/s ` +
        `file ${Math.min(doneFiles + 1, fileCount)}/${fileCount} ${name}`.slice(0, 160).padEnd(100),
    );
  };

  return {
    update({ file, receivedBytes }) {
      if (!tty) return;
      const now = Date.now();
      if (now - lastDrawAt < REDRAW_EVERY_MS) return;
      lastDrawAt = now;
      draw(receivedBytes, file.path);
    },
    fileDone(file, outcome) {
      doneBytes += file.size;
      doneFiles += 1;
      if (tty) draw(0, file.path);
      else stream.write(`  ${file.path} (${formatBytes(file.size)}): ${outcome}\n`);
    },
    finish() {
      if (tty) stream.write("\n");
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
