/**
 * Turn overhead of the Whisper recogniser, as a caller experiences it: real speech (fixtures/real/audio, 8 kHz
 * mu-law) pushed into the real adapter (Silero VAD segmenter, 16 kHz WAV, openai SDK) in real time, 20 ms a
 * frame, against a local fake `/v1/audio/transcriptions`. Measured: from the moment the frame holding the end
 * of the caller's speech was pushed to the moment the server has the whole utterance's upload. The VAD must
 * hear `minSilenceMs` of silence first, so the target is that window plus 20 ms (one frame).
 *
 * Left out: the network beyond loopback, Whisper's own decoding time (the fake answers at once), the Twilio
 * socket before the adapter.
 */
import { readFile } from "node:fs/promises";
import { MULAW_SILENCE } from "../src/audio/mulaw.js";
import { readWav } from "../src/audio/wav.js";
import { SPEECH_SEGMENTER_DEFAULTS } from "../src/engines/vad/speech-segmenter.js";
import { createWhisperStt } from "../src/engines/whisper-stt.js";
import { startFakeWhisperServer } from "../test/fakes/fake-whisper-server.js";
import { type BenchRow, distribution } from "./measure.js";

const SECTION = "whisper";
const FRAME = 160;
const FRAME_MS = 20;
const FILES = [
  "ljspeech-LJ001-0002-8k-mulaw.wav",
  "speechcommands-yes_1000ms-8k-mulaw.wav",
  "jfk-8k-mulaw.wav",
];
const TRAILING_SILENCE_MS = 1500;

const sleepUntil = (at: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));

export async function runWhisperTurnBench(): Promise<{ rows: BenchRow[]; details: unknown }> {
  const server = await startFakeWhisperServer();
  const uploadedAt: number[] = [];
  server.answer = () => {
    uploadedAt.push(performance.now());
    return { text: "hello" };
  };
  const stt = createWhisperStt({ baseUrl: server.baseUrl });
  const overheads: number[] = [];
  try {
    for (const name of FILES) {
      const wav = readWav(await readFile(new URL(`../fixtures/real/audio/${name}`, import.meta.url)));
      if (wav.format !== "mulaw") throw new Error(`${name}: expected mu-law`);
      const audio = new Uint8Array(wav.samples.length + (TRAILING_SILENCE_MS / 1000) * 8000).fill(
        MULAW_SILENCE,
      );
      audio.set(wav.samples);
      let ended: ((at: number) => void) | undefined;
      const speechEnded = new Promise<number>((resolve) => {
        ended = resolve;
      });
      const finals: number[] = [];
      const session = stt.open({
        callId: `bench-${name}`,
        onEvent: (event) => {
          if (event.type === "final") finals.push(uploadedAt.at(-1) ?? Number.NaN);
          if (event.type === "speechEnded") ended?.(event.at);
        },
      });
      await session.drained(); // the VAD and the client are loaded before the clock starts
      const pushedAt: number[] = [];
      const start = performance.now();
      for (let frame = 0; frame * FRAME < audio.length; frame++) {
        await sleepUntil(start + frame * FRAME_MS);
        pushedAt.push(performance.now());
        session.sendAudio(audio.subarray(frame * FRAME, (frame + 1) * FRAME));
      }
      const endOfSpeech = await speechEnded;
      const frameOfEnd = Math.min(pushedAt.length - 1, Math.floor((endOfSpeech * 1000) / FRAME_MS));
      overheads.push((finals[0] ?? Number.NaN) - (pushedAt[frameOfEnd] as number));
      await session.close();
    }
  } finally {
    await server.close();
  }
  const stats = distribution(overheads);
  const target = SPEECH_SEGMENTER_DEFAULTS.minSilenceMs + FRAME_MS;
  return {
    rows: [
      {
        section: SECTION,
        name: "end of caller speech -> Whisper upload at the server (max of 3 utterances)",
        value: Math.round(Math.max(...overheads)),
        unit: "ms",
        target: { atMost: target },
        note: `median ${Math.round(stats.p50)} ms; the VAD's silence window is ${SPEECH_SEGMENTER_DEFAULTS.minSilenceMs} ms`,
      },
    ],
    details: { overheadsMs: overheads, files: FILES },
  };
}
