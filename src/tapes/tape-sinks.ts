/**
 * Where tape lines go. A file sink appends each line with one synchronous write: the line is in the kernel's
 * hands before the call moves on, so a crashing process leaves a tape that ends at most one line short.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import type { TapeSink } from "./tape-recorder.js";

export class FileTapeSink implements TapeSink {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {}

  /** Opens (creating or appending to) the tape file; throws if it cannot. */
  static open(path: string): FileTapeSink {
    return new FileTapeSink(path, openSync(path, "a"));
  }

  write(line: string): void {
    if (this.closed) return;
    const bytes = Buffer.from(line);
    for (let written = 0; written < bytes.length; ) {
      written += writeSync(this.fd, bytes, written, bytes.length - written);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/** Keeps the lines in memory (replay, tests). */
export class MemoryTapeSink implements TapeSink {
  readonly lines: string[] = [];
  closed = false;

  write(line: string): void {
    this.lines.push(line);
  }

  close(): void {
    this.closed = true;
  }

  get text(): string {
    return this.lines.join("");
  }
}
