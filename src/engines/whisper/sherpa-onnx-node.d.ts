/**
 * The part of sherpa-onnx-node (1.13.8, which ships no types) that the in-process Whisper back-end uses, after
 * its `non-streaming-asr.js` and `types.js`.
 */
declare module "sherpa-onnx-node" {
  export interface OfflineRecognizerConfig {
    featConfig?: { sampleRate?: number; featureDim?: number };
    modelConfig: {
      whisper?: { encoder: string; decoder: string; language?: string; task?: string; tailPaddings?: number };
      tokens: string;
      numThreads?: number;
      debug?: boolean | number;
      provider?: string;
    };
    decodingMethod?: string;
  }

  export interface OfflineRecognizerResult {
    text: string;
    lang?: string;
    tokens?: string[];
    timestamps?: number[];
  }

  export class OfflineStream {
    acceptWaveform(wave: { samples: Float32Array; sampleRate: number }): void;
  }

  export class OfflineRecognizer {
    constructor(config: OfflineRecognizerConfig);
    /** Loads the model off the JS thread. */
    static createAsync(config: OfflineRecognizerConfig): Promise<OfflineRecognizer>;
    createStream(): OfflineStream;
    /** Decodes on a native worker thread. */
    decodeAsync(stream: OfflineStream): Promise<OfflineRecognizerResult>;
  }
}
