/**
 * `npx tsx scripts/make-caller-audio.ts`: remakes the synthetic caller lines in fixtures/audio with Debian's
 * espeak-ng (`apt-get install espeak-ng`): 8 kHz mono mu-law WAVs, silence trimmed to a short pad, each
 * checked to hold no pause long enough for an endpointer (300 ms) to split it in two. The WAVs are committed;
 * nothing at test time needs espeak-ng.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { mulawToPcm16 } from "../src/audio/mulaw.js";
import { readWav, writeWav } from "../src/audio/wav.js";
import { toTelephonyMulaw } from "../tools/caller/caller-audio.js";

/** The receptionist scenario's caller lines (fixtures/README.md lists where each is used). */
export const CALLER_LINES = [
  { file: "breaker-keeps-tripping.wav", text: "Hi, I have a breaker that keeps tripping." },
  { file: "tomorrow-morning.wav", text: "Can someone come out tomorrow morning?" },
  { file: "kitchen-breaker.wav", text: "Sorry, it's actually the kitchen breaker." },
  { file: "my-breaker-keeps-tripping.wav", text: "I said, my breaker keeps tripping." },
] as const;

const OUT_DIR = join(import.meta.dirname, "..", "fixtures", "audio");
const RATE = 8000;
/** Samples quieter than this (int16) count as silence when trimming. */
const QUIET = 300;
const PAD_MS = 60;
/** RMS of a 20 ms window below which it is a pause (the fake Deepgram's speech threshold is 400). */
const PAUSE_RMS = 400;
const MAX_PAUSE_MS = 240;

const run = promisify(execFile);

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "caller-audio-"));
  try {
    for (const line of CALLER_LINES) {
      const raw = join(dir, "raw.wav");
      await run("espeak-ng", ["-v", "en-us", "-s", "165", "-w", raw, "--", line.text]);
      const mulaw = trimmed(toMulaw8k(await readFile(raw)));
      const pause = longestPauseMs(mulaw);
      if (pause > MAX_PAUSE_MS) {
        throw new Error(`${line.file}: a ${pause} ms pause inside would split it into two utterances`);
      }
      await writeFile(
        join(OUT_DIR, line.file),
        writeWav({ sampleRate: RATE, channels: 1, format: "mulaw", samples: mulaw }),
      );
      process.stdout.write(
        `${line.file}: ${(mulaw.length / RATE).toFixed(2)} s, longest pause ${pause} ms\n`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function toMulaw8k(file: Uint8Array): Uint8Array {
  const wav = readWav(file);
  if (wav.format !== "pcm16" || wav.channels !== 1) {
    throw new Error(`espeak-ng wrote ${wav.format} x${wav.channels}`);
  }
  return toTelephonyMulaw(wav);
}

/** Cuts the leading and trailing silence down to `PAD_MS`. */
function trimmed(mulaw: Uint8Array): Uint8Array {
  const pcm = mulawToPcm16(mulaw);
  let first = pcm.findIndex((sample) => Math.abs(sample) > QUIET);
  let last = pcm.findLastIndex((sample) => Math.abs(sample) > QUIET);
  if (first < 0) throw new Error("espeak-ng produced silence");
  const pad = (PAD_MS / 1000) * RATE;
  first = Math.max(0, first - pad);
  last = Math.min(pcm.length - 1, last + pad);
  return mulaw.slice(first, last + 1);
}

function longestPauseMs(mulaw: Uint8Array): number {
  const pcm = mulawToPcm16(mulaw);
  const window = RATE / 50;
  let longest = 0;
  let run = 0;
  let spoken = false;
  for (let start = 0; start + window <= pcm.length; start += window) {
    let sum = 0;
    for (let i = start; i < start + window; i++) sum += (pcm[i] as number) ** 2;
    const quiet = Math.sqrt(sum / window) < PAUSE_RMS;
    if (!quiet) {
      if (spoken) longest = Math.max(longest, run);
      spoken = true;
      run = 0;
    } else if (spoken) run += 20;
  }
  return longest;
}

main().catch((error: unknown) => {
  process.stderr.write(`make-caller-audio: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
