/**
 * WAV (RIFF/WAVE) reading and writing for the encodings the audio path uses: 16-bit PCM, 8-bit mu-law (format
 * tag 7) and 32-bit float, plain or as WAVE_FORMAT_EXTENSIBLE. Chunks other than fmt and data (fact, LIST, ...)
 * are skipped. Samples of several channels stay interleaved, as in the file.
 */

export type WavAudio =
  | { sampleRate: number; channels: number; format: "pcm16"; samples: Int16Array }
  | { sampleRate: number; channels: number; format: "mulaw"; samples: Uint8Array }
  | { sampleRate: number; channels: number; format: "float32"; samples: Float32Array };

export type WavSampleFormat = WavAudio["format"];

/** A file that is not a WAV file, is damaged, or uses an encoding this module does not read. */
export class WavFormatError extends Error {
  override readonly name = "WavFormatError";
}

const FORMAT_TAG_PCM = 1;
const FORMAT_TAG_FLOAT = 3;
const FORMAT_TAG_MULAW = 7;
const FORMAT_TAG_EXTENSIBLE = 0xfffe;

/** Bytes 2..15 of every KSDATAFORMAT_SUBTYPE GUID whose first two bytes hold a classic format tag. */
const SUBFORMAT_GUID_TAIL = [
  0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

/** What streaming writers put in a data chunk's size when they cannot know it: read to the end of the file. */
const UNKNOWN_SIZE = 0xffffffff;

interface SampleEncoding {
  readonly format: WavSampleFormat;
  readonly formatTag: number;
  readonly bytesPerSample: number;
}

const ENCODINGS: readonly SampleEncoding[] = [
  { format: "pcm16", formatTag: FORMAT_TAG_PCM, bytesPerSample: 2 },
  { format: "mulaw", formatTag: FORMAT_TAG_MULAW, bytesPerSample: 1 },
  { format: "float32", formatTag: FORMAT_TAG_FLOAT, bytesPerSample: 4 },
];

const SAMPLE_ARRAYS = { pcm16: Int16Array, mulaw: Uint8Array, float32: Float32Array } as const;

interface FmtChunk {
  readonly formatTag: number;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
}

export function readWav(buf: Uint8Array): WavAudio {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 12)
    throw new WavFormatError(`not a WAV file: ${buf.length} bytes is shorter than a RIFF header`);
  const riffId = fourCC(view, 0);
  if (riffId !== "RIFF") {
    const hint = riffId === "RIFX" || riffId === "RF64" ? ` (${riffId} files are not supported)` : "";
    throw new WavFormatError(`not a WAV file: starts with "${printable(riffId)}" instead of "RIFF"${hint}`);
  }
  if (fourCC(view, 8) !== "WAVE") {
    throw new WavFormatError(`not a WAV file: RIFF form type is "${printable(fourCC(view, 8))}", not "WAVE"`);
  }
  // Trust the RIFF size only to cut off trailing bytes after the form, never to read past the buffer.
  const riffEnd = 8 + view.getUint32(4, true);
  const end = riffEnd >= 12 && riffEnd <= buf.length ? riffEnd : buf.length;

  let fmt: FmtChunk | undefined;
  let data: { offset: number; size: number } | undefined;
  for (let offset = 12; offset + 8 <= end && (fmt === undefined || data === undefined); ) {
    const id = fourCC(view, offset);
    const declared = view.getUint32(offset + 4, true);
    const bodyOffset = offset + 8;
    const available = end - bodyOffset;
    if (id === "data") {
      if (declared > available && declared !== UNKNOWN_SIZE) {
        throw new WavFormatError(
          `truncated WAV file: data chunk declares ${declared} bytes, ${available} present`,
        );
      }
      data ??= { offset: bodyOffset, size: Math.min(declared, available) };
    } else if (declared > available) {
      throw new WavFormatError(
        `truncated WAV file: "${printable(id)}" chunk at byte ${offset} declares ${declared} bytes, ${available} present`,
      );
    } else if (id === "fmt ") {
      fmt ??= parseFmt(view, bodyOffset, declared);
    }
    // Chunk bodies are padded to an even length.
    offset = bodyOffset + declared + (declared % 2);
  }
  if (fmt === undefined) throw new WavFormatError("malformed WAV file: no fmt chunk");
  if (data === undefined) throw new WavFormatError("malformed WAV file: no data chunk");

  const encoding = ENCODINGS.find(
    (candidate) =>
      candidate.formatTag === fmt.formatTag && candidate.bytesPerSample * 8 === fmt.bitsPerSample,
  );
  if (encoding === undefined) {
    throw new WavFormatError(
      `unsupported WAV encoding: format tag ${fmt.formatTag} with ${fmt.bitsPerSample} bits per sample ` +
        "(readable: 16-bit PCM, 8-bit mu-law, 32-bit float)",
    );
  }
  const frameBytes = encoding.bytesPerSample * fmt.channels;
  if (data.size % frameBytes !== 0) {
    throw new WavFormatError(
      `malformed WAV file: data chunk of ${data.size} bytes is not a whole number of ${frameBytes}-byte frames`,
    );
  }
  return decodeSamples(view, data.offset, data.size, encoding.format, fmt);
}

function parseFmt(view: DataView, offset: number, size: number): FmtChunk {
  if (size < 16)
    throw new WavFormatError(`malformed WAV file: fmt chunk of ${size} bytes, at least 16 expected`);
  let formatTag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const bitsPerSample = view.getUint16(offset + 14, true);
  if (channels === 0) throw new WavFormatError("malformed WAV file: fmt chunk declares 0 channels");
  if (sampleRate === 0) throw new WavFormatError("malformed WAV file: fmt chunk declares a sample rate of 0");
  if (formatTag === FORMAT_TAG_EXTENSIBLE) {
    // WAVE_FORMAT_EXTENSIBLE: cbSize(2) validBits(2) channelMask(4) subFormat GUID(16) after the basic 16 bytes.
    if (size < 40) {
      throw new WavFormatError(`malformed WAV file: extensible fmt chunk of ${size} bytes, 40 expected`);
    }
    const guidOffset = offset + 24;
    const tail = SUBFORMAT_GUID_TAIL.every((byte, i) => view.getUint8(guidOffset + 2 + i) === byte);
    if (!tail)
      throw new WavFormatError("unsupported WAV encoding: extensible fmt with a non-standard subformat");
    formatTag = view.getUint16(guidOffset, true);
  }
  return { formatTag, channels, sampleRate, bitsPerSample };
}

function decodeSamples(
  view: DataView,
  offset: number,
  size: number,
  format: WavSampleFormat,
  fmt: FmtChunk,
): WavAudio {
  const { sampleRate, channels } = fmt;
  // DataView reads are alignment- and endianness-safe; a typed-array view over the file bytes would be neither.
  switch (format) {
    case "pcm16": {
      const samples = new Int16Array(size / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getInt16(offset + 2 * i, true);
      return { sampleRate, channels, format, samples };
    }
    case "float32": {
      const samples = new Float32Array(size / 4);
      for (let i = 0; i < samples.length; i++) samples[i] = view.getFloat32(offset + 4 * i, true);
      return { sampleRate, channels, format, samples };
    }
    case "mulaw": {
      const samples = new Uint8Array(view.buffer, view.byteOffset + offset, size).slice();
      return { sampleRate, channels, format, samples };
    }
  }
}

/**
 * Encodes `audio` as a WAV file: 16-bit PCM, 8-bit mu-law or 32-bit float, mono or stereo (interleaved).
 * Non-PCM encodings get the 18-byte fmt chunk and the fact chunk the format requires for them.
 */
export function writeWav(audio: WavAudio): Uint8Array {
  const { sampleRate, channels, format, samples } = audio;
  if (channels !== 1 && channels !== 2)
    throw new RangeError(`writeWav writes 1 or 2 channels, not ${channels}`);
  if (!Number.isInteger(sampleRate) || sampleRate <= 0 || sampleRate > 0xffffffff) {
    throw new RangeError(`writeWav needs a positive integer sample rate, got ${sampleRate}`);
  }
  const encoding = ENCODINGS.find((candidate) => candidate.format === format);
  if (encoding === undefined) throw new TypeError(`writeWav: unknown sample format "${String(format)}"`);
  const expectedArray = SAMPLE_ARRAYS[format];
  if (!(samples instanceof expectedArray)) {
    throw new TypeError(`writeWav: "${format}" samples must be in a ${expectedArray.name}`);
  }
  if (samples.length % channels !== 0) {
    throw new RangeError(`writeWav: ${samples.length} samples do not split evenly into ${channels} channels`);
  }

  const isPcm = encoding.formatTag === FORMAT_TAG_PCM;
  const fmtSize = isPcm ? 16 : 18;
  const dataSize = samples.length * encoding.bytesPerSample;
  const dataPad = dataSize % 2;
  const factChunkSize = isPcm ? 0 : 12;
  const fileSize = 12 + (8 + fmtSize) + factChunkSize + 8 + dataSize + dataPad;
  if (fileSize - 8 > 0xffffffff) throw new RangeError("writeWav: audio too long for a RIFF file (4 GiB)");

  const out = new Uint8Array(fileSize);
  const view = new DataView(out.buffer);
  let offset = 0;
  const writeId = (id: string): void => {
    for (let i = 0; i < 4; i++) view.setUint8(offset + i, id.charCodeAt(i));
    offset += 4;
  };
  const writeU32 = (value: number): void => {
    view.setUint32(offset, value, true);
    offset += 4;
  };
  const writeU16 = (value: number): void => {
    view.setUint16(offset, value, true);
    offset += 2;
  };

  writeId("RIFF");
  writeU32(fileSize - 8);
  writeId("WAVE");
  writeId("fmt ");
  writeU32(fmtSize);
  writeU16(encoding.formatTag);
  writeU16(channels);
  writeU32(sampleRate);
  writeU32(sampleRate * channels * encoding.bytesPerSample);
  writeU16(channels * encoding.bytesPerSample);
  writeU16(encoding.bytesPerSample * 8);
  if (!isPcm) {
    writeU16(0); // cbSize: no extension
    writeId("fact");
    writeU32(4);
    writeU32(samples.length / channels);
  }
  writeId("data");
  writeU32(dataSize);
  switch (audio.format) {
    case "pcm16":
      for (const sample of audio.samples) writeU16(sample & 0xffff);
      break;
    case "float32":
      for (const sample of audio.samples) {
        view.setFloat32(offset, sample, true);
        offset += 4;
      }
      break;
    case "mulaw":
      out.set(audio.samples, offset);
      break;
  }
  return out;
}

function fourCC(view: DataView, offset: number): string {
  return String.fromCharCode(
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  );
}

/** Keeps error messages readable when the bytes are binary garbage. */
function printable(id: string): string {
  return id.replace(/[^\x20-\x7e]/g, "?");
}
