/**
 * Speech synthesis on this machine's CPU, and what it would cost to have it done elsewhere.
 *
 * - Kokoro-82M q8 in process (kokoro-js on onnxruntime-node), when its weights are in KOKORO_MODEL_DIR (the
 *   server's own setting; the repository ships only the tokenizer, in fixtures/models): seconds
 *   of speech per CPU second ("x RT per core", every onnxruntime thread counted) and per wall second (how many
 *   calls it keeps speaking at once: the engine runs one sentence at a time on every core).
 * - Without the weights, the same kokoro-js path around a stand-in graph (test/fakes/tiny-kokoro-model.ts):
 *   phonemizer, tokenizer, one ONNX run, 24 kHz -> mu-law. What Kokoro costs beyond its network.
 * - The OpenAI-compatible speech path (another box synthesizes): what this process spends receiving the streamed
 *   PCM and converting it, against the fake speech server of the tests running in another process.
 */
import { fileURLToPath } from "node:url";
import { locateLocalModel } from "../src/engines/kokoro/model-files.js";
import { KOKORO_DEFAULT_MODEL_ID, type KokoroTts, loadKokoro } from "../src/engines/kokoro-tts.js";
import { createOpenAiSpeechTts } from "../src/engines/openai-speech-tts.js";
import { createTinyKokoroModelDir } from "../test/fakes/tiny-kokoro-model.js";
import { startTsChild } from "./harness/ts-child.js";
import { type BenchRow, cpuSecondsSince } from "./measure.js";
import type { SectionResult } from "./section.js";

const SECTION = "kokoro";
const MODELS_DIR =
  process.env.KOKORO_MODEL_DIR || fileURLToPath(new URL("../fixtures/models/", import.meta.url));
/** What a receptionist says: one sentence per synthesis, as the sentence chunker hands them over. */
const SENTENCES = [
  "Thanks for calling! How can I help you today?",
  "I can book an electrician for Thursday morning, between nine and eleven.",
  "Please switch off the main breaker and stay away from the panel until we arrive.",
  "Could you tell me your name and the address of the house?",
  "Great, an electrician will call you back to confirm the appointment.",
  "Is there anything else I can help you with?",
];
const ROUNDS = 5;
const SPEECH_SECONDS_PER_ANSWER = 4;
const SPEECH_REQUESTS = 40;
const BYTES_PER_SECOND = 8000;

export async function runKokoroBench(): Promise<SectionResult> {
  const kokoro = await realKokoro();
  const standIn = await standInPipeline();
  const speech = await openAiSpeechClient();
  return {
    rows: [...kokoro.rows, standIn.row, ...speech.rows],
    details: { kokoro: kokoro.details, standIn: standIn.details, openAiSpeech: speech.details },
  };
}

/** CPU and wall seconds to speak every sentence once, and the seconds of audio that came out. */
async function speakAll(
  engine: KokoroTts,
): Promise<{ cpuSeconds: number; wallSeconds: number; audio: number }> {
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  let bytes = 0;
  for (const sentence of SENTENCES) {
    const signal = new AbortController().signal;
    for await (const piece of engine.synthesize(sentence, { callId: "bench", signal })) bytes += piece.length;
  }
  return {
    cpuSeconds: cpuSecondsSince(cpu),
    wallSeconds: (performance.now() - startedAt) / 1000,
    audio: bytes / BYTES_PER_SECOND,
  };
}

async function realKokoro(): Promise<{ rows: BenchRow[]; details: unknown }> {
  const perCore = "Kokoro-82M q8 in process: speech per CPU second";
  const speaking = "Kokoro-82M q8 in process: calls it keeps speaking at once";
  let modelDir: string;
  try {
    modelDir = await locateLocalModel(MODELS_DIR, KOKORO_DEFAULT_MODEL_ID, "q8");
  } catch (error) {
    const note = `n/a: Kokoro weights not present (no onnx/model_quantized.onnx in ${MODELS_DIR})`;
    return {
      rows: [
        { section: SECTION, name: perCore, value: null, unit: "x RT per core", note },
        { section: SECTION, name: speaking, value: null, unit: "calls", note },
      ],
      details: { available: false, reason: error instanceof Error ? error.message : String(error) },
    };
  }
  const engine = await loadKokoro({ modelDir, dtype: "q8" });
  await speakAll(engine); // the first runs pay for onnxruntime's lazy set-up
  const runs = [];
  for (let round = 0; round < 2; round++) runs.push(await speakAll(engine));
  const total = runs.reduce(
    (sum, run) => ({
      cpuSeconds: sum.cpuSeconds + run.cpuSeconds,
      wallSeconds: sum.wallSeconds + run.wallSeconds,
      audio: sum.audio + run.audio,
    }),
    { cpuSeconds: 0, wallSeconds: 0, audio: 0 },
  );
  return {
    rows: [
      { section: SECTION, name: perCore, value: total.audio / total.cpuSeconds, unit: "x RT per core" },
      {
        section: SECTION,
        name: speaking,
        value: total.audio / total.wallSeconds,
        unit: "calls",
        note: "seconds of speech per wall second, all cores synthesizing",
      },
    ],
    details: { available: true, modelDir, ...total },
  };
}

async function standInPipeline(): Promise<{ row: BenchRow; details: unknown }> {
  const name = "kokoro-js around a stand-in graph: CPU per sentence";
  let model: Awaited<ReturnType<typeof createTinyKokoroModelDir>>;
  try {
    model = await createTinyKokoroModelDir();
  } catch (error) {
    // The stand-in borrows Kokoro's tokenizer files from fixtures/models.
    const reason = error instanceof Error ? error.message : String(error);
    const note = "n/a: the stand-in model could not be built";
    return {
      row: { section: SECTION, name, value: null, unit: "ms", note },
      details: { available: false, reason },
    };
  }
  try {
    const engine = await loadKokoro({ modelDir: model.dir, dtype: "q8" });
    await speakAll(engine);
    let cpuSeconds = 0;
    for (let round = 0; round < ROUNDS; round++) cpuSeconds += (await speakAll(engine)).cpuSeconds;
    const perSentenceMs = (1000 * cpuSeconds) / (ROUNDS * SENTENCES.length);
    const chars = SENTENCES.reduce((sum, sentence) => sum + sentence.length, 0) / SENTENCES.length;
    return {
      row: {
        section: SECTION,
        name,
        value: perSentenceMs,
        unit: "ms",
        note: `phonemize, tokenize, ONNX run, resample; ${Math.round(chars)}-char sentences`,
      },
      details: { sentences: SENTENCES.length * ROUNDS, cpuSeconds },
    };
  } finally {
    await model.remove();
  }
}

async function openAiSpeechClient(): Promise<{ rows: BenchRow[]; details: unknown }> {
  const server = await startTsChild<{ type: "ready"; baseUrl: string }>(
    new URL("./harness/speech-server.ts", import.meta.url),
    [String(SPEECH_SECONDS_PER_ANSWER)],
  );
  try {
    const tts = createOpenAiSpeechTts({ baseUrl: server.ready.baseUrl, model: "kokoro", voice: "af_heart" });
    await tts.warmUp();
    const cpu = process.cpuUsage();
    const startedAt = performance.now();
    let bytes = 0;
    for (let i = 0; i < SPEECH_REQUESTS; i++) {
      const signal = new AbortController().signal;
      for await (const piece of tts.synthesize(SENTENCES[i % SENTENCES.length] as string, {
        callId: "bench",
        signal,
      }))
        bytes += piece.length;
    }
    const cpuSeconds = cpuSecondsSince(cpu);
    const audio = bytes / BYTES_PER_SECOND;
    return {
      rows: [
        {
          section: SECTION,
          name: "OpenAI-compatible speech, this side only: speech per CPU second",
          value: audio / cpuSeconds,
          unit: "x RT per core",
          note: "HTTP stream of 24 kHz PCM in, mu-law 8 kHz out: also the calls one core feeds",
        },
      ],
      details: {
        requests: SPEECH_REQUESTS,
        audioSeconds: audio,
        cpuSeconds,
        wallSeconds: (performance.now() - startedAt) / 1000,
      },
    };
  } finally {
    await server.stop();
  }
}
