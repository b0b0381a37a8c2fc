/**
 * `npm run dev:fakes`: every engine the server talks to, faked in one process on fixed loopback ports, so a
 * newcomer can run the whole agent and phone it with `npm run call` without any account or GPU.
 *
 * - Deepgram live: the real Silero VAD decides what is speech, and each utterance is heard as the next line
 *   of a receptionist scenario (white noise, a cough or a click is heard as nothing);
 * - LLM (OpenAI-compatible): canned receptionist answers picked from the caller's last words, and the
 *   `end_call` tool when the caller says goodbye;
 * - speech (OpenAI-compatible `/v1/audio/speech`, 24 kHz PCM): espeak-ng's voice when installed, tones with
 *   the rhythm of the words otherwise;
 * - Twilio REST: records hang-ups and transfers (optional: without it the server ends calls by closing the
 *   stream, which also ends a simulated call).
 *
 * `--profile self-hosted` swaps in the self-hosted engines: an OpenAI-compatible `/v1/audio/transcriptions`
 * (the server's Whisper adapter, with its own Silero VAD, uploads each utterance; it is heard as the next
 * line), the same LLM addressed as Ollama, and Piper's HTTP server (`POST /` -> a 22.05 kHz WAV).
 *
 * The caller's side is real recorded speech (fixtures/real/audio), one recording per scenario line: synthetic
 * tones are not speech to the VAD. It prints the exact commands to run.
 */
import { createServer } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { writeWav } from "../src/audio/wav.js";
import { loadSileroVad } from "../src/engines/vad/silero-vad.js";
import { FakeDeepgram } from "../test/fakes/fake-deepgram.js";
import { type FakeLlmReply, FakeOpenAiLlm } from "../test/fakes/fake-openai-llm.js";
import { type FakeOpenAiSpeech, startFakeOpenAiSpeech } from "../test/fakes/fake-openai-speech.js";
import { type FakePiperServer, startFakePiperServer } from "../test/fakes/fake-piper-server.js";
import { type FakeTwilioApi, startFakeTwilioApi } from "../test/fakes/fake-twilio-api.js";
import {
  type FakeWhisperServer,
  startFakeWhisperServer,
  utterancesAsLines,
} from "../test/fakes/fake-whisper-server.js";
import { hasEspeakNg, type SyntheticVoice, synthesizeSpeech } from "../tools/caller/synthetic-speech.js";

/** What the caller says, in order: the fake Deepgram hears the n-th utterance of every call as line n. */
export const CALLER_LINES = [
  "Hi I have a breaker that keeps tripping in my kitchen",
  "Can someone come out tomorrow morning",
  "My name is Sam Taylor and I live at 12 Elm Street",
  "No that is all thank you goodbye",
] as const;

/**
 * What the caller really says, one recording per scenario line (the words differ; the fake hears the line).
 * Each is one utterance to the VAD: no pause inside reaches its 550 ms of silence.
 */
const CALLER_RECORDINGS = [
  "ljspeech-LJ001-0002-8k-mulaw.wav",
  "ljspeech-LJ001-0004-8k-mulaw.wav",
  "deepgram-testing-websocket-8k-mulaw.wav",
  "speechcommands-yes_1000ms-8k-mulaw.wav",
] as const;
const RECORDINGS_DIR = new URL("../fixtures/real/audio/", import.meta.url);

/** Heard for utterances beyond the scenario. */
const UNSCRIPTED_LINE = "Could you say that again please";

/** Canned answers, the first whose pattern matches the caller's last words. */
const ANSWERS: readonly { when: RegExp; say: string }[] = [
  {
    when: /breaker|tripp|outlet|power|spark/i,
    say:
      "I'm sorry to hear that. A breaker that keeps tripping usually means an overloaded circuit or a fault. " +
      "Would you like an electrician to come and take a look?",
  },
  {
    when: /tomorrow|morning|afternoon|come out|appointment|today/i,
    say: "Tomorrow morning works. Could I have your name and address, please?",
  },
  {
    when: /name|street|address|live at/i,
    say: "Thank you, I have that down. An electrician will call you to confirm the visit. Anything else?",
  },
];
const GOODBYE = /\b(bye|goodbye|that is all|that's all|nothing else)\b/i;
const FALLBACK_ANSWER = "Sorry, could you tell me a little more about the problem?";

export const DEV_FAKES_CREDENTIALS = {
  deepgramApiKey: "dev-fakes-deepgram-key",
  twilioAuthToken: "dev-fakes-auth-token",
  twilioAccountSid: `AC${"0".repeat(31)}1`,
} as const;

export interface DevFakesOptions {
  /**
   * Deepgram on this port, the LLM on the next, speech on the one after, Twilio REST on the fourth; 0 lets
   * each take any free port (tests).
   */
  basePort: number;
  /** Time from an LLM request to its first token, and between tokens. */
  llmFirstTokenMs: number;
  llmTokenMs: number;
  /** Time from a speech request to its first audio byte. */
  speechFirstByteMs: number;
  /** Force a voice (default: espeak-ng when installed, else tones). */
  voice?: SyntheticVoice;
  /**
   * "hosted" (default): fake Deepgram and OpenAI-compatible speech. "self-hosted": the profile of
   * .env.self-hosted.example instead: a fake transcription server for Whisper (behind the server's own Silero
   * VAD), the LLM as Ollama, a fake Piper HTTP server.
   */
  profile?: DevFakesProfile;
  log?: (line: string) => void;
}

export type DevFakesProfile = "hosted" | "self-hosted";

export interface DevFakes {
  profile: DevFakesProfile;
  /** Hosted profile only. */
  deepgram?: FakeDeepgram;
  llm: FakeOpenAiLlm;
  /** Hosted profile only. */
  speech?: FakeOpenAiSpeech;
  /** Self-hosted profile only. */
  whisper?: FakeWhisperServer;
  /** Self-hosted profile only. */
  piper?: FakePiperServer;
  /** Every text the agent asked to be spoken, in order (either profile). */
  spoken: string[];
  twilio: FakeTwilioApi;
  voice: SyntheticVoice;
  /** The server's environment to run against the fakes (Twilio REST left out: see `twilioRestEnv`). */
  serverEnv: Record<string, string>;
  /** Add these to send hang-ups and transfers to the fake Twilio REST API. */
  twilioRestEnv: Record<string, string>;
  /** The caller's recordings (8 kHz mu-law WAV), one per scenario line, in order. */
  callerFiles: string[];
  close(): Promise<void>;
}

export async function startDevFakes(options: DevFakesOptions): Promise<DevFakes> {
  const log = options.log ?? (() => {});
  const profile = options.profile ?? "hosted";
  const voice = options.voice ?? ((await hasEspeakNg()) ? "espeak-ng" : "tones");
  const ports = [0, 1, 2, 3].map((offset) => (options.basePort === 0 ? 0 : options.basePort + offset));
  if (options.basePort !== 0) for (const port of ports) await ensurePortFree(port);
  const [sttPort, llmPort, speechPort, twilioPort] = ports as [number, number, number, number];

  const llm = await FakeOpenAiLlm.start({
    port: llmPort,
    timeToFirstTokenMs: options.llmFirstTokenMs,
    tokenIntervalMs: options.llmTokenMs,
    defaultReply: (body) => {
      const reply = receptionistReply(body);
      log(`llm: ${reply.type === "text" ? `"${reply.tokens.join("")}"` : "calls end_call"}`);
      return reply;
    },
  });
  const spoken: string[] = [];
  const voiceCache = new Map<string, Promise<Int16Array>>();
  /** The agent's words in the fake voice, at `sampleRate`. */
  const speak = (text: string, sampleRate: number) => {
    log(`speech: "${text}"`);
    spoken.push(text);
    const key = `${sampleRate} ${text}`;
    let audio = voiceCache.get(key);
    if (!audio) {
      audio = synthesizeSpeech(text, { sampleRate, voice }).then((speech) => speech.samples);
      voiceCache.set(key, audio);
    }
    return audio;
  };
  const twilio = await startFakeTwilioApi({
    accountSid: DEV_FAKES_CREDENTIALS.twilioAccountSid,
    authToken: DEV_FAKES_CREDENTIALS.twilioAuthToken,
    port: twilioPort,
  });
  const callerFiles = CALLER_RECORDINGS.map((name) => fileURLToPath(new URL(name, RECORDINGS_DIR)));
  const common = {
    profile,
    llm,
    twilio,
    voice,
    spoken,
    twilioRestEnv: {
      TWILIO_ACCOUNT_SID: DEV_FAKES_CREDENTIALS.twilioAccountSid,
      TWILIO_API_BASE_URL: twilio.url,
    },
    callerFiles,
  };

  if (profile === "self-hosted") {
    const whisper = await startFakeWhisperServer({ port: sttPort });
    whisper.answer = utterancesAsLines(CALLER_LINES, (utterance, line) =>
      log(`whisper: utterance ${utterance + 1} heard as "${line}"`),
    );
    const piper = await startFakePiperServer(
      {
        wav: async (text) => {
          const samples = await speak(text, PIPER_RATE);
          return writeWav({ sampleRate: PIPER_RATE, channels: 1, format: "pcm16", samples });
        },
      },
      { port: speechPort },
    );
    return {
      ...common,
      whisper,
      piper,
      serverEnv: {
        STT_PROVIDER: "whisper",
        WHISPER_BASE_URL: whisper.baseUrl,
        LLM_BASE_URL: llm.baseUrl,
        LLM_PROVIDER: "ollama",
        LLM_MODEL: llm.model,
        TTS_PROVIDER: "piper",
        PIPER_BASE_URL: piper.url,
        TWILIO_AUTH_TOKEN: DEV_FAKES_CREDENTIALS.twilioAuthToken,
      },
      async close() {
        await Promise.all([whisper.close(), llm.close(), piper.close(), twilio.close()]);
      },
    };
  }

  const deepgram = await FakeDeepgram.start({
    port: sttPort,
    apiKey: DEV_FAKES_CREDENTIALS.deepgramApiKey,
    vad: await loadSileroVad(),
    transcriptFor: (utterance, connection) => {
      const line = CALLER_LINES[utterance] ?? UNSCRIPTED_LINE;
      log(`deepgram: call ${connection + 1} utterance ${utterance + 1} heard as "${line}"`);
      return line;
    },
  });
  const speech = await startFakeOpenAiSpeech(
    {
      audio: new Uint8Array(0),
      firstByteDelayMs: options.speechFirstByteMs,
      audioFor: async (request) => {
        const input = String((request.body as { input?: unknown } | undefined)?.input ?? "");
        return littleEndianBytes(await speak(input, 24_000));
      },
    },
    { port: speechPort },
  );
  return {
    ...common,
    deepgram,
    speech,
    serverEnv: {
      DEEPGRAM_API_KEY: DEV_FAKES_CREDENTIALS.deepgramApiKey,
      DEEPGRAM_BASE_URL: deepgram.url,
      LLM_BASE_URL: llm.baseUrl,
      TTS_PROVIDER: "openai",
      TTS_BASE_URL: speech.baseUrl,
      TWILIO_AUTH_TOKEN: DEV_FAKES_CREDENTIALS.twilioAuthToken,
    },
    async close() {
      await Promise.all([deepgram.close(), llm.close(), speech.close(), twilio.close()]);
    },
  };
}

/** Piper's en_US-lessac-medium speaks at 22.05 kHz; the fake does too, so the server resamples as for real. */
const PIPER_RATE = 22_050;

/** The canned answer to a chat request: `end_call` on goodbye (when offered), else the first matching line. */
export function receptionistReply(body: unknown): FakeLlmReply {
  const request = (body ?? {}) as { messages?: { role?: string; content?: unknown }[]; tools?: unknown[] };
  const lastUser = [...(request.messages ?? [])].reverse().find((message) => message.role === "user");
  const heard = typeof lastUser?.content === "string" ? lastUser.content : "";
  const offersEndCall = (request.tools ?? []).some(
    (tool) => (tool as { function?: { name?: string } }).function?.name === "end_call",
  );
  if (GOODBYE.test(heard) && offersEndCall) {
    return { type: "toolCalls", calls: [{ name: "end_call", arguments: "{}" }] };
  }
  const say = GOODBYE.test(heard)
    ? "Thanks for calling, goodbye!"
    : (ANSWERS.find((answer) => answer.when.test(heard))?.say ?? FALLBACK_ANSWER);
  // Word by word, as a model streams tokens.
  return { type: "text", tokens: say.split(/(?<= )/) };
}

/** 16-bit little-endian bytes, what `response_format: "pcm"` carries whatever this machine's byte order. */
function littleEndianBytes(samples: Int16Array): Uint8Array {
  const bytes = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) bytes.writeInt16LE(samples[i] as number, 2 * i);
  return bytes;
}

/** Fails with a message that says what to do, instead of a listen error deep in a fake. */
async function ensurePortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === "EADDRINUSE"
            ? `port ${port} on 127.0.0.1 is in use (dev:fakes already running?); pick others with --base-port`
            : `cannot listen on 127.0.0.1:${port}: ${error.message}`,
        ),
      ),
    );
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

const USAGE = `Usage: npm run dev:fakes [-- --profile hosted|self-hosted] [--base-port 8091] [--voice espeak-ng|tones]
          [--llm-first-token-ms 250] [--llm-token-ms 25] [--speech-first-byte-ms 120]

Starts fake engines and a fake Twilio REST API on 127.0.0.1 (ports base..base+3) playing a receptionist
scenario, and prints the commands that run the server against the fakes and call it with recorded speech.
  --profile hosted       (default) fake Deepgram, an OpenAI-compatible LLM and speech server
  --profile self-hosted  what .env.self-hosted.example runs: a fake Whisper transcription server (the server's
                         own Silero VAD cuts the caller's speech), the LLM as Ollama, a fake Piper HTTP server
Ctrl-C stops them.`;

async function main(): Promise<void> {
  let values: ReturnType<typeof parseCommandLine>;
  try {
    values = parseCommandLine();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const number = (name: keyof typeof values, fallback: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (!Number.isInteger(parsed) || parsed < 0)
      throw new Error(`--${name} takes a whole number, got "${raw}"`);
    return parsed;
  };
  const voice = values.voice;
  if (voice !== undefined && voice !== "espeak-ng" && voice !== "tones") {
    throw new Error(`--voice is espeak-ng or tones, not "${voice}"`);
  }
  if (voice === "espeak-ng" && !(await hasEspeakNg())) {
    throw new Error(
      "--voice espeak-ng: espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)",
    );
  }
  const profile = values.profile ?? "hosted";
  if (profile !== "hosted" && profile !== "self-hosted") {
    throw new Error(`--profile is hosted or self-hosted, not "${profile}"`);
  }
  const stamp = () => new Date().toISOString().slice(11, 23);
  const fakes = await startDevFakes({
    profile,
    basePort: number("base-port", 8091),
    llmFirstTokenMs: number("llm-first-token-ms", 250),
    llmTokenMs: number("llm-token-ms", 25),
    speechFirstByteMs: number("speech-first-byte-ms", 120),
    voice,
    log: (line) => process.stdout.write(`${stamp()}  ${line}\n`),
  });
  const serverUrl = "http://localhost:8080";
  const serverEnv = { PUBLIC_URL: serverUrl, ...fakes.serverEnv };
  const assignments = (env: Record<string, string>) =>
    Object.entries(env)
      .map(([name, value]) => `${name}=${value}`)
      .join(" ");
  process.stdout.write(
    [
      `Fake engines of the ${fakes.profile} profile are up on 127.0.0.1 (Ctrl-C stops them):`,
      ...(fakes.deepgram
        ? [
            `  Deepgram live  ${fakes.deepgram.url}   Silero VAD finds speech; utterance n of every call is heard as scenario line n`,
          ]
        : []),
      ...(fakes.whisper
        ? [
            `  Whisper        ${fakes.whisper.baseUrl}  /audio/transcriptions; the server's Silero VAD cuts utterances, utterance n is heard as scenario line n`,
          ]
        : []),
      `  LLM            ${fakes.llm.baseUrl}  canned receptionist answers, end_call on goodbye${fakes.whisper ? " (as Ollama: /api/generate preloads)" : ""}`,
      `  ${fakes.piper ? `Piper HTTP     ${fakes.piper.url}     ` : `speech         ${fakes.speech?.baseUrl}  `}${
        fakes.voice === "espeak-ng"
          ? "espeak-ng's voice"
          : "tones shaped like the words (apt-get install espeak-ng for a voice)"
      }`,
      `  Twilio REST    ${fakes.twilio.url}     optional, records hang-ups and transfers`,
      "",
      "1. Start the server against them (another terminal):",
      `   ${assignments(serverEnv)} npm start`,
      "",
      "2. Call it (a third terminal): the caller plays a recording for each scenario line, each after the answer,",
      "   and writes call.wav (caller left, agent right):",
      `   npm run call -- --url ${serverUrl} --public-url ${serverUrl} --auth-token ${DEV_FAKES_CREDENTIALS.twilioAuthToken} --audio ${fakes.callerFiles.join(",")} --out call.wav`,
      "",
      "   Talk over the agent: add --barge-in-after 800. Load: add --concurrency 5.",
      `   Scenario: ${CALLER_LINES.map((line, i) => `(${i + 1}) "${line}"`).join(" ")}`,
      "",
      "   To send hang-ups to the fake Twilio REST API instead of closing the stream, add to step 1:",
      `   ${assignments(fakes.twilioRestEnv)}`,
      "   (the fake records the REST call but cannot end the simulated call, which then ends on its own)",
      "",
    ].join("\n"),
  );
  const stop = () => {
    process.stdout.write("stopping the fakes\n");
    fakes.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function parseCommandLine() {
  return parseArgs({
    options: {
      "base-port": { type: "string" },
      profile: { type: "string" },
      voice: { type: "string" },
      "llm-first-token-ms": { type: "string" },
      "llm-token-ms": { type: "string" },
      "speech-first-byte-ms": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: false,
  }).values;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().catch((error: unknown) => {
    process.stderr.write(`dev:fakes failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
