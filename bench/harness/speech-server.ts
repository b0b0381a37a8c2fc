/**
 * The test suite's fake OpenAI-compatible speech server, in its own process so its CPU is not counted against
 * the client being measured. Every request is answered with the same speech-length PCM (24 kHz s16le), streamed
 * in 4 KiB writes (about 85 ms of audio each), as a speech server streams what it has synthesized.
 */
import { startFakeOpenAiSpeech } from "../../test/fakes/fake-openai-speech.js";

const SAMPLE_RATE = 24_000;
const WRITE_BYTES = 4096;

const seconds = Number(process.argv[2]);
if (!(seconds > 0))
  throw new Error("speech-server: pass the seconds of audio per answer as the first argument");

const samples = new Int16Array(Math.round(seconds * SAMPLE_RATE));
for (let i = 0; i < samples.length; i++) {
  samples[i] = Math.round(6000 * Math.sin((2 * Math.PI * 180 * i) / SAMPLE_RATE));
}
const server = await startFakeOpenAiSpeech({
  audio: new Uint8Array(samples.buffer),
  chunkSizes: [WRITE_BYTES],
});
process.on("disconnect", () => {
  void server.close().then(() => process.exit(0));
});
process.send?.({ type: "ready", baseUrl: server.baseUrl });
