/**
 * Prometheus metrics, one registry per server so tests (and several servers in one process) never share
 * counters. The process families come from prom-client's defaults: CPU, memory and the event-loop lag, whose
 * `officero_nodejs_eventloop_lag_p50/p90/p99_seconds` come from `monitorEventLoopDelay` and are reset at each
 * scrape, so they describe the last scrape interval.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Where the time of one turn goes, as the server sees it. Each stage is one histogram.
 * - `endOfTurn`: end of the caller's speech -> the statechart decided the turn is over
 * - `llmFirstToken`: LLM request sent -> first chunk streamed back
 * - `firstSegment`: LLM request sent -> first speakable segment handed to TTS
 * - `ttsFirstAudio`: TTS asked to speak a segment -> its first audio
 * - `voiceToVoice`: end of the caller's speech -> first outbound media of the reply
 * - `markRoundTrip`: a mark sent after audio -> Twilio's echo (that audio has played)
 */
export const LATENCY_STAGES = [
  "endOfTurn",
  "llmFirstToken",
  "firstSegment",
  "ttsFirstAudio",
  "voiceToVoice",
  "markRoundTrip",
] as const;
export type LatencyStage = (typeof LATENCY_STAGES)[number];

export interface Metrics {
  registry: Registry;
  activeCalls: Gauge;
  callsStarted: Counter;
  callsEnded: Counter<"reason">;
  turns: Counter;
  bargeIns: Counter;
  engineErrors: Counter<"engine" | "kind">;
  latency: Record<LatencyStage, Histogram>;
  droppedTwilioMessages: Counter<"reason">;
  refusedStreams: Counter<"reason">;
  rejectedWebhooks: Counter<"route">;
  refusedWebhooks: Counter<"route" | "reason">;
  /**
   * Reports an in-process model's queue (requests waiting for it) under `officero_engine_queue_waiting`,
   * read at scrape time so the queue needs no metrics of its own.
   */
  watchEngineQueue(engine: string, waiting: () => number): void;
}

/** Seconds. Dense below a second, where a conversation feels quick or slow. */
const TURN_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10];
/** A mark's echo waits for the audio before it to play: seconds of speech. */
const PLAYBACK_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32];

const LATENCY_FAMILIES: Record<LatencyStage, { name: string; help: string; buckets: number[] }> = {
  endOfTurn: {
    name: "officero_end_of_turn_seconds",
    help: "End of the caller's speech to the end of their turn decided",
    buckets: TURN_BUCKETS,
  },
  llmFirstToken: {
    name: "officero_llm_first_token_seconds",
    help: "LLM request sent to its first streamed chunk",
    buckets: TURN_BUCKETS,
  },
  firstSegment: {
    name: "officero_first_segment_seconds",
    help: "LLM request sent to the reply's first speakable segment handed to TTS",
    buckets: TURN_BUCKETS,
  },
  ttsFirstAudio: {
    name: "officero_tts_first_audio_seconds",
    help: "TTS asked to speak a segment to its first audio",
    buckets: TURN_BUCKETS,
  },
  voiceToVoice: {
    name: "officero_voice_to_voice_seconds",
    help: "End of the caller's speech to the first outbound media of the reply",
    buckets: TURN_BUCKETS,
  },
  markRoundTrip: {
    name: "officero_mark_round_trip_seconds",
    help: "Mark sent after outbound audio to Twilio's echo of it (the audio has played)",
    buckets: PLAYBACK_BUCKETS,
  },
};

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "officero_" });
  const latency = Object.fromEntries(
    LATENCY_STAGES.map((stage) => [
      stage,
      new Histogram({ ...LATENCY_FAMILIES[stage], registers: [registry] }),
    ]),
  ) as Record<LatencyStage, Histogram>;
  const queues = new Map<string, () => number>();
  new Gauge({
    name: "officero_engine_queue_waiting",
    help: "Requests waiting for an in-process model (the embedded LLM's free sequences), by engine",
    labelNames: ["engine"],
    registers: [registry],
    collect() {
      for (const [engine, waiting] of queues) this.set({ engine }, waiting());
    },
  });
  return {
    registry,
    activeCalls: new Gauge({
      name: "officero_active_calls",
      help: "Calls with an open media stream",
      registers: [registry],
    }),
    callsStarted: new Counter({
      name: "officero_calls_started_total",
      help: "Media streams accepted",
      registers: [registry],
    }),
    callsEnded: new Counter({
      name: "officero_calls_ended_total",
      help: "Calls ended, by reason (callerHungUp, agentHungUp, idle, maxDuration, sttFailed, transferred, failed)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    turns: new Counter({
      name: "officero_turns_total",
      help: "Caller turns taken (the agent started answering)",
      registers: [registry],
    }),
    bargeIns: new Counter({
      name: "officero_barge_ins_total",
      help: "Times the caller interrupted the agent",
      registers: [registry],
    }),
    engineErrors: new Counter({
      name: "officero_engine_errors_total",
      help: "Engine failures a call saw, by engine (stt, llm, tts, telephony) and kind",
      labelNames: ["engine", "kind"],
      registers: [registry],
    }),
    latency,
    droppedTwilioMessages: new Counter({
      name: "officero_twilio_messages_dropped_total",
      help: "Inbound Media Streams messages dropped as malformed or out of order",
      labelNames: ["reason"],
      registers: [registry],
    }),
    refusedStreams: new Counter({
      name: "officero_streams_refused_total",
      help: "Media streams refused (bad upgrade signature or stream token, no start in time, a stream cap)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    rejectedWebhooks: new Counter({
      name: "officero_webhooks_rejected_total",
      help: "Webhook requests answered 403 for a bad or missing X-Twilio-Signature",
      labelNames: ["route"],
      registers: [registry],
    }),
    refusedWebhooks: new Counter({
      name: "officero_webhooks_refused_total",
      help: "Webhook requests refused before any signature check, by reason (rate_limited, body_too_large, too_many_parameters)",
      labelNames: ["route", "reason"],
      registers: [registry],
    }),
    watchEngineQueue: (engine, waiting) => {
      queues.set(engine, waiting);
    },
  };
}
