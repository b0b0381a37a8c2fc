import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../machines/engines.js";
import { createOutboundConverter } from "../../src/audio/converters.js";
import { createOpenAiSpeechTts, createPcm16leDecoder } from "../../src/engines/openai-speech-tts.js";
import {
  type FakeOpenAiSpeech,
  openAiErrorBody,
  startFakeOpenAiSpeech,
} from "../fakes/fake-openai-speech.js";

/** Real speech (LJ Speech, public domain) as the s16le bytes a speech server would stream. */
const SPEECH_PCM = wavData(
  fileURLToPath(new URL("../../fixtures/real/audio/ljspeech-LJ001-0002.wav", import.meta.url)),
);
const API_KEY = "sk-test-0123456789abcdef";

let fake: FakeOpenAiSpeech;

beforeAll(async () => {
  fake = await startFakeOpenAiSpeech({ audio: SPEECH_PCM });
});
afterEach(() => {
  fake.setBehaviour({ audio: SPEECH_PCM });
  fake.requests.length = 0;
});
afterAll(async () => {
  await fake.close();
});

describe("OpenAI-compatible speech: streaming conversion", () => {
  it("converts the streamed PCM into exactly the mulaw of a whole-buffer conversion", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, firstByteDelayMs: 30 });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    const pieces = await collect(
      tts.synthesize("In being comparatively modern.", { callId: "CA1", signal: live() }),
    );

    expect(Buffer.concat(pieces)).toEqual(Buffer.from(wholeBufferMulaw(SPEECH_PCM)));
    expect(pieces.length).toBeGreaterThan(1);
    // The fake wrote pieces that split samples, so the odd-byte carry was exercised on the way.
    expect(fake.requests[0]?.writes.some((size) => size % 2 === 1)).toBe(true);
  });

  it("yields audio while the server is still sending the rest of the body", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, holdAfterBytes: 9600 });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });
    const iterator = tts
      .synthesize("Hello there.", { callId: "CA1", signal: live() })
      [Symbol.asyncIterator]();

    const first = await iterator.next();
    await fake.requests[0]?.reachedHold;

    expect(first.done).toBe(false);
    expect(first.value?.length).toBeGreaterThan(0);
    fake.release();
    const rest = [first.value as Uint8Array];
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest.push(next.value);
    expect(Buffer.concat(rest)).toEqual(Buffer.from(wholeBufferMulaw(SPEECH_PCM)));
  });

  it("sends OpenAI's documented request: POST /v1/audio/speech, pcm, model, voice, input, bearer key", async () => {
    const tts = createOpenAiSpeechTts({
      baseUrl: `${fake.baseUrl}/`,
      model: "tts-1",
      voice: "alloy",
      apiKey: API_KEY,
      speed: 1.25,
    });

    await collect(tts.synthesize("Good morning.", { callId: "CA1", signal: live() }));

    const request = fake.requests[0];
    expect(request?.method).toBe("POST");
    expect(request?.path).toBe("/v1/audio/speech");
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.body).toEqual({
      model: "tts-1",
      input: "Good morning.",
      voice: "alloy",
      response_format: "pcm",
      speed: 1.25,
    });
  });

  it("sends no Authorization header when no key is configured", async () => {
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    await collect(tts.synthesize("Hi.", { callId: "CA1", signal: live() }));

    expect(fake.requests[0]?.headers.authorization).toBeUndefined();
  });

  it("makes no request for text with nothing to say", async () => {
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    expect(await collect(tts.synthesize("  \n", { callId: "CA1", signal: live() }))).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });
});

describe("OpenAI-compatible speech: PCM pieces of any size", () => {
  it("decodes little-endian int16 samples split anywhere, carrying the odd byte", () => {
    const decoder = createPcm16leDecoder();
    // -2 (0xfffe), 258 (0x0102), -32768 (0x8000), 32767 (0x7fff)
    const bytes = [0xfe, 0xff, 0x02, 0x01, 0x00, 0x80, 0xff, 0x7f];

    const out = [
      ...decoder.decode(Uint8Array.from(bytes.slice(0, 1))),
      ...decoder.decode(Uint8Array.from(bytes.slice(1, 4))),
      ...decoder.decode(Uint8Array.from(bytes.slice(4, 5))),
      ...decoder.decode(new Uint8Array(0)),
      ...decoder.decode(Uint8Array.from(bytes.slice(5))),
    ];

    expect(out).toEqual([-2, 258, -32768, 32767]);
    expect(decoder.pendingByte).toBe(false);
  });

  it("gives the same mulaw for every split of the byte stream as for the whole buffer", () => {
    const source = SPEECH_PCM.subarray(0, 24_000);
    const expected = Buffer.from(wholeBufferMulaw(source));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: source.length - 1 }), { maxLength: 40 }), (cuts) => {
        const bounds = [0, ...[...new Set(cuts)].sort((a, b) => a - b), source.length];
        const decoder = createPcm16leDecoder();
        const converter = createOutboundConverter(24_000);
        const out: Uint8Array[] = [];
        for (let i = 1; i < bounds.length; i++) {
          out.push(converter.push(decoder.decode(source.subarray(bounds[i - 1], bounds[i]))));
        }
        out.push(converter.flush());
        expect(Buffer.concat(out)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });
});

describe("OpenAI-compatible speech: abort", () => {
  it("stops mid-body when the signal aborts: the iterator throws 'aborted' and the server sees the client hang up", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, holdAfterBytes: 9600 });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });
    const controller = new AbortController();
    const iterator = tts
      .synthesize("Hello there.", { callId: "CA1", signal: controller.signal })
      [Symbol.asyncIterator]();

    await iterator.next();
    await fake.requests[0]?.reachedHold;
    const pending = iterator.next();
    controller.abort();

    await expect(pending).rejects.toMatchObject({ engine: "tts", kind: "aborted" });
    expect(await fake.requests[0]?.closed).toEqual({ closedByClient: true });
  });

  it("aborts while waiting for the first byte", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, stallBeforeFirstByte: true });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });
    const controller = new AbortController();
    const iterator = tts
      .synthesize("Hello.", { callId: "CA1", signal: controller.signal })
      [Symbol.asyncIterator]();

    const pending = iterator.next();
    await waitForRequest(0);
    controller.abort();

    await expect(pending).rejects.toMatchObject({ kind: "aborted" });
    expect(await fake.requests[0]?.closed).toEqual({ closedByClient: true });
  });

  it("closes the connection when the consumer stops reading early", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, holdAfterBytes: 9600 });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    for await (const _ of tts.synthesize("Hello.", { callId: "CA1", signal: live() })) break;

    expect(await fake.requests[0]?.closed).toEqual({ closedByClient: true });
  });

  it("refuses an already aborted signal without a request", async () => {
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    await expect(
      collect(tts.synthesize("Hello.", { callId: "CA1", signal: AbortSignal.abort() })),
    ).rejects.toMatchObject({ kind: "aborted" });
    expect(fake.requests).toHaveLength(0);
  });
});

describe("OpenAI-compatible speech: failures", () => {
  it("reports a 401 with the status and the server's own message", async () => {
    fake.setBehaviour({
      audio: SPEECH_PCM,
      error: {
        status: 401,
        body: openAiErrorBody("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
      },
    });
    const tts = createOpenAiSpeechTts({
      baseUrl: fake.baseUrl,
      model: "tts-1",
      voice: "alloy",
      apiKey: API_KEY,
    });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ engine: "tts", kind: "http" });
    expect(error.message).toContain("401");
    expect(error.message).toContain("Incorrect API key provided.");
    expect(error.message).toContain(`${fake.baseUrl}/audio/speech`);
    expect(error.message).not.toContain(API_KEY);
  });

  it("reports a 500 with a plain-text body", async () => {
    fake.setBehaviour({
      audio: SPEECH_PCM,
      error: { status: 500, body: "voice model crashed", contentType: "text/plain" },
    });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ kind: "http" });
    expect(error.message).toMatch(/answered 500 .*: voice model crashed$/);
  });

  it("reports FastAPI's {detail} error body", async () => {
    fake.setBehaviour({
      audio: SPEECH_PCM,
      error: {
        status: 400,
        body: JSON.stringify({ detail: { error: "validation_error", message: "Voice 'xx' not found" } }),
      },
    });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "xx" });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error.message).toContain("400");
    expect(error.message).toContain("validation_error");
  });

  it("times out when no audio arrives, and hangs up", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, stallBeforeFirstByte: true });
    const tts = createOpenAiSpeechTts({
      baseUrl: fake.baseUrl,
      model: "kokoro",
      voice: "af_heart",
      firstByteTimeoutMs: 50,
    });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ kind: "timeout" });
    expect(error.message).toContain("no audio within 50 ms");
    expect(await fake.requests[0]?.closed).toEqual({ closedByClient: true });
  });

  it("times out when the body stalls after the first audio", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, holdAfterBytes: 9600 });
    const tts = createOpenAiSpeechTts({
      baseUrl: fake.baseUrl,
      model: "kokoro",
      voice: "af_heart",
      stallTimeoutMs: 50,
    });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ kind: "timeout" });
    expect(error.message).toContain("no more audio within 50 ms");
  });

  it("does not count a slow consumer's pause as a stalled server", async () => {
    const tts = createOpenAiSpeechTts({
      baseUrl: fake.baseUrl,
      model: "kokoro",
      voice: "af_heart",
      stallTimeoutMs: 100,
    });
    const iterator = tts.synthesize("Hello.", { callId: "CA1", signal: live() })[Symbol.asyncIterator]();

    const pieces = [(await iterator.next()).value as Uint8Array];
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) pieces.push(next.value);

    expect(Buffer.concat(pieces)).toEqual(Buffer.from(wholeBufferMulaw(SPEECH_PCM)));
  });

  it("refuses an answer that is not raw PCM", async () => {
    fake.setBehaviour({ audio: SPEECH_PCM, contentType: "audio/mpeg" });
    const tts = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ kind: "protocol" });
    expect(error.message).toContain("audio/mpeg");
  });

  it("names the unreachable URL and the cause", async () => {
    const tts = createOpenAiSpeechTts({
      baseUrl: `http://127.0.0.1:${await closedPort()}/v1`,
      model: "k",
      voice: "v",
    });

    const error = await failureOf(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ kind: "connect" });
    expect(error.message).toMatch(
      /cannot reach speech server http:\/\/127\.0\.0\.1:\d+\/v1\/audio\/speech: .*ECONNREFUSED/,
    );
  });

  it("rejects a configuration without a usable URL, model or voice at creation", () => {
    expect(() => createOpenAiSpeechTts({ baseUrl: "localhost:8880", model: "k", voice: "v" })).toThrow(
      /http or https/,
    );
    expect(() => createOpenAiSpeechTts({ baseUrl: "not a url", model: "k", voice: "v" })).toThrow(
      /not a URL/,
    );
    expect(() => createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: " ", voice: "v" })).toThrow(
      /speech model is empty/,
    );
  });

  it("warmUp proves the server answers, and fails with the server's reason", async () => {
    const ok = createOpenAiSpeechTts({ baseUrl: fake.baseUrl, model: "kokoro", voice: "af_heart" });
    await ok.warmUp();
    expect(fake.requests).toHaveLength(1);

    fake.setBehaviour({ audio: SPEECH_PCM, error: { status: 401, body: openAiErrorBody("bad key") } });
    await expect(ok.warmUp()).rejects.toThrow(/401.*bad key/);
  });

  it("never writes the API key to the log, on success or failure", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
    const tts = createOpenAiSpeechTts({
      baseUrl: fake.baseUrl,
      model: "kokoro",
      voice: "af_heart",
      apiKey: API_KEY,
      logger,
    });

    await collect(tts.synthesize("Hello.", { callId: "CA7", signal: live() }));
    fake.setBehaviour({
      audio: SPEECH_PCM,
      error: { status: 401, body: openAiErrorBody("Incorrect API key provided.") },
    });
    await failureOf(tts.synthesize("Hello.", { callId: "CA7", signal: live() }));

    expect(lines.some((line) => line.includes('"callId":"CA7"'))).toBe(true);
    expect(lines.join("")).not.toContain(API_KEY);
  });
});

function live(): AbortSignal {
  return new AbortController().signal;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const pieces: Uint8Array[] = [];
  for await (const piece of stream) pieces.push(piece);
  return pieces;
}

async function failureOf(stream: AsyncIterable<Uint8Array>): Promise<EngineError> {
  try {
    await collect(stream);
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error("expected the synthesis to fail");
}

function wholeBufferMulaw(pcmBytes: Uint8Array): Uint8Array {
  const samples = new Int16Array(pcmBytes.length >> 1);
  for (let i = 0; i < samples.length; i++)
    samples[i] = (pcmBytes[2 * i] as number) | ((pcmBytes[2 * i + 1] as number) << 8);
  const converter = createOutboundConverter(24_000);
  return Buffer.concat([converter.push(samples), converter.flush()]);
}

async function waitForRequest(index: number): Promise<void> {
  while (fake.requests.length <= index) await new Promise((resolve) => setImmediate(resolve));
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The bytes of a RIFF WAV's `data` chunk, checked to be 16-bit PCM mono. */
function wavData(path: string): Uint8Array {
  const file = readFileSync(path);
  let offset = 12;
  let format: { tag: number; channels: number; bits: number } | undefined;
  while (offset + 8 <= file.length) {
    const id = file.toString("ascii", offset, offset + 4);
    const size = file.readUInt32LE(offset + 4);
    if (id === "fmt ") {
      format = {
        tag: file.readUInt16LE(offset + 8),
        channels: file.readUInt16LE(offset + 10),
        bits: file.readUInt16LE(offset + 22),
      };
    } else if (id === "data") {
      if (format?.tag !== 1 || format.channels !== 1 || format.bits !== 16)
        throw new Error(`${path} is not 16-bit PCM mono`);
      return new Uint8Array(file.buffer, file.byteOffset + offset + 8, size);
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${path} has no data chunk`);
}
