/**
 * Design of the anti-aliasing / anti-imaging low-pass filter behind StreamingResampler: a Kaiser-windowed sinc,
 * split into polyphase branches so that only the taps that meet real input samples are ever computed.
 *
 * Resampling by L/M (L = up, M = down, reduced) conceptually inserts L-1 zeros between input samples, low-passes
 * at the lower of the two Nyquist frequencies and keeps every M-th sample. Output sample n sits at upsampled
 * position t = n*M + delay; its newest input sample is floor(t / L) and the branch (phase) used is t mod L.
 */

/** Stopband attenuation. mu-law's own quantisation noise sits ~38 dB below a full-scale signal, so anything
 * folded back below -70 dB is far beneath what the phone line carries anyway. */
const STOPBAND_DB = 70;

/** Passband edge and stopband edge as fractions of the lower Nyquist frequency. For telephony (4 kHz Nyquist)
 * the band up to 3.4 kHz is flat and everything from 4.6 kHz up is stopped. The cutoff (-6 dB) sits exactly at
 * Nyquist, so what aliases (4-4.6 kHz) lands in 3.4-4 kHz, above the telephone band. */
const PASSBAND_EDGE = 0.85;
const STOPBAND_EDGE = 1.15;

/** Guards against absurd ratios (e.g. 8000 -> 7999, L = 7999) that would need megabytes of coefficients. Real
 * rate pairs stay far below: 22050 -> 8000 needs 12,800, 44100 -> 8000 about 25,000. */
const MAX_COEFFICIENTS = 1 << 17;

export interface PolyphaseFilter {
  /** L: the upsampling factor of the reduced ratio. */
  readonly up: number;
  /** M: the downsampling factor of the reduced ratio. */
  readonly down: number;
  /** K: taps per branch, i.e. input samples each output sample depends on. */
  readonly tapsPerPhase: number;
  /** Branch p occupies [p*K, (p+1)*K), time-reversed: entry j multiplies input sample (newest - K + 1 + j). */
  readonly coefficients: Float32Array;
  /** Per branch, the first and one-past-last non-zero entry (a half-band branch shrinks to its single centre tap). */
  readonly firstTap: Int32Array;
  readonly endTap: Int32Array;
  /** Group delay in upsampled samples; starting outputs at this position makes the output time-aligned. */
  readonly delay: number;
}

export function designPolyphaseLowpass(fromRate: number, toRate: number): PolyphaseFilter {
  const divisor = gcd(fromRate, toRate);
  const up = toRate / divisor;
  const down = fromRate / divisor;
  const upsampledRate = fromRate * up;
  const lowerRate = Math.min(fromRate, toRate);
  const nyquist = lowerRate / 2;

  const transitionWidth = (STOPBAND_EDGE - PASSBAND_EDGE) * nyquist;
  const radiansPerSample = (2 * Math.PI * transitionWidth) / upsampledRate;
  // Kaiser's length estimate for the given attenuation and transition width (in upsampled samples).
  const estimatedLength = Math.ceil((STOPBAND_DB - 7.95) / (2.285 * radiansPerSample)) + 1;
  const tapsPerPhase = Math.ceil(estimatedLength / up);
  const totalTaps = tapsPerPhase * up;
  if (totalTaps > MAX_COEFFICIENTS) {
    throw new RangeError(
      `resampling ${fromRate} -> ${toRate} Hz reduces to ${up}/${down} and needs ${totalTaps} filter taps; ` +
        "use rates with a larger common divisor",
    );
  }
  // An odd prototype length puts the centre on an integer sample, so the delay compensation is exact; the
  // spare slot when K*L is even stays zero.
  const prototypeLength = totalTaps % 2 === 1 ? totalTaps : totalTaps - 1;
  const centre = (prototypeLength - 1) / 2;
  const beta = 0.1102 * (STOPBAND_DB - 8.7);
  const besselBeta = besselI0(beta);

  const prototype = new Float64Array(totalTaps);
  for (let i = 0; i < prototypeLength; i++) {
    const offset = i - centre;
    // sinc(offset * lowerRate / upsampledRate), with its zeros computed exactly in integers so that half-band
    // branches come out as true zeros and can be skipped.
    const sincNumerator = offset * lowerRate;
    let sinc: number;
    if (offset === 0) sinc = 1;
    else if (sincNumerator % upsampledRate === 0) sinc = 0;
    else {
      const x = (Math.PI * sincNumerator) / upsampledRate;
      sinc = Math.sin(x) / x;
    }
    const ratio = (2 * i) / (prototypeLength - 1) - 1;
    const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - ratio * ratio))) / besselBeta;
    prototype[i] = sinc * window;
  }

  const coefficients = new Float32Array(totalTaps);
  const firstTap = new Int32Array(up);
  const endTap = new Int32Array(up);
  for (let phase = 0; phase < up; phase++) {
    // Normalising every branch to unity DC gain (rather than the prototype as a whole) keeps the L branches from
    // modulating a constant signal into a faint tone at the output rate.
    let branchSum = 0;
    for (let k = 0; k < tapsPerPhase; k++) branchSum += prototype[phase + k * up] as number;
    const base = phase * tapsPerPhase;
    let first = tapsPerPhase;
    let end = 0;
    for (let j = 0; j < tapsPerPhase; j++) {
      const value = (prototype[phase + (tapsPerPhase - 1 - j) * up] as number) / branchSum;
      coefficients[base + j] = value;
      if (value !== 0) {
        first = Math.min(first, j);
        end = j + 1;
      }
    }
    firstTap[phase] = first;
    endTap[phase] = Math.max(end, first);
  }

  return { up, down, tapsPerPhase, coefficients, firstTap, endTap, delay: centre };
}

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for Kaiser's betas). */
function besselI0(x: number): number {
  const halfX = x / 2;
  let term = 1;
  let sum = 1;
  for (let k = 1; term > sum * 1e-12; k++) {
    term *= (halfX / k) * (halfX / k);
    sum += term;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) {
    const remainder = x % y;
    x = y;
    y = remainder;
  }
  return x;
}
