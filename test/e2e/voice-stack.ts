/**
 * The whole agent on real sockets, in process: the real server (`buildServer` + `createCallFactory`) with the
 * real engine adapters (Deepgram live, OpenAI-compatible chat and speech, Twilio REST) pointed at the fakes of
 * test/fakes, and the simulated caller phoning it exactly as Twilio would. Used by the end-to-end tests and
 * by `npm run tapes:record`, which records the fixture tapes with it.
 */
import { join } from "node:path";
import type { CallActor } from "../../machines/call-actor.js";
import { type CallConfig, callConfig } from "../../machines/call-config.js";
import { createPhraseCache } from "../../machines/phrase-cache.js";
import { writeWav } from "../../src/audio/wav.js";
import { createCallFactory } from "../../src/call-factory.js";
import { DeepgramSttEngine } from "../../src/engines/deepgram-stt.js";
import { OpenAiLlmClient } from "../../src/engines/openai-llm.js";
import { createOpenAiSpeechTts } from "../../src/engines/openai-speech-tts.js";
import { createPiperHttpTts } from "../../src/engines/piper-http-tts.js";
import { createWhisperStt } from "../../src/engines/whisper-stt.js";
import { createLogger, type Log } from "../../src/logger.js";
import type { CallInstrument } from "../../src/observability/call-instrument.js";
import { buildServer, type Server } from "../../src/server.js";
import { createTapeRecorderInstrument } from "../../src/tapes/tape-instrument.js";
import { createTwilioRest } from "../../src/twilio/rest.js";
import {
  type CallResult,
  loadCallerAudio,
  realTimeClock,
  type SimulateCallOptions,
  simulateCall,
} from "../../tools/caller/index.js";
import { FakeDeepgram } from "../fakes/fake-deepgram.js";
import { type FakeLlmReply, type FakeLlmTiming, FakeOpenAiLlm } from "../fakes/fake-openai-llm.js";
import { type FakeOpenAiSpeech, startFakeOpenAiSpeech } from "../fakes/fake-openai-speech.js";
import { type FakePiperServer, startFakePiperServer } from "../fakes/fake-piper-server.js";
import { type FakeTwilioApi, startFakeTwilioApi } from "../fakes/fake-twilio-api.js";
import {
  type FakeWhisperServer,
  startFakeWhisperServer,
  utterancesAsLines,
} from "../fakes/fake-whisper-server.js";
import { LogCapture, testConfig } from "../support/test-server.js";

const FIXTURE_AUDIO = join(import.meta.dirname, "..", "..", "fixtures", "audio");

/** Where Twilio believes the server is (signatures cover this URL); the caller connects to the real port. */
const PUBLIC_URL = "https://voice.example.com";
export const E2E_AUTH_TOKEN = "e2e-twilio-auth-token";
const E2E_ACCOUNT_SID = `AC${"e2e".padEnd(32, "0")}`;

export interface VoiceStackOptions {
  /** What the fake Deepgram hears for each caller utterance, in order. */
  transcripts?: readonly string[];
  /** The LLM's answers to successive requests, each with its own pace. */
  replies?: readonly (FakeLlmReply | { reply: FakeLlmReply; timing: FakeLlmTiming })[];
  /** CallConfig settings for the calls (turn-taking, timers). */
  call?: Parameters<typeof callConfig>[0];
  /** Length of the agent's (synthetic) voice per character spoken. Default 25 ms. */
  agentMsPerChar?: number;
  /** Texts the fake speech server never answers: their synthesis hangs until the client gives up. */
  holdSpeech?: (text: string) => boolean;
  /** When set, every call is recorded there as a tape. */
  tapesDir?: string;
  /**
   * "hosted" (default): Deepgram live and OpenAI-compatible speech. "self-hosted": Whisper (the real adapter
   * with its Silero VAD) on a fake transcription server, the LLM as Ollama, Piper's HTTP server.
   */
  profile?: "hosted" | "self-hosted";
}

export interface VoiceStack {
  /** Where the server listens: `http://127.0.0.1:<port>`. */
  url: string;
  config: CallConfig;
  /** Hosted profile. */
  deepgram?: FakeDeepgram;
  llm: FakeOpenAiLlm;
  /** Hosted profile. */
  speech?: FakeOpenAiSpeech;
  /** Self-hosted profile. */
  whisper?: FakeWhisperServer;
  /** Self-hosted profile. */
  piper?: FakePiperServer;
  twilioApi: FakeTwilioApi;
  server: Server;
  logs: LogCapture;
  /** Every call actor the server started, in order. */
  actors: CallActor[];
  /** Places a call that says these fixture WAVs (file names in fixtures/audio). */
  call(audio: readonly string[], options?: Partial<SimulateCallOptions>): Promise<CallResult>;
  /** Resolves once `count` calls have ended on the server (their stream closed and every instrument told). */
  callsEnded(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startVoiceStack(options: VoiceStackOptions = {}): Promise<VoiceStack> {
  const selfHosted = options.profile === "self-hosted";
  const transcripts = options.transcripts ?? [];
  const llm = await FakeOpenAiLlm.start();
  for (const reply of options.replies ?? []) {
    if ("reply" in reply) llm.enqueue(reply.reply, reply.timing);
    else llm.enqueue(reply);
  }
  const msPerChar = options.agentMsPerChar ?? 25;
  const holdSpeech = options.holdSpeech ?? (() => false);
  const never = () => new Promise<Uint8Array>(() => {});
  const deepgram = selfHosted ? undefined : await FakeDeepgram.start({ transcripts });
  const speech = selfHosted
    ? undefined
    : await startFakeOpenAiSpeech({
        audio: new Uint8Array(0),
        // 100 ms of 24 kHz PCM per piece: the pace of a streaming speech server.
        chunkSizes: [4800],
        audioFor: (request) => {
          const text = String((request.body as { input?: unknown }).input ?? "");
          return holdSpeech(text) ? never() : Promise.resolve(agentVoicePcm(text, msPerChar, 24_000));
        },
      });
  const whisper = selfHosted ? await startFakeWhisperServer() : undefined;
  if (whisper) whisper.answer = utterancesAsLines(transcripts);
  const piper = selfHosted
    ? await startFakePiperServer({
        // Piper sends the whole WAV once synthesised, at its voice's 22.05 kHz.
        wav: async (text) => {
          if (holdSpeech(text)) return never();
          const pcm = agentVoicePcm(text, msPerChar, PIPER_RATE);
          const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
          return writeWav({ sampleRate: PIPER_RATE, channels: 1, format: "pcm16", samples });
        },
      })
    : undefined;
  const twilioApi = await startFakeTwilioApi({ accountSid: E2E_ACCOUNT_SID, authToken: E2E_AUTH_TOKEN });

  const serverConfig = testConfig({
    PUBLIC_URL,
    TWILIO_AUTH_TOKEN: E2E_AUTH_TOKEN,
    TWILIO_ACCOUNT_SID: E2E_ACCOUNT_SID,
    TWILIO_API_BASE_URL: twilioApi.url,
  });
  const logs = new LogCapture();
  const logger = createLogger({ level: "debug", secrets: serverConfig.secrets, destination: logs });
  const log = logger as unknown as Log;

  const config = callConfig(options.call);
  const tts = piper
    ? createPiperHttpTts({ baseUrl: piper.url, logger: log })
    : createOpenAiSpeechTts({
        baseUrl: (speech as FakeOpenAiSpeech).baseUrl,
        model: "kokoro",
        voice: "af_heart",
        logger: log,
      });
  const phrases = createPhraseCache(tts);
  const failed = await phrases.prepare(Object.values(config.phrases));
  if (failed.length > 0) throw new Error(`could not prepare the phrases: ${failed[0]?.error.message}`);

  const actors: CallActor[] = [];
  let ended = 0;
  const onEnded = new Set<() => void>();
  const watcher: CallInstrument = {
    attach: () => ({
      started: (actor) => actors.push(actor),
      ended: () => {
        ended += 1;
        for (const check of onEnded) check();
      },
    }),
  };
  const instruments: CallInstrument[] = [];
  if (options.tapesDir) instruments.push(createTapeRecorderInstrument({ dir: options.tapesDir, phrases }));
  instruments.push(watcher);

  const server = await buildServer({
    config: serverConfig,
    logger,
    createCall: createCallFactory({
      engines: {
        stt: deepgram
          ? new DeepgramSttEngine({ apiKey: deepgram.apiKey, baseUrl: deepgram.url, logger: log })
          : createWhisperStt({ baseUrl: (whisper as FakeWhisperServer).baseUrl, logger: log }),
        llm: new OpenAiLlmClient({
          baseUrl: llm.baseUrl,
          model: llm.model,
          provider: selfHosted ? "ollama" : "vllm",
          logger: log,
        }),
        tts,
      },
      phrases,
      config,
      rest: createTwilioRest({
        accountSid: E2E_ACCOUNT_SID,
        authToken: E2E_AUTH_TOKEN,
        apiBaseUrl: twilioApi.url,
        log,
      }),
      instruments,
    }),
  });
  await server.app.listen({ port: 0, host: "127.0.0.1" });
  const address = server.app.server.address();
  if (address === null || typeof address === "string") throw new Error("the server has no TCP address");
  const url = `http://127.0.0.1:${address.port}`;

  return {
    url,
    config,
    deepgram,
    llm,
    speech,
    whisper,
    piper,
    twilioApi,
    server,
    logs,
    actors,
    async call(audio, callOptions = {}) {
      const utterances = await Promise.all(audio.map((file) => loadCallerAudio(join(FIXTURE_AUDIO, file))));
      return simulateCall({
        url,
        publicUrl: PUBLIC_URL,
        authToken: E2E_AUTH_TOKEN,
        accountSid: E2E_ACCOUNT_SID,
        utterances,
        fetchTranscript: false,
        statusCallback: false,
        clock: realTimeClock(),
        ...callOptions,
      });
    },
    callsEnded(count, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (ended < count) return;
          clearTimeout(timer);
          onEnded.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          onEnded.delete(check);
          reject(new Error(`only ${ended} of ${count} calls ended on the server within ${timeoutMs} ms`));
        }, timeoutMs);
        onEnded.add(check);
        check();
      });
    },
    async close() {
      await server.app.close();
      await Promise.all([
        deepgram?.close(),
        speech?.close(),
        whisper?.close(),
        piper?.close(),
        llm.close(),
        twilioApi.close(),
      ]);
    },
  };
}

/**
 * The agent's voice as the fake speech server's 24 kHz PCM: a 220 Hz tone with a 4 Hz syllable rhythm,
 * `msPerChar` long for each character of the text. Deterministic, so tapes hash it the same every time.
 */
const PIPER_RATE = 22_050;

/** The agent's synthetic voice: a 220 Hz tone with a syllable rhythm, `msPerChar` long per character. */
function agentVoicePcm(text: string, msPerChar: number, rate: number): Uint8Array {
  const samples = Math.max(1, Math.round((rate * text.length * msPerChar) / 1000));
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const syllable = 0.55 + 0.45 * Math.sin((2 * Math.PI * 4 * i) / rate);
    pcm.writeInt16LE(Math.round(6000 * syllable * Math.sin((2 * Math.PI * 220 * i) / rate)), i * 2);
  }
  return pcm;
}

/** The hosted profile's fakes of a stack, for tests that inspect them. */
export function hostedFakes(stack: VoiceStack): { deepgram: FakeDeepgram; speech: FakeOpenAiSpeech } {
  const { deepgram, speech } = stack;
  if (!deepgram || !speech) throw new Error("this voice stack runs the self-hosted profile");
  return { deepgram, speech };
}
