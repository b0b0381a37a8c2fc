/**
 * One pino logger for the process. Secrets are kept out twice over: known places (auth headers, keys in
 * objects) are redacted by path, and every configured secret value is scrubbed from the finished line, so
 * a key that slips into an error message or a URL is hidden too.
 */
import type { FastifyBaseLogger } from "fastify";
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";

export type { Logger } from "pino";
/** The logger type handed around the server: pino's, as Fastify types it (request and child loggers). */
export type Log = FastifyBaseLogger;

const REDACTED = "[redacted]";

const REDACT_PATHS = [
  "req.headers.authorization",
  'req.headers["x-twilio-signature"]',
  "headers.authorization",
  "*.apiKey",
  "*.authToken",
  "*.token",
  "apiKey",
  "authToken",
  "token",
];

export interface LoggerOptions {
  level: string;
  secrets: readonly string[];
  /**
   * Where lines go; standard output when omitted (tests pass a memory stream). With `pretty`, the lines are
   * rendered for a person before they reach it.
   */
  destination?: DestinationStream;
  /** Coloured one-line-per-event output instead of JSON: see `wantsPrettyLogs`. */
  pretty?: boolean;
}

/**
 * A person at a terminal reads lines, a log collector (systemd's journal, Docker, a file) parses JSON: decide by
 * whether standard output is a terminal, as most CLI tools do. `NO_COLOR` (no-color.org) keeps the lines but
 * drops the colours.
 */
export function wantsPrettyLogs(stdout: { isTTY?: boolean }): boolean {
  return stdout.isTTY === true;
}

export function createLogger(options: LoggerOptions): Logger {
  const scrub = secretScrubber(options.secrets);
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: scrub ? { streamWrite: scrub } : {},
    },
    options.pretty ? prettyStream(options.destination) : options.destination,
  );
}

function prettyStream(destination: DestinationStream | undefined): DestinationStream {
  // Synchronous, in this thread: pino's transport worker would lose the last lines when the process exits
  // right after a fatal error (a port in use), which is exactly when a person needs to read them.
  return pretty({
    sync: true,
    colorize: destination === undefined && !process.env.NO_COLOR,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname",
    destination: destination ?? 1,
  });
}

/** Replaces every occurrence of each secret (raw and JSON-escaped) in a serialized log line. */
export function secretScrubber(secrets: readonly string[]): ((line: string) => string) | undefined {
  const needles = [...new Set(secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].filter(
    (s) => s.length > 0,
  );
  if (needles.length === 0) return undefined;
  // Longest first so a secret that contains another is replaced whole.
  needles.sort((a, b) => b.length - a.length);
  const pattern = new RegExp(needles.map(escapeRegExp).join("|"), "g");
  return (line) => line.replace(pattern, REDACTED);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
