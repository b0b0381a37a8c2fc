import { EngineError, type TtsEngine } from "../../machines/engines.js";
import { readWav, WavFormatError } from "../audio/wav.js";
import type { EngineLogger } from "./engine-logger.js";
import { endpointForLogs, parseServerUrl, speakOverHttp } from "./speech-http.js";
import { type PcmPiece, warmUpTts } from "./tts-audio.js";

export interface PiperHttpTtsOptions {
  /** The URL to POST to: Piper's server root, e.g. `http://tts-box:5000`, or `.../synthesize` for newer ones. */
  baseUrl: string;
  /** Sent as `length_scale` when set: above 1 speaks slower, below 1 faster. */
  lengthScale?: number;
  /** Sent as `speaker_id` when set (multi-speaker voices only). */
  speakerId?: number;
  /**
   * Longest wait from the request to the first byte (default 10000 ms). Piper answers only once the whole
   * text is synthesised, so this bounds a sentence's synthesis, not just the network.
   */
  firstByteTimeoutMs?: number;
  /** Longest silence between two pieces of the body once it flows (default 5000 ms). */
  stallTimeoutMs?: number;
  logger?: Pick<EngineLogger, "debug">;
}

export interface PiperHttpTts extends TtsEngine {
  /** Speaks a short phrase and discards it: at start-up, proves the URL and the voice work. */
  warmUp(): Promise<void>;
}

const SERVER_LABEL = "Piper server";

export function createPiperHttpTts(options: PiperHttpTtsOptions): PiperHttpTts {
  const endpoint = parseServerUrl(options.baseUrl, "PIPER_BASE_URL", "http://tts-box:5000").href;
  const where = endpointForLogs(endpoint);
  const { lengthScale, speakerId, logger } = options;
  if (lengthScale !== undefined && !(Number.isFinite(lengthScale) && lengthScale > 0)) {
    throw new EngineError(
      "tts",
      "connect",
      `Piper length scale must be a positive number, got ${lengthScale}`,
    );
  }
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 10_000;
  const stallTimeoutMs = options.stallTimeoutMs ?? 5000;

  // The server sends the WAV only once it is complete: it is read whole, then converted.
  async function* wavAudio(body: AsyncIterable<Uint8Array>): AsyncGenerator<PcmPiece> {
    const pieces: Uint8Array[] = [];
    for await (const piece of body) pieces.push(piece);
    yield decodePiperWav(Buffer.concat(pieces), where);
  }

  function synthesize(
    text: string,
    { callId, signal }: { callId: string; signal: AbortSignal },
  ): AsyncGenerator<Uint8Array> {
    return speakOverHttp({
      request: {
        endpoint,
        where,
        serverLabel: SERVER_LABEL,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          text,
          ...(lengthScale === undefined ? {} : { length_scale: lengthScale }),
          ...(speakerId === undefined ? {} : { speaker_id: speakerId }),
        }),
        firstByteTimeoutMs,
        stallTimeoutMs,
        hintForStatus: (status) =>
          status === 405 && new URL(endpoint).pathname === "/"
            ? `newer Piper servers synthesise at /synthesize: set PIPER_BASE_URL to ${new URL("/synthesize", endpoint).href}`
            : undefined,
      },
      decode: wavAudio,
      text,
      callId,
      signal,
      logger,
      done: "piper segment synthesised",
    });
  }

  const engine: TtsEngine = { name: "piper-http", synthesize };
  // Only that the whole request succeeds matters here: it proves the URL, and the voice, work.
  return { ...engine, warmUp: () => warmUpTts(engine, "Hello.", () => undefined) };
}

function decodePiperWav(bytes: Uint8Array, where: string): PcmPiece {
  let wav: ReturnType<typeof readWav>;
  try {
    wav = readWav(bytes);
  } catch (error) {
    if (!(error instanceof WavFormatError)) throw error;
    throw new EngineError(
      "tts",
      "protocol",
      `${SERVER_LABEL} ${where} did not answer with a WAV file (${error.message}); ` +
        "PIPER_BASE_URL must point at Piper's HTTP server (python3 -m piper.http_server)",
      { cause: error },
    );
  }
  if (wav.channels !== 1 || wav.format === "mulaw") {
    throw new EngineError(
      "tts",
      "protocol",
      `${SERVER_LABEL} ${where} sent ${wav.channels}-channel ${wav.format} audio; Piper voices speak mono PCM`,
    );
  }
  return { samples: wav.samples, sampleRate: wav.sampleRate };
}
