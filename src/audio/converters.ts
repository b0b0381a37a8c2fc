/**
 * The two stateful conversions of a call's audio path:
 * - outbound: TTS audio at its own rate (Kokoro and OpenAI PCM 24 kHz, Piper 22.05 kHz), float or int16, to the
 *   mu-law 8 kHz bytes Twilio plays;
 * - inbound: Twilio's mu-law 8 kHz to PCM16 at 8 or 16 kHz for STT engines that want linear PCM (Whisper).
 *
 * Both are seamless across pushes (any split of the stream gives the same bytes) and reuse their scratch
 * buffers, so a 20 ms push allocates only the array it returns: the caller's to keep, carved from Node's Buffer
 * pool (see pooled.ts).
 */
import { floatToMulawSample, MULAW_TO_FLOAT, mulawToPcm16 } from "./mulaw.js";
import { floatToPcm16Sample, pcm16ToFloat } from "./pcm.js";
import { pooledInt16, pooledUint8 } from "./pooled.js";
import { StreamingResampler } from "./resampler.js";

/** Twilio Media Streams' sample rate. */
export const TELEPHONY_RATE = 8000;

export interface OutboundConverter {
  /** Converts the next piece of TTS audio (floats in [-1, 1] or int16) to mu-law 8 kHz bytes. */
  push(samples: Float32Array | Int16Array): Uint8Array;
  /** Ends the utterance: returns the bytes still held back by the resampler, then starts afresh. */
  flush(): Uint8Array;
  /** Drops everything held back (barge-in: the rest of the utterance will never be played). */
  reset(): void;
}

export interface InboundConverter {
  /** Converts the next piece of caller audio (mu-law 8 kHz) to PCM16 at the output rate. */
  push(mulaw: Uint8Array): Int16Array;
  /** Ends the stream: returns the samples still held back, then starts afresh. */
  flush(): Int16Array;
  reset(): void;
}

export function createOutboundConverter(inputRate: number): OutboundConverter {
  const resampler = new StreamingResampler(inputRate, TELEPHONY_RATE);
  const scratch = new GrowableScratch();

  const encode = (resampled: Float32Array, count: number): Uint8Array => {
    const bytes = pooledUint8(count);
    for (let i = 0; i < count; i++) bytes[i] = floatToMulawSample(resampled[i] as number);
    return bytes;
  };

  return {
    push(samples) {
      const input =
        samples instanceof Float32Array ? samples : pcm16ToFloat(samples, scratch.input(samples.length));
      const resampled = scratch.output(resampler.maxOutputLength(input.length));
      return encode(resampled, resampler.processInto(input, resampled));
    },
    flush() {
      const tail = resampler.flush();
      return encode(tail, tail.length);
    },
    reset() {
      resampler.reset();
    },
  };
}

export function createInboundConverter(outputRate: 8000 | 16000): InboundConverter {
  if (outputRate !== 8000 && outputRate !== 16000) {
    throw new RangeError(`inbound audio converts to 8000 or 16000 Hz, not ${String(outputRate)}`);
  }
  if (outputRate === TELEPHONY_RATE) {
    // Same rate: decoding is all there is, and it holds nothing back.
    return {
      push: (mulaw) => mulawToPcm16(mulaw, pooledInt16(mulaw.length)),
      flush: () => new Int16Array(0),
      reset() {},
    };
  }

  const resampler = new StreamingResampler(TELEPHONY_RATE, outputRate);
  const scratch = new GrowableScratch();

  const toPcm16 = (resampled: Float32Array, count: number): Int16Array => {
    const pcm = pooledInt16(count);
    for (let i = 0; i < count; i++) pcm[i] = floatToPcm16Sample(resampled[i] as number);
    return pcm;
  };

  return {
    push(mulaw) {
      const input = scratch.input(mulaw.length);
      for (let i = 0; i < mulaw.length; i++) input[i] = MULAW_TO_FLOAT[mulaw[i] as number] as number;
      const resampled = scratch.output(resampler.maxOutputLength(mulaw.length));
      return toPcm16(resampled, resampler.processInto(input, resampled));
    },
    flush() {
      const tail = resampler.flush();
      return toPcm16(tail, tail.length);
    },
    reset() {
      resampler.reset();
    },
  };
}

/**
 * Float buffers that grow to the largest push seen and are then reused. `input` hands out a view exactly
 * `length` long and keeps it, so a run of equal-sized pushes (20 ms frames) allocates nothing.
 */
class GrowableScratch {
  private inputView = new Float32Array(0);
  private outputBuffer = new Float32Array(0);

  input(length: number): Float32Array {
    if (this.inputView.length === length) return this.inputView;
    const backing =
      this.inputView.buffer.byteLength >= length * 4 ? this.inputView.buffer : new ArrayBuffer(length * 4);
    this.inputView = new Float32Array(backing, 0, length);
    return this.inputView;
  }

  output(length: number): Float32Array {
    if (this.outputBuffer.length < length) this.outputBuffer = new Float32Array(length);
    return this.outputBuffer;
  }
}
