/**
 * `npm run replay -- <tape.jsonl | directory>... [--set name=value]...`: replays call tapes deterministically
 * and shows where a replay parts from its recording. See `src/tapes/replay-cli.ts` and fixtures/README.md.
 */
import { runReplayCli } from "../src/tapes/replay-cli.js";

runReplayCli(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(
      `replay failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
