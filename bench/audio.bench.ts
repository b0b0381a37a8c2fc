/**
 * Audio path throughput, as the server runs it: one call's audio in 20 ms pieces through a single-threaded
 * loop, reported as seconds of audio per CPU second ("x real time per core").
 *
 * The signal is synthetic (a 100 Hz - 3.4 kHz sweep with a syllable-rate envelope): the work per sample of every
 * stage here is independent of the signal, so real speech would give the same figures.
 */
import alawmulaw from "alawmulaw";
import { createInboundConverter, createOutboundConverter } from "../src/audio/converters.js";
import { MulawFramer } from "../src/audio/frames.js";
import { mulawToPcm16, pcm16ToMulaw } from "../src/audio/mulaw.js";
import { floatToPcm16 } from "../src/audio/pcm.js";
import { StreamingResampler } from "../src/audio/resampler.js";
import { type BenchRow, realTimeFactor } from "./measure.js";

const SECONDS = 60;
const FRAME_SECONDS = 0.02;
const TARGET = 1000;
const SECTION = "audio";
const CODEC_PASSES = 20;

function speechLike(rate: number): Float32Array {
  const samples = new Float32Array(rate * SECONDS);
  let phase = 0;
  for (let i = 0; i < samples.length; i++) {
    const t = i / rate;
    phase += (2 * Math.PI * (100 + 3300 * ((t % 5) / 5))) / rate;
    const envelope = 0.2 + 0.6 * Math.abs(Math.sin(2 * Math.PI * 2 * t));
    samples[i] = 0.5 * envelope * Math.sin(phase);
  }
  return samples;
}

/** Cuts the signal into 20 ms views up front, as they would arrive off the wire. */
function pieces<T extends Float32Array | Int16Array | Uint8Array>(samples: T, rate: number): T[] {
  const size = Math.round(rate * FRAME_SECONDS);
  const out: T[] = [];
  for (let offset = 0; offset < samples.length; offset += size)
    out.push(samples.subarray(offset, offset + size) as T);
  return out;
}

/** Keeps the optimiser from discarding results nobody reads. */
let sink = 0;

function row(name: string, audioSeconds: number, work: () => void, target?: number): BenchRow {
  const value = realTimeFactor(audioSeconds, work);
  return target === undefined
    ? { section: SECTION, name, value, unit: "x RT" }
    : { section: SECTION, name, value, unit: "x RT", target: { atLeast: target } };
}

/** TTS audio in 20 ms pushes through the converter, its bytes through the framer, as a call's reply would go. */
function outboundRow(name: string, rate: number, input: readonly (Float32Array | Int16Array)[]): BenchRow {
  const framer = new MulawFramer();
  const onFrame = (frame: Uint8Array) => {
    sink += frame[0] as number;
  };
  return row(
    name,
    SECONDS,
    () => {
      const converter = createOutboundConverter(rate);
      for (const piece of input) framer.push(converter.push(piece), onFrame);
      framer.push(converter.flush(), onFrame);
      framer.flush(onFrame);
    },
    TARGET,
  );
}

/** Caller audio in 160-byte frames through the inbound converter, as the media-stream handler would feed it. */
function inboundRow(name: string, rate: 8000 | 16000, frames: readonly Uint8Array[]): BenchRow {
  return row(
    name,
    SECONDS,
    () => {
      const converter = createInboundConverter(rate);
      for (const frame of frames) sink += converter.push(frame).length;
      sink += converter.flush().length;
    },
    TARGET,
  );
}

export function runAudioBench(): BenchRow[] {
  const at8k = speechLike(8000);
  const mulawFrames = pieces(pcm16ToMulaw(floatToPcm16(at8k)), 8000);
  const pcm8kFrames = pieces(floatToPcm16(at8k), 8000);
  const at24k = speechLike(24000);
  const float24kPieces = pieces(at24k, 24000);
  const at22k = speechLike(22050);

  const rows: BenchRow[] = [
    inboundRow("inbound: mu-law 8k -> PCM16 16k (Whisper/linear16), 20 ms frames", 16000, mulawFrames),
    inboundRow("inbound: mu-law 8k -> PCM16 8k (decode only), 20 ms frames", 8000, mulawFrames),
    outboundRow("outbound: float 24k (Kokoro) -> mu-law 8k 160-byte frames", 24000, float24kPieces),
    outboundRow(
      "outbound: int16 24k (OpenAI PCM) -> mu-law 8k 160-byte frames",
      24000,
      pieces(floatToPcm16(at24k), 24000),
    ),
    outboundRow(
      "outbound: int16 22.05k (Piper) -> mu-law 8k 160-byte frames",
      22050,
      pieces(floatToPcm16(at22k), 22050),
    ),
  ];

  // Why lookup tables rather than alawmulaw's per-sample functions: same results, measured side by side. These
  // stages are so fast that one minute of audio is too short to time reliably, so they run it CODEC_PASSES times.
  const decodeOut = new Int16Array(160);
  const encodeOut = new Uint8Array(160);
  const codecRows: [string, () => void][] = [
    [
      "codec: mu-law decode, lookup table into a reused buffer",
      () => {
        for (const frame of mulawFrames) mulawToPcm16(frame, decodeOut);
      },
    ],
    [
      "codec: mu-law decode, lookup table, new array per frame",
      () => {
        for (const frame of mulawFrames) sink += mulawToPcm16(frame).length;
      },
    ],
    [
      "codec: mu-law decode, alawmulaw.mulaw.decode per frame",
      () => {
        for (const frame of mulawFrames) sink += alawmulaw.mulaw.decode(frame).length;
      },
    ],
    [
      "codec: mu-law encode, lookup table into a reused buffer",
      () => {
        for (const frame of pcm8kFrames) pcm16ToMulaw(frame, encodeOut);
      },
    ],
    [
      "codec: mu-law encode, lookup table, new array per frame",
      () => {
        for (const frame of pcm8kFrames) sink += pcm16ToMulaw(frame).length;
      },
    ],
    [
      "codec: mu-law encode, alawmulaw.mulaw.encode per frame",
      () => {
        for (const frame of pcm8kFrames) sink += alawmulaw.mulaw.encode(frame).length;
      },
    ],
  ];
  for (const [name, pass] of codecRows) {
    rows.push(
      row(name, SECONDS * CODEC_PASSES, () => {
        for (let i = 0; i < CODEC_PASSES; i++) pass();
      }),
    );
  }
  sink += decodeOut[0] as number;
  sink += encodeOut[0] as number;

  // The resampler alone, where almost all of the path's time goes.
  for (const [from, to, input] of [
    [24000, 8000, float24kPieces],
    [22050, 8000, pieces(at22k, 22050)],
    [8000, 16000, pieces(at8k, 8000)],
  ] as const) {
    rows.push(
      row(`resampler: ${from} -> ${to} Hz, 20 ms chunks`, SECONDS, () => {
        const resampler = new StreamingResampler(from, to);
        const out = new Float32Array(resampler.maxOutputLength(input[0]?.length ?? 0));
        for (const piece of input) sink += resampler.processInto(piece, out);
      }),
    );
  }

  if (Number.isNaN(sink)) console.log("unreachable: keeps the benchmark's results alive");
  return rows;
}
