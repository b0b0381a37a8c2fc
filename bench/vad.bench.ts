/**
 * Silero VAD's cost per call, as the Whisper recogniser runs it: the real v6.2 model (models/silero-vad) on
 * real speech (fixtures/real/audio, 8 kHz mu-law as Twilio sends it, with pauses between utterances), fed in
 * 20 ms frames through the speech segmenter, one stream state per call.
 *
 * Figures are process CPU time (every onnxruntime thread included) divided by the frames judged: what one
 * call's VAD costs per 20 ms of its audio. Target: 100 calls' VAD on one core, i.e. at most 200 us of CPU per
 * frame per call. `calls at once` runs that many segmenters interleaved, frame by frame, as a busy server
 * would, so per-inference overhead under contention shows. Left out: decoding, socket reads, Whisper itself.
 */
import { readFile } from "node:fs/promises";
import { MULAW_SILENCE } from "../src/audio/mulaw.js";
import { readWav } from "../src/audio/wav.js";
import { loadSileroVad, type SileroVad } from "../src/engines/vad/silero-vad.js";
import { createSpeechSegmenter, type SpeechSegmenter } from "../src/engines/vad/speech-segmenter.js";
import { type BenchRow, cpuSecondsSince } from "./measure.js";

const SECTION = "vad";
const FRAME = 160;
const TARGET_US_PER_FRAME = 200;
const SPEECH_FILES = [
  "ljspeech-LJ001-0002-8k-mulaw.wav",
  "ljspeech-LJ001-0004-8k-mulaw.wav",
  "jfk-8k-mulaw.wav",
  "ljspeech-LJ001-0006-8k-mulaw.wav",
];
const PAUSE_S = 1.5;

/** The recordings one after another with line silence between: about 30 s of a caller's audio. */
async function callerAudio(): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (const name of SPEECH_FILES) {
    const wav = readWav(await readFile(new URL(`../fixtures/real/audio/${name}`, import.meta.url)));
    if (wav.format !== "mulaw") throw new Error(`${name}: expected mu-law`);
    parts.push(wav.samples, new Uint8Array(PAUSE_S * 8000).fill(MULAW_SILENCE));
  }
  const audio = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    audio.set(part, offset);
    offset += part.length;
  }
  return audio;
}

/** CPU us per 20 ms frame per call, with `calls` segmenters judging the same audio frame by frame. */
async function cpuPerFrame(vad: SileroVad, audio: Uint8Array, calls: number) {
  let segments = 0;
  const segmenters: SpeechSegmenter[] = Array.from({ length: calls }, () =>
    createSpeechSegmenter({
      vad,
      onEvent: (event) => {
        if (event.type === "speechEnded") segments += 1;
      },
    }),
  );
  const frames = Math.floor(audio.length / FRAME);
  const before = process.cpuUsage();
  for (let f = 0; f < frames; f++) {
    const frame = audio.subarray(f * FRAME, (f + 1) * FRAME);
    for (const segmenter of segmenters) segmenter.push(frame);
    // As fast as the model goes, never faster: the queue stays short, no window is skipped.
    if (f % 4 === 3) await Promise.all(segmenters.map((segmenter) => segmenter.drained()));
  }
  await Promise.all(segmenters.map((segmenter) => segmenter.flush()));
  const cpuUs = cpuSecondsSince(before) * 1e6;
  const skipped = segmenters.reduce((sum, segmenter) => sum + segmenter.stats.windowsSkipped, 0);
  for (const segmenter of segmenters) segmenter.close();
  return { usPerFrame: cpuUs / (frames * calls), segmentsPerCall: segments / calls, skipped, frames };
}

export async function runVadBench(): Promise<{ rows: BenchRow[]; details: unknown }> {
  const vad = await loadSileroVad();
  const audio = await callerAudio();
  await cpuPerFrame(vad, audio.subarray(0, 8000 * 2), 1); // warm-up: first inferences allocate
  const rows: BenchRow[] = [];
  const details: Record<string, unknown> = { audioSeconds: audio.length / 8000, files: SPEECH_FILES };
  for (const calls of [1, 20]) {
    const result = await cpuPerFrame(vad, audio, calls);
    details[`calls${calls}`] = result;
    rows.push({
      section: SECTION,
      name: `Silero VAD CPU per 20 ms frame per call, ${calls} call${calls === 1 ? "" : "s"} at once`,
      value: Math.round(result.usPerFrame),
      unit: "us",
      target: { atMost: TARGET_US_PER_FRAME },
      note: `${result.segmentsPerCall} segments per call, ${result.skipped} windows skipped`,
    });
  }
  return { rows, details };
}
