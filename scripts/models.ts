/** `npm run models -- --help`: download models for offline use and list what is installed. */
import { runModelsCli } from "../src/models/models-cli.js";

runModelsCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  progress: process.stderr,
  env: process.env,
}).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    process.stderr.write(
      `models failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 2;
  },
);
