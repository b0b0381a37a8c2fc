/**
 * `npm run replay -- <tape or directory>... [--set name=value]... [--tolerance-ms N] [--timer-jitter-ms N]`
 *
 * Replays each tape (every `*.jsonl` of a directory) and prints one line per tape that replayed identically,
 * or a readable diff at the first divergence. Exit status: 0 all identical, 1 some diverged, 2 a tape or an
 * argument could not be used.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultCallConfig } from "../../machines/call-config.js";
import { DEFAULT_TIMER_JITTER_MS, DEFAULT_TOLERANCE_MS, type ReplayOptions, replayTape } from "./replay.js";
import { formatDivergence } from "./tape-diff.js";
import { isInput, parseTape, TapeFormatError } from "./tape-format.js";

export const REPLAY_USAGE = `usage: npm run replay -- <tape.jsonl | directory>... [options]

Replays each call tape through a fresh call actor on a simulated clock, the engines answering from the tape,
and compares what the actor does with what the recorded call did.

options:
  --set name=value       replay with this CallConfig setting changed (repeatable), e.g. --set bargeInMinWords=3
  --tolerance-ms N       how far apart in time matching outputs may be (default ${DEFAULT_TOLERANCE_MS})
  --timer-jitter-ms N    how late a recorded timer may have fired and keep its order (default ${DEFAULT_TIMER_JITTER_MS})
  -h, --help             this text

exit status: 0 every tape replayed identically, 1 some diverged, 2 a tape or an option could not be used`;

class UsageError extends Error {}

/** Runs the command; returns the exit status. `write` receives the output, line by line. */
export async function runReplayCli(args: readonly string[], write: (line: string) => void): Promise<number> {
  let paths: string[];
  let options: ReplayOptions;
  try {
    const parsed = parseCommandLine(args);
    if (parsed === "help") {
      write(REPLAY_USAGE);
      return 0;
    }
    options = parsed.options;
    paths = await expandPaths(parsed.paths);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    write(`replay: ${error.message}\n\n${REPLAY_USAGE}`);
    return 2;
  }

  let status = 0;
  for (const path of paths) {
    const outcome = await replayOne(path, options, write);
    status = Math.max(status, outcome);
  }
  if (paths.length > 1) {
    write(
      status === 0
        ? `all ${paths.length} tapes replayed identically`
        : "some tapes did not replay identically",
    );
  }
  return status;
}

async function replayOne(
  path: string,
  options: ReplayOptions,
  write: (line: string) => void,
): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    write(`✗ ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    return 2;
  }
  try {
    const tape = parseTape(text, path);
    const result = await replayTape(tape, options);
    const truncated = tape.truncated ? " (its last line was cut short and was left out)" : "";
    if (result.actorError !== undefined) {
      write(`✗ ${path}: the replayed call actor crashed: ${String(result.actorError)}`);
      return 1;
    }
    if (result.divergence) {
      write(
        formatDivergence({
          source: path,
          divergence: result.divergence,
          recordedEntries: tape.entries,
          recordedOutputs: result.recordedOutputs,
          replayedOutputs: result.replayedOutputs,
          toleranceMs: result.toleranceMs,
          overrides: options.overrides,
        }) + truncated,
      );
      return 1;
    }
    const inputs = tape.entries.filter(isInput).length;
    const seconds = ((tape.entries.at(-1)?.t ?? 0) / 1000).toFixed(1);
    write(
      `✓ ${path}: ${result.recordedOutputs.length} outputs replayed identically ` +
        `(${inputs} inputs, ${seconds} s of call)${truncated}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof TapeFormatError) {
      write(`✗ ${error.message}`);
      return 2;
    }
    // An override the statechart cannot run with (validateCallConfig explains which).
    if (error instanceof Error && error.message.startsWith("Invalid call configuration")) {
      write(`✗ ${path}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

function parseCommandLine(args: readonly string[]): { paths: string[]; options: ReplayOptions } | "help" {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) return "help";
  if (parsed.positionals.length === 0) throw new UsageError("give at least one tape or directory");
  const overrides: Record<string, unknown> = {};
  for (const setting of parsed.values.set ?? []) {
    const [name, value] = splitSetting(setting);
    overrides[name] = value;
  }
  return {
    paths: parsed.positionals,
    options: {
      overrides,
      toleranceMs: milliseconds("--tolerance-ms", parsed.values["tolerance-ms"]),
      timerJitterMs: milliseconds("--timer-jitter-ms", parsed.values["timer-jitter-ms"]),
    },
  };
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      set: { type: "string", multiple: true },
      "tolerance-ms": { type: "string" },
      "timer-jitter-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** `bargeInMinWords=3` → ["bargeInMinWords", 3]; values are JSON when they parse as JSON, else strings. */
function splitSetting(setting: string): [string, unknown] {
  const equals = setting.indexOf("=");
  if (equals <= 0) throw new UsageError(`--set wants name=value, got "${setting}"`);
  const name = setting.slice(0, equals);
  if (!(name in defaultCallConfig)) {
    throw new UsageError(
      `--set ${name}: no such CallConfig setting (known: ${Object.keys(defaultCallConfig).join(", ")})`,
    );
  }
  const raw = setting.slice(equals + 1);
  try {
    return [name, JSON.parse(raw)];
  } catch {
    return [name, raw];
  }
}

function milliseconds(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0)
    throw new UsageError(`${option} wants a number of ms >= 0, got "${value}"`);
  return ms;
}

/** Directories become their `*.jsonl` files, sorted; files stay as given. */
async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const expanded: string[] = [];
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch {
      // Reported as unreadable when replayed, with the other tapes still replayed.
    }
    if (!isDirectory) {
      expanded.push(path);
      continue;
    }
    const tapes = (await readdir(path)).filter((name) => name.endsWith(".jsonl")).sort();
    if (tapes.length === 0) throw new UsageError(`${path} holds no *.jsonl tapes`);
    expanded.push(...tapes.map((name) => join(path, name)));
  }
  return expanded;
}
