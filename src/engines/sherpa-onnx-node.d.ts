/**
 * The parts of sherpa-onnx-node (1.13.x, CommonJS, shipped without types) that our engines use: an offline
 * TTS built from a VITS (Piper) voice, and the offline recogniser running Whisper. Shapes from the package's
 * own JSDoc and sources (types.js, non-streaming-tts.js, non-streaming-asr.js).
 */
declare module "sherpa-onnx-node" {
  namespace sherpa {
    interface OfflineTtsVitsModelConfig {
      model: string;
      tokens: string;
      /** espeak-ng's data directory, for the Piper phonemizer. */
      dataDir: string;
      lexicon?: string;
      noiseScale?: number;
      noiseScaleW?: number;
      /** Phoneme duration: above 1 speaks slower. */
      lengthScale?: number;
    }

    interface OfflineTtsConfig {
      model: {
        vits: OfflineTtsVitsModelConfig;
        numThreads?: number;
        provider?: "cpu";
        debug?: boolean | number;
      };
      /** Sentences synthesised per ONNX run, and so per progress callback. */
      maxNumSentences?: number;
      silenceScale?: number;
    }

    interface GeneratedAudio {
      samples: Float32Array;
      sampleRate: number;
    }

    interface TtsProgress {
      /** The audio of the sentences just synthesised. */
      samples: Float32Array;
      /** Fraction of the text done, 0..1. */
      progress: number;
    }

    interface TtsRequest {
      text: string;
      sid: number;
      speed: number;
      /** Return 0 or false to stop; read by the native side without waiting, so one more run may follow. */
      onProgress?: (info: TtsProgress) => number | boolean | undefined;
    }

    class OfflineTts {
      /** Loads the model on a libuv worker thread, without blocking the event loop. */
      static createAsync(config: OfflineTtsConfig): Promise<OfflineTts>;
      readonly sampleRate: number;
      readonly numSpeakers: number;
      /** Synthesises on a libuv worker thread; `onProgress` runs on the JS thread between runs. */
      generateAsync(request: TtsRequest): Promise<GeneratedAudio>;
    }

    // Speech recognition (Whisper) ------------------------------------------------------------------
    interface OfflineRecognizerConfig {
      featConfig?: { sampleRate?: number; featureDim?: number };
      modelConfig: {
        whisper?: {
          encoder: string;
          decoder: string;
          language?: string;
          task?: string;
          tailPaddings?: number;
        };
        tokens: string;
        numThreads?: number;
        debug?: boolean | number;
        provider?: string;
      };
      decodingMethod?: string;
    }

    interface OfflineRecognizerResult {
      text: string;
      lang?: string;
      tokens?: string[];
      timestamps?: number[];
    }

    class OfflineStream {
      acceptWaveform(wave: { samples: Float32Array; sampleRate: number }): void;
    }

    class OfflineRecognizer {
      constructor(config: OfflineRecognizerConfig);
      /** Loads the model off the JS thread. */
      static createAsync(config: OfflineRecognizerConfig): Promise<OfflineRecognizer>;
      createStream(): OfflineStream;
      /** Decodes on a native worker thread. */
      decodeAsync(stream: OfflineStream): Promise<OfflineRecognizerResult>;
    }
  }
  export = sherpa;
}
