/**
 * Prometheus metrics, one registry per server so tests (and several servers in one process) never share
 * counters. The call-level families grow with the observability work; the process ones come from
 * prom-client's defaults (CPU, memory, event-loop lag).
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

export interface Metrics {
  registry: Registry;
  activeCalls: Gauge;
  callsStarted: Counter;
  droppedTwilioMessages: Counter<"reason">;
  refusedStreams: Counter<"reason">;
  rejectedWebhooks: Counter<"route">;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "officero_" });
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
    droppedTwilioMessages: new Counter({
      name: "officero_twilio_messages_dropped_total",
      help: "Inbound Media Streams messages dropped as malformed or out of order",
      labelNames: ["reason"],
      registers: [registry],
    }),
    refusedStreams: new Counter({
      name: "officero_streams_refused_total",
      help: "Media streams refused (bad upgrade signature or stream token)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    rejectedWebhooks: new Counter({
      name: "officero_webhooks_rejected_total",
      help: "Webhook requests answered 403 for a bad or missing X-Twilio-Signature",
      labelNames: ["route"],
      registers: [registry],
    }),
  };
}
