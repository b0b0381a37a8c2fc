/**
 * Piper's HTTP back-end against a local fake of `python3 -m piper.http_server` (test/fakes/fake-piper-server.ts)
 * that answers with a real 22.05 kHz recording (LJ Speech, public domain, the rate Piper's medium voices
 * speak): the request follows Piper's documented API, the WAV becomes the same mulaw as a direct conversion,
 * and aborts, timeouts and wrong URLs end in errors that say what to fix.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../machines/engines.js";
import { createOutboundConverter } from "../../src/audio/converters.js";
import { readWav } from "../../src/audio/wav.js";
import { createPiperHttpTts } from "../../src/engines/piper-http-tts.js";
import { type FakePiperServer, startFakePiperServer } from "../fakes/fake-piper-server.js";

const SPEECH_WAV = readFileSync(
  fileURLToPath(new URL("../../fixtures/real/audio/ljspeech-LJ001-0002.wav", import.meta.url)),
);

let fake: FakePiperServer;

beforeAll(async () => {
  fake = await startFakePiperServer({ wav: SPEECH_WAV });
});
afterEach(() => {
  fake.setBehaviour({ wav: SPEECH_WAV });
  fake.requests.length = 0;
});
afterAll(async () => {
  await fake.close();
});

describe("Piper HTTP server: speech", () => {
  it("posts Piper's JSON to / and turns the 22.05 kHz WAV into exactly the mulaw of a direct conversion", async () => {
    const tts = createPiperHttpTts({ baseUrl: fake.url, lengthScale: 1.2 });

    const pieces = await collect(
      tts.synthesize("In being comparatively modern.", { callId: "CA1", signal: live() }),
    );

    expect(Buffer.concat(pieces)).toEqual(Buffer.from(directMulaw(SPEECH_WAV)));
    const wav = readWav(SPEECH_WAV);
    expect(wav.sampleRate).toBe(22_050);
    // 8000 mulaw bytes per second of the recording, give or take the resampler's edge.
    expect(Math.abs(Buffer.concat(pieces).length - (wav.samples.length * 8000) / 22_050)).toBeLessThan(8);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]).toMatchObject({
      method: "POST",
      path: "/",
      contentType: "application/json",
      body: { text: "In being comparatively modern.", length_scale: 1.2 },
    });
  });

  it("sends no request for empty text", async () => {
    const tts = createPiperHttpTts({ baseUrl: fake.url });
    expect(await collect(tts.synthesize("  ", { callId: "CA1", signal: live() }))).toEqual([]);
    expect(fake.requests).toHaveLength(0);
  });

  it("warms up by speaking a phrase and proves the server answers", async () => {
    await createPiperHttpTts({ baseUrl: fake.url }).warmUp();
    expect(fake.requests[0]?.body).toEqual({ text: "Hello." });
  });
});

describe("Piper HTTP server: stopping and failures", () => {
  it("aborts while the server synthesises: 'aborted', and the server sees the client hang up", async () => {
    fake.setBehaviour({ wav: SPEECH_WAV, hang: true });
    const tts = createPiperHttpTts({ baseUrl: fake.url });
    const controller = new AbortController();
    const pending = collect(tts.synthesize("A long sentence.", { callId: "CA1", signal: controller.signal }));
    await waitFor(() => fake.requests.length === 1);

    controller.abort();

    await expect(pending).rejects.toMatchObject({ engine: "tts", kind: "aborted" });
    await fake.requests[0]?.closed;
  });

  it("refuses an already aborted signal without a request", async () => {
    const controller = new AbortController();
    controller.abort();
    const tts = createPiperHttpTts({ baseUrl: fake.url });
    await expect(
      collect(tts.synthesize("Hi.", { callId: "CA1", signal: controller.signal })),
    ).rejects.toMatchObject({
      kind: "aborted",
    });
    expect(fake.requests).toHaveLength(0);
  });

  it("times out a server that never answers, naming the URL", async () => {
    fake.setBehaviour({ wav: SPEECH_WAV, hang: true });
    const tts = createPiperHttpTts({ baseUrl: fake.url, firstByteTimeoutMs: 50 });

    const error = await failure(tts.synthesize("Hello.", { callId: "CA1", signal: live() }));

    expect(error).toMatchObject({ kind: "timeout" });
    expect(error.message).toBe(`Piper server ${fake.url}/ sent no audio within 50 ms`);
  });

  it("on a server that synthesises at /synthesize, a 405 at / says which URL to set, and that URL works", async () => {
    fake.setBehaviour({ wav: SPEECH_WAV, layout: "synthesize" });

    const error = await failure(
      createPiperHttpTts({ baseUrl: fake.url }).synthesize("Hi.", { callId: "CA1", signal: live() }),
    );

    expect(error).toMatchObject({ kind: "http" });
    expect(error.message).toContain("answered 405");
    expect(error.message).toContain(`set PIPER_BASE_URL to ${fake.url}/synthesize`);

    const pieces = await collect(
      createPiperHttpTts({ baseUrl: `${fake.url}/synthesize` }).synthesize("Hi.", {
        callId: "CA1",
        signal: live(),
      }),
    );
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(directMulaw(SPEECH_WAV)));
  });

  it("reports an answer that is not a WAV file as a protocol error that names PIPER_BASE_URL", async () => {
    fake.setBehaviour({ wav: new TextEncoder().encode("<html>Piper web page</html>") });

    const error = await failure(
      createPiperHttpTts({ baseUrl: fake.url }).synthesize("Hi.", { callId: "CA1", signal: live() }),
    );

    expect(error).toMatchObject({ kind: "protocol" });
    expect(error.message).toContain("did not answer with a WAV file");
    expect(error.message).toContain("PIPER_BASE_URL must point at Piper's HTTP server");
  });

  it("reports a server that is not listening as 'connect', with the URL and the reason", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;

    const error = await failure(
      createPiperHttpTts({ baseUrl: url }).synthesize("Hi.", { callId: "CA1", signal: live() }),
    );

    expect(error).toMatchObject({ kind: "connect" });
    expect(error.message).toMatch(new RegExp(`^cannot reach Piper server ${url}/: .*ECONNREFUSED`));
  });

  it("refuses a PIPER_BASE_URL that is not an http URL", () => {
    expect(() => createPiperHttpTts({ baseUrl: "tts-box:5000" })).toThrow(
      /PIPER_BASE_URL "tts-box:5000" must be http/,
    );
    expect(() => createPiperHttpTts({ baseUrl: "not a url" })).toThrow(
      /is not a URL \(expected e\.g\. http:\/\/tts-box:5000\)/,
    );
  });
});

function directMulaw(wavBytes: Uint8Array): Uint8Array {
  const wav = readWav(wavBytes);
  if (wav.format !== "pcm16") throw new Error("fixture is not PCM16");
  const converter = createOutboundConverter(wav.sampleRate);
  return Buffer.concat([converter.push(wav.samples), converter.flush()]);
}

function live(): AbortSignal {
  return new AbortController().signal;
}

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const piece of pieces) out.push(piece);
  return out;
}

async function failure(pieces: AsyncIterable<Uint8Array>): Promise<EngineError> {
  try {
    await collect(pieces);
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error("expected the synthesis to fail");
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
