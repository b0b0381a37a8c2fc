/** Conversions between 16-bit integer PCM and float samples in [-1, 1). */

/** Rounds a float sample to int16, clipping anything beyond full scale (NaN becomes 0). */
export function floatToPcm16Sample(sample: number): number {
  const scaled = Math.round(sample * 32768);
  if (scaled > 32767) return 32767;
  if (scaled < -32768) return -32768;
  // NaN fails both comparisons above; `| 0` turns it into silence.
  return scaled | 0;
}

/** Scales int16 samples to floats (x / 32768). Writes into `out` when given (and returns it). */
export function pcm16ToFloat(src: Int16Array, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(src.length);
  assertCapacity(dst.length, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = (src[i] as number) / 32768;
  return dst;
}

/** Rounds float samples to int16 with clipping. Writes into `out` when given (and returns it). */
export function floatToPcm16(src: Float32Array, out?: Int16Array): Int16Array {
  const dst = out ?? new Int16Array(src.length);
  assertCapacity(dst.length, src.length);
  for (let i = 0; i < src.length; i++) dst[i] = floatToPcm16Sample(src[i] as number);
  return dst;
}

/** Throws when a caller-supplied output array is too short for the input. */
export function assertCapacity(outLength: number, srcLength: number): void {
  if (outLength < srcLength) {
    throw new RangeError(`output holds ${outLength} samples but the input has ${srcLength}`);
  }
}
