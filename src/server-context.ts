import type { Config } from "./config.js";
import type { EngineStatus } from "./engine-status.js";
import type { Metrics } from "./metrics.js";
import type { LiveCallView } from "./observability/live-calls.js";
import type { CallFactory } from "./twilio/media-stream-session.js";
import type { StreamTokens } from "./twilio/stream-token.js";

/** What the routes share: built once per server by `buildServer`. */
export interface ServerContext {
  config: Config;
  metrics: Metrics;
  tokens: StreamTokens;
  /** Creates the call behind an accepted stream (already wrapped to keep the active-call count). */
  createCall: CallFactory;
  /** True once shutdown began: new streams are refused, calls in progress finish. */
  draining: boolean;
  activeCalls(): number;
  /** The calls in progress and their current state (`GET /calls`). */
  liveCalls: { list(): LiveCallView[] };
  engineStatus(): EngineStatus[];
  /** Runs `fn` after `ms` (a timer; tests pass their own); returns a cancel function. */
  schedule(ms: number, fn: () => void): () => void;
}
