/**
 * `npm run call`: phone the agent without a phone. Places a call on a running server exactly as Twilio
 * would (webhook, TwiML, media stream in real time), writes a stereo WAV of it and prints the per-turn
 * latency; with `--concurrency N`, the load generator: N calls at once and latency percentiles.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { config as loadDotenv } from "dotenv";
import {
  type CallEvent,
  CallerError,
  type CallResult,
  describeEnd,
  formatCallReport,
  formatLoadReport,
  loadCallerAudio,
  runCalls,
  type SimulateCallOptions,
  simulateCall,
} from "../tools/caller/index.js";

const USAGE = `Usage: npm run call -- --audio a.wav[,b.wav...] [options]

Places a call on the server the way Twilio does and plays the caller's WAV files, one utterance each,
each after the agent's answer to the one before. Writes a stereo WAV (caller left, agent right) and
prints the latency from the end of each utterance to the agent's first audio.

  --audio FILES             comma-separated WAV files (any rate; 8 kHz mu-law is sent as is)
  --url URL                 the server (default http://localhost:$PORT, PORT from the environment or 8080)
  --public-url URL          the server's PUBLIC_URL, which signatures cover (default PUBLIC_URL or --url)
  --auth-token TOKEN        the server's TWILIO_AUTH_TOKEN: sign like Twilio (default $TWILIO_AUTH_TOKEN)
  --from NUMBER, --to NUMBER  the caller and the number called (default +15555550123, +15555550100)
  --barge-in-after MS       speak the next utterance MS ms after the agent's answer started, over it
  --hangup-after-ms MS      hang up MS ms after the stream started, whatever is happening
  --no-greeting             speak at once instead of waiting for the agent's greeting
  --reply-timeout-ms MS     go on when the agent has not started answering after MS ms (default 10000)
  --pause-ms MS             silence after the agent's answer before speaking again (default 600)
  --out FILE                the recording (default call.wav; with several calls, FILE-1.wav, FILE-2.wav...)
  --concurrency N           run N calls at once and print latency percentiles (the load generator)
  --calls M                 with --concurrency: M calls in all (default N)
  --calls-api-key KEY       bearer token for the server's GET /calls (the transcript)
  -h, --help

.env is read as the server reads it, so TWILIO_AUTH_TOKEN and PUBLIC_URL match a server started here.`;

class UsageError extends Error {}

async function main(): Promise<number> {
  loadDotenv({ quiet: true });
  const args = parseCommandLine();
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const files = (args.audio ?? "")
    .split(",")
    .map((file) => file.trim())
    .filter(Boolean);
  if (files.length === 0) throw new UsageError("--audio needs at least one WAV file");
  const utterances = await Promise.all(files.map(loadCallerAudio));
  const url = args.url ?? `http://localhost:${process.env.PORT || 8080}`;
  const concurrency = wholeNumber("--concurrency", args.concurrency, 1) ?? 1;
  const calls = wholeNumber("--calls", args.calls, 1) ?? concurrency;
  const out = args.out ?? "call.wav";

  const controller = new AbortController();
  process.on("SIGINT", () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write("\nhanging up (Ctrl-C again to quit at once)\n");
    controller.abort();
  });

  const options: SimulateCallOptions = {
    url,
    publicUrl: args["public-url"] ?? (process.env.PUBLIC_URL || undefined),
    authToken: args["auth-token"] ?? (process.env.TWILIO_AUTH_TOKEN || undefined),
    from: args.from,
    to: args.to,
    utterances,
    bargeInAfterMs: milliseconds("--barge-in-after", args["barge-in-after"]),
    hangupAfterMs: milliseconds("--hangup-after-ms", args["hangup-after-ms"]),
    replyTimeoutMs: milliseconds("--reply-timeout-ms", args["reply-timeout-ms"]),
    pauseAfterReplyMs: milliseconds("--pause-ms", args["pause-ms"]),
    waitForGreeting: !args["no-greeting"],
    callsApiKey: args["calls-api-key"],
    signal: controller.signal,
  };

  if (concurrency === 1 && calls === 1) {
    process.stdout.write(`calling ${url} (${files.join(", ")}); Ctrl-C hangs up\n`);
    const result = await simulateCall({ ...options, onEvent: (event) => printEvent(event, files) });
    process.stdout.write(`\n${formatCallReport(result)}\n`);
    await writeRecording(result, out);
    if (result.ended.by === "caller" && result.ended.reason === "aborted") return 130;
    return result.ended.by === "server" && result.ended.code !== 1000 ? 1 : 0;
  }

  process.stdout.write(`calling ${url}: ${calls} calls, ${concurrency} at a time; Ctrl-C hangs up\n`);
  const load = await runCalls({
    ...options,
    concurrency,
    calls,
    onCallEnded: (outcome, index) => {
      const what = outcome.ok ? describeEnd(outcome.result) : `FAILED: ${outcome.error}`;
      process.stdout.write(`call ${index + 1}/${calls}: ${what}\n`);
    },
  });
  process.stdout.write(`\n${formatLoadReport(load)}\n`);
  if (args.out !== undefined) {
    const stem = out.replace(/\.wav$/i, "");
    for (const [index, outcome] of load.outcomes.entries()) {
      if (outcome.result) await writeRecording(outcome.result, `${stem}-${index + 1}.wav`);
    }
  }
  return load.failures > 0 ? 1 : 0;
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        audio: { type: "string" },
        url: { type: "string" },
        "public-url": { type: "string" },
        "auth-token": { type: "string" },
        from: { type: "string" },
        to: { type: "string" },
        "barge-in-after": { type: "string" },
        "hangup-after-ms": { type: "string" },
        "no-greeting": { type: "boolean" },
        "reply-timeout-ms": { type: "string" },
        "pause-ms": { type: "string" },
        out: { type: "string" },
        concurrency: { type: "string" },
        calls: { type: "string" },
        "calls-api-key": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function milliseconds(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number) || number < 0) {
    throw new UsageError(`${flag} takes a number of milliseconds, got "${value}"`);
  }
  return number;
}

function wholeNumber(flag: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) {
    throw new UsageError(`${flag} takes a whole number >= ${min}, got "${value}"`);
  }
  return number;
}

/** Live progress of a single call: who speaks when. */
function printEvent(event: CallEvent, files: readonly string[]): void {
  const text = progressLine(event, files);
  if (text) process.stdout.write(`${(event.at / 1000).toFixed(2).padStart(7)} s  ${text}\n`);
}

function progressLine(event: CallEvent, files: readonly string[]): string | undefined {
  switch (event.type) {
    case "utterance-started":
      return `caller: ${files[event.utterance]}${event.overAgent ? " (over the agent)" : ""}`;
    case "utterance-ended":
      return "caller: done, waiting for the agent";
    case "agent-audio-started":
      return "agent: speaking";
    case "clear":
      return `agent: cleared ${(event.droppedBytes / 8).toFixed(0)} ms of queued audio`;
    case "protocol-error":
      return `protocol error: ${event.reason}`;
    case "hung-up":
      return "caller: hung up";
    case "server-closed":
      return `server closed the stream (${event.code}${event.reason ? ` ${event.reason}` : ""})`;
    default:
      return undefined;
  }
}

async function writeRecording(result: CallResult, path: string): Promise<void> {
  await writeFile(path, result.recording.toStereoWav());
  process.stdout.write(
    `wrote ${path}: ${(result.durationMs / 1000).toFixed(2)} s, stereo 8 kHz (caller left, agent right)\n`,
  );
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else if (error instanceof CallerError) {
      process.stderr.write(`call failed: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(
        `call failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 1;
    }
  },
);
