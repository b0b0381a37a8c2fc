/**
 * The load generator: many simulated calls at once against one server, summarised as latency percentiles
 * and failures. A call fails when it cannot be placed (a CallerError), or when the server ends it other than
 * by a normal close.
 */
import type { CallResult } from "./call-result.js";
import { type SimulateCallOptions, simulateCall } from "./simulate-call.js";

export interface LoadOptions extends SimulateCallOptions {
  /** Calls in flight at once. */
  concurrency: number;
  /** Calls in all. Default: `concurrency`. */
  calls?: number;
  /** Told as each call ends (progress output). */
  onCallEnded?: (outcome: CallOutcome, index: number) => void;
}

export type CallOutcome =
  | { ok: true; result: CallResult }
  | { ok: false; error: string; result?: CallResult };

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface LoadResult {
  outcomes: CallOutcome[];
  failures: number;
  /** Per-turn latencies of every call (end of caller speech to first agent audio). */
  turnLatency: LatencySummary | null;
  greetingLatency: LatencySummary | null;
  /** Turns the agent never answered. */
  unansweredTurns: number;
}

export async function runCalls(options: LoadOptions): Promise<LoadResult> {
  const { concurrency, calls = options.concurrency, onCallEnded, ...callOptions } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a whole number >= 1, got ${concurrency}`);
  }
  if (!Number.isInteger(calls) || calls < 1)
    throw new RangeError(`calls must be a whole number >= 1, got ${calls}`);
  const outcomes: CallOutcome[] = new Array(calls);
  // Each call listens for "abort" at several places (its session, its socket, its webhooks). Handing every
  // call the caller's one signal put all those listeners on it at once, past Node's limit of 10
  // (MaxListenersExceededWarning); instead each call gets its own signal and the caller's has one listener.
  const hangUps = new Set<AbortController>();
  const parent = callOptions.signal;
  const abortAll = () => {
    for (const hangUp of hangUps) hangUp.abort(parent?.reason);
  };
  parent?.addEventListener("abort", abortAll, { once: true });
  let next = 0;
  const worker = async () => {
    while (next < calls && !parent?.aborted) {
      const index = next++;
      const hangUp = new AbortController();
      hangUps.add(hangUp);
      const outcome = await placeCall({ ...callOptions, signal: hangUp.signal });
      hangUps.delete(hangUp);
      outcomes[index] = outcome;
      onCallEnded?.(outcome, index);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
  } finally {
    parent?.removeEventListener("abort", abortAll);
  }
  const placed = outcomes.filter(Boolean);
  const results = placed.flatMap((outcome) => (outcome.result ? [outcome.result] : []));
  const turns = results.flatMap((result) => result.turns);
  return {
    outcomes: placed,
    failures: placed.filter((outcome) => !outcome.ok).length,
    turnLatency: summarize(turns.flatMap((turn) => (turn.latencyMs === null ? [] : [turn.latencyMs]))),
    greetingLatency: summarize(
      results.flatMap((result) => (result.greetingLatencyMs === null ? [] : [result.greetingLatencyMs])),
    ),
    unansweredTurns: turns.filter((turn) => turn.speechEndedAt !== null && turn.latencyMs === null).length,
  };
}

async function placeCall(options: SimulateCallOptions): Promise<CallOutcome> {
  try {
    const result = await simulateCall(options);
    const { ended } = result;
    if (ended.by === "server" && ended.code !== 1000) {
      return { ok: false, error: `server closed the stream: ${ended.code} ${ended.reason}`.trim(), result };
    }
    return { ok: true, result };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Nearest-rank percentiles; null for no samples. */
export function summarize(values: readonly number[]): LatencySummary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] as number;
  return { count: sorted.length, p50: rank(50), p90: rank(90), p99: rank(99), max: sorted.at(-1) as number };
}
