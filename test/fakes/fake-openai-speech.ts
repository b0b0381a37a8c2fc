/**
 * A local stand-in for an OpenAI-compatible speech server (OpenAI, Kokoro-FastAPI, speaches), after OpenAI's
 * API reference for `POST /v1/audio/speech`: a JSON body `{model, input, voice, response_format, speed?}`,
 * `Authorization: Bearer <key>`, and for `response_format: "pcm"` a body of raw 24 kHz signed 16-bit
 * little-endian mono samples with no header, streamed as it is produced. Errors come back as OpenAI's
 * `{"error": {"message", "type", "code"}}` JSON (or whatever body a test scripts).
 *
 * Like a streaming server it sends the headers at once and the audio later, in pieces of scripted (often odd)
 * sizes, so a sample can be split across two pieces. It records every request and whether the client hung
 * up before the body was complete, and it can hold a response mid-body until the test releases it.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface FakeSpeechBehaviour {
  /** The PCM bytes every successful answer carries. */
  audio: Uint8Array;
  /** When set, the PCM bytes of each answer are made from its request instead (`audio` is then unused). */
  audioFor?: (request: RecordedSpeechRequest) => Uint8Array | Promise<Uint8Array>;
  /** Sizes of the successive body writes, cycled (default: odd sizes that split samples). */
  chunkSizes?: readonly number[];
  /** Wait between the headers and the first audio byte. */
  firstByteDelayMs?: number;
  /** Send this many bytes, then wait for `release()` (or for the client to hang up). */
  holdAfterBytes?: number;
  /** Send the headers and then nothing at all until the client hangs up. */
  stallBeforeFirstByte?: boolean;
  /** Answer with this status and body instead of audio. */
  error?: { status: number; body: string; contentType?: string };
  /** Content type of the audio answer (default `audio/pcm`, as Kokoro-FastAPI sends). */
  contentType?: string;
}

export interface RecordedSpeechRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (or the raw text when it was not JSON). */
  body: unknown;
  /** Sizes of the body pieces written so far. */
  writes: number[];
  /** Settles when the response is over: `closedByClient` is true when the client hung up before the end. */
  closed: Promise<{ closedByClient: boolean }>;
  /** Settles when a held response has sent its first `holdAfterBytes` bytes. */
  reachedHold: Promise<void>;
}

export interface FakeOpenAiSpeech {
  /** The API root to configure the client with, e.g. `http://127.0.0.1:40123/v1`. */
  baseUrl: string;
  requests: RecordedSpeechRequest[];
  setBehaviour(behaviour: FakeSpeechBehaviour): void;
  /** Lets every held response send the rest of its audio (until the next `setBehaviour`). */
  release(): void;
  close(): Promise<void>;
}

export const DEFAULT_CHUNK_SIZES: readonly number[] = [4801, 1, 3, 1000, 2047, 2];

export interface FakeSpeechServerOptions {
  /** Port to listen on (127.0.0.1). Default: any free port. */
  port?: number;
}

export async function startFakeOpenAiSpeech(
  initial: FakeSpeechBehaviour,
  options: FakeSpeechServerOptions = {},
): Promise<FakeOpenAiSpeech> {
  let behaviour = initial;
  const requests: RecordedSpeechRequest[] = [];
  let releaseHeld: () => void = () => {};
  let released: Promise<void>;
  const armHold = () => {
    released = new Promise<void>((resolve) => {
      releaseHeld = resolve;
    });
  };
  armHold();

  const server = createServer((req, res) => {
    const current = behaviour;
    const pieces: Buffer[] = [];
    req.on("data", (piece: Buffer) => pieces.push(piece));
    req.on("end", () => {
      const text = Buffer.concat(pieces).toString("utf8");
      let markHeld: () => void = () => {};
      const record: RecordedSpeechRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: parseJson(text),
        writes: [],
        closed: new Promise((resolve) => {
          res.on("close", () => resolve({ closedByClient: !res.writableFinished }));
        }),
        reachedHold: new Promise((resolve) => {
          markHeld = resolve;
        }),
      };
      requests.push(record);
      void answer(res, current, record, markHeld, () => released);
    });
  });
  server.on("connection", (socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    setBehaviour(next) {
      behaviour = next;
      armHold();
    },
    release() {
      releaseHeld();
    },
    async close() {
      releaseHeld();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function answer(
  res: ServerResponse,
  behaviour: FakeSpeechBehaviour,
  record: RecordedSpeechRequest,
  markHeld: () => void,
  whenReleased: () => Promise<void>,
): Promise<void> {
  if (record.method !== "POST" || record.path !== "/v1/audio/speech") {
    sendJsonError(res, 404, `no route ${record.method} ${record.path}`);
    return;
  }
  if (behaviour.error) {
    res.writeHead(behaviour.error.status, {
      "content-type": behaviour.error.contentType ?? "application/json",
    });
    res.end(behaviour.error.body);
    return;
  }
  let audio = behaviour.audio;
  if (behaviour.audioFor) {
    try {
      audio = await behaviour.audioFor(record);
    } catch (error) {
      sendJsonError(res, 500, `fake speech could not make audio: ${String(error)}`);
      return;
    }
  }
  res.writeHead(200, {
    "content-type": behaviour.contentType ?? "audio/pcm",
    "transfer-encoding": "chunked",
  });
  res.flushHeaders();
  if (behaviour.stallBeforeFirstByte) return; // the connection stays open until the client gives up
  if (behaviour.firstByteDelayMs) await sleep(behaviour.firstByteDelayMs);

  const sizes = behaviour.chunkSizes ?? DEFAULT_CHUNK_SIZES;
  let offset = 0;
  let held = false;
  for (let i = 0; offset < audio.length; i++) {
    if (res.destroyed) return;
    if (!held && behaviour.holdAfterBytes !== undefined && offset >= behaviour.holdAfterBytes) {
      held = true;
      markHeld();
      await whenReleased();
      if (res.destroyed) return;
    }
    const size = Math.min(sizes[i % sizes.length] ?? 1, audio.length - offset);
    const piece = audio.subarray(offset, offset + size);
    offset += size;
    record.writes.push(size);
    if (!res.write(piece)) await new Promise((resolve) => res.once("drain", resolve));
    // A turn of the event loop between writes, so pieces leave as separate TCP segments.
    await new Promise((resolve) => setImmediate(resolve));
  }
  res.end();
}

function sendJsonError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message, type: "invalid_request_error", code: null } }));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** OpenAI's error body, for scripting HTTP failures. */
export function openAiErrorBody(
  message: string,
  type = "invalid_request_error",
  code: string | null = null,
): string {
  return JSON.stringify({ error: { message, type, code } });
}
