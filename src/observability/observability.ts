/**
 * Everything the server needs to be watched, built from the configuration: the call instruments (metrics, logs
 * and summaries; the list behind `GET /calls`; the Stately inspector when `INSPECT` asks for it).
 */

import type { Env } from "../config.js";
import type { Log } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { CallInstrument } from "./call-instrument.js";
import { callObserver } from "./call-observer.js";
import { startInspector } from "./inspector.js";
import { LiveCalls } from "./live-calls.js";

export interface Observability {
  instruments: CallInstrument[];
  liveCalls: LiveCalls;
  /** Stops the inspector, if one runs. */
  stop(): Promise<void>;
}

export async function startObservability(options: {
  env: Env;
  metrics: Metrics;
  log: Log;
}): Promise<Observability> {
  const { env, metrics, log } = options;
  const liveCalls = new LiveCalls({ transcripts: env.LOG_TRANSCRIPTS });
  const inspector = await startInspector({ mode: env.INSPECT, port: env.INSPECT_PORT, log });
  if (!env.CALLS_API_KEY) {
    log.warn(
      "CALLS_API_KEY is not set: GET /calls lists the calls in progress to anyone who can reach the server",
    );
  }
  return {
    instruments: [
      callObserver({ metrics, logTranscripts: env.LOG_TRANSCRIPTS, tapesDir: env.CALL_TAPES_DIR }),
      liveCalls,
      ...(inspector ? [inspector.instrument] : []),
    ],
    liveCalls,
    stop: async () => inspector?.stop(),
  };
}
