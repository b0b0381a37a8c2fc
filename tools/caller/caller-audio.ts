/**
 * What the simulated caller says: WAV files of any rate and encoding `readWav` reads, turned into the mu-law
 * 8 kHz mono bytes Twilio would send (several channels are mixed down, other rates resampled).
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { createOutboundConverter, TELEPHONY_RATE } from "../../src/audio/converters.js";
import { MULAW_TO_FLOAT } from "../../src/audio/mulaw.js";
import { readWav, type WavAudio, WavFormatError } from "../../src/audio/wav.js";
import { CallerError } from "./errors.js";

/** One utterance of the caller: a name for reports and its audio as mu-law 8 kHz mono. */
export interface CallerUtterance {
  name: string;
  mulaw: Uint8Array;
}

/** Reads a WAV file as an utterance; a missing, damaged or empty file is a `bad-audio` CallerError. */
export async function loadCallerAudio(path: string): Promise<CallerUtterance> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error);
    throw new CallerError("bad-audio", `cannot read caller audio ${path}: ${reason}`, { cause: error });
  }
  return callerAudioFromWav(bytes, basename(path));
}

/** Decodes WAV bytes into an utterance named `name`. */
export function callerAudioFromWav(bytes: Uint8Array, name: string): CallerUtterance {
  let wav: WavAudio;
  try {
    wav = readWav(bytes);
  } catch (error) {
    if (error instanceof WavFormatError) {
      throw new CallerError("bad-audio", `caller audio ${name} is unusable: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
  if (wav.samples.length === 0) {
    throw new CallerError("bad-audio", `caller audio ${name} holds no samples`);
  }
  return { name, mulaw: toTelephonyMulaw(wav) };
}

/** Mu-law 8 kHz mono bytes of any decoded WAV. */
export function toTelephonyMulaw(wav: WavAudio): Uint8Array {
  if (wav.format === "mulaw" && wav.channels === 1 && wav.sampleRate === TELEPHONY_RATE) {
    return wav.samples.slice();
  }
  const converter = createOutboundConverter(wav.sampleRate);
  const head = converter.push(monoFloat(wav));
  const tail = converter.flush();
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** Mixes every channel down to one float signal in [-1, 1). */
function monoFloat(wav: WavAudio): Float32Array {
  const { channels } = wav;
  const frames = wav.samples.length / channels;
  const mono = new Float32Array(frames);
  const sampleAt =
    wav.format === "pcm16"
      ? (i: number) => (wav.samples[i] as number) / 32768
      : wav.format === "mulaw"
        ? (i: number) => MULAW_TO_FLOAT[wav.samples[i] as number] as number
        : (i: number) => wav.samples[i] as number;
  for (let frame = 0; frame < frames; frame++) {
    let sum = 0;
    for (let channel = 0; channel < channels; channel++) sum += sampleAt(frame * channels + channel);
    mono[frame] = sum / channels;
  }
  return mono;
}
