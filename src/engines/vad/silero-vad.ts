/**
 * Silero VAD v6.2 (models/silero-vad/silero_vad.onnx, MIT) in process through onnxruntime-node, on the caller's
 * 8 kHz audio as it arrives: no resampling, since Silero v5/v6 take 8 kHz natively.
 *
 * The graph takes `input` [1, 32 + 256] (the last 32 samples of the previous window as context, then the next
 * 256 samples = 32 ms), `state` [2, 1, 128] and `sr` (int64 scalar, 8000), and returns `output` [1, 1] (the
 * speech probability of the window) and `stateN` (the state for the next window). The 32-sample context is what
 * Silero's own OnnxWrapper prepends at 8 kHz; without it the probabilities drift from the reference.
 *
 * One session per process and model file, shared by every call (onnxruntime sessions are safe to run from
 * several callers at once); each call owns only its state and context (`createStream`).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { EngineError } from "../../../machines/engines.js";
import { PACKAGE_ROOT } from "../../package-root.js";

export const SILERO_SAMPLE_RATE = 8000;
/** Samples per window at 8 kHz (32 ms): the only size Silero v5/v6 accept at this rate. */
export const SILERO_WINDOW_SAMPLES = 256;
/** Samples of the previous window prepended to each window at 8 kHz. */
export const SILERO_CONTEXT_SAMPLES = 32;

const STATE_DIMS = [2, 1, 128] as const;
const STATE_SIZE = STATE_DIMS[0] * STATE_DIMS[1] * STATE_DIMS[2];
const INPUT_NAMES = ["input", "state", "sr"] as const;
const OUTPUT_NAMES = ["output", "stateN"] as const;
const SHIPPED_MODEL = join("models", "silero-vad", "silero_vad.onnx");

export interface SileroVadOptions {
  /** The .onnx file. Default: `SILERO_VAD_MODEL` from the environment, else the model shipped in `models/`. */
  modelPath?: string;
  /** Read for `SILERO_VAD_MODEL` (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface SileroVad {
  readonly modelPath: string;
  /** A call's own recurrent state and context over the shared session. */
  createStream(): SileroVadStream;
}

export interface SileroVadStream {
  /**
   * Speech probability (0..1) of the next 256 samples (floats in [-1, 1)). One window at a time: the state of
   * the next window is the result of this one, so a second call before the first resolves is refused.
   */
  probability(window: Float32Array): Promise<number>;
  /** Forgets the state and context, as at the start of a stream. */
  reset(): void;
}

/** One session per model file, however many calls use it. */
const sessions = new Map<string, Promise<SileroVad>>();

/** Loads (or reuses) the shared model. Rejects with an `EngineError` naming the file when it is missing or wrong. */
export function loadSileroVad(options: SileroVadOptions = {}): Promise<SileroVad> {
  const modelPath = resolveSileroModelPath(options);
  let loaded = sessions.get(modelPath);
  if (loaded === undefined) {
    loaded = openSession(modelPath);
    // A failed load is not cached: the next caller (after the file is fixed) tries again.
    loaded.catch(() => sessions.delete(modelPath));
    sessions.set(modelPath, loaded);
  }
  return loaded;
}

/** The option, else `SILERO_VAD_MODEL`, else the model this package ships. */
export function resolveSileroModelPath(options: SileroVadOptions = {}): string {
  const configured = options.modelPath ?? (options.env ?? process.env).SILERO_VAD_MODEL;
  if (configured !== undefined && configured !== "") return resolve(configured);
  return shippedModelPath();
}

/** `models/` sits at the package root, from the sources and built alike. */
function shippedModelPath(): string {
  return join(PACKAGE_ROOT, SHIPPED_MODEL);
}

async function openSession(modelPath: string): Promise<SileroVad> {
  if (!existsSync(modelPath)) {
    throw new EngineError(
      "stt",
      "connect",
      `Silero VAD model "${modelPath}" does not exist (set SILERO_VAD_MODEL to a silero_vad.onnx, or unset it to use the shipped one)`,
    );
  }
  let session: InferenceSession;
  try {
    // One thread per run: a window is ~0.1 ms of work, less than waking a thread pool costs, and with many
    // calls the parallelism is across calls, not inside one window.
    session = await InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
  } catch (error) {
    throw new EngineError("stt", "connect", `Silero VAD model "${modelPath}" could not be loaded`, {
      cause: error,
    });
  }
  const missing = [
    ...INPUT_NAMES.filter((name) => !session.inputNames.includes(name)),
    ...OUTPUT_NAMES.filter((name) => !session.outputNames.includes(name)),
  ];
  if (missing.length > 0) {
    await session.release();
    throw new EngineError(
      "stt",
      "connect",
      `"${modelPath}" is not a Silero VAD v5/v6 model: it lacks ${missing.join(", ")} ` +
        `(has inputs ${session.inputNames.join(", ")}; outputs ${session.outputNames.join(", ")})`,
    );
  }
  const sampleRate = new Tensor("int64", BigInt64Array.of(BigInt(SILERO_SAMPLE_RATE)), []);
  return { modelPath, createStream: () => createStream(session, sampleRate) };
}

function createStream(session: InferenceSession, sampleRate: Tensor): SileroVadStream {
  const input = new Float32Array(SILERO_CONTEXT_SAMPLES + SILERO_WINDOW_SAMPLES);
  const inputTensor = new Tensor("float32", input, [1, input.length]);
  let state = zeroState();
  let running = false;

  return {
    async probability(window) {
      if (window.length !== SILERO_WINDOW_SAMPLES) {
        throw new RangeError(
          `Silero VAD takes ${SILERO_WINDOW_SAMPLES} samples at 8 kHz, got ${window.length}`,
        );
      }
      if (running) throw new Error("Silero VAD stream: one window at a time (the state chains them)");
      running = true;
      try {
        // input = [context | window]; the buffer is ours alone because runs of one stream never overlap.
        input.copyWithin(0, SILERO_WINDOW_SAMPLES);
        input.set(window, SILERO_CONTEXT_SAMPLES);
        const results = await session.run({ input: inputTensor, state, sr: sampleRate });
        const output = results.output as Tensor;
        state = results.stateN as Tensor;
        return (output.data as Float32Array)[0] as number;
      } finally {
        running = false;
      }
    },
    reset() {
      input.fill(0);
      state = zeroState();
    },
  };
}

function zeroState(): Tensor {
  return new Tensor("float32", new Float32Array(STATE_SIZE), [...STATE_DIMS]);
}
