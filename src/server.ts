/**
 * Builds the Fastify server: routes only, no listening, so tests drive it with `inject` and `injectWS`.
 */
import formbody from "@fastify/formbody";
import rateLimit from "@fastify/rate-limit";
import websocket from "@fastify/websocket";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { describeEngines, type LiveEngineState, withLiveStates } from "./engine-status.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { LiveCalls } from "./observability/live-calls.js";
import { registerCallsRoute } from "./routes/calls.js";
import { registerHealthAndMetrics } from "./routes/health-and-metrics.js";
import { registerIndexPage } from "./routes/index-page.js";
import { registerMediaStreamRoute } from "./routes/media-stream.js";
import { registerTwilioWebhooks } from "./routes/twilio-webhooks.js";
import type { ServerContext } from "./server-context.js";
import { MAX_INBOUND_MESSAGE_BYTES } from "./twilio/media-stream-protocol.js";
import type { CallFactory } from "./twilio/media-stream-session.js";
import { createStreamTokens, type StreamTokens } from "./twilio/stream-token.js";
import { parseWebhookForm } from "./twilio/webhook-limits.js";

export interface ServerOptions {
  config: Config;
  logger: Logger;
  createCall: CallFactory;
  metrics?: Metrics;
  tokens?: StreamTokens;
  /** The calls `GET /calls` lists; pass the one attached to the call factory as an instrument. */
  liveCalls?: LiveCalls;
  /**
   * What the engines checked at run time last showed (the LLM server's answer, the in-process models' loads);
   * `/health` reports the others as configured.
   */
  liveEngines?: Partial<Record<"stt" | "llm" | "tts", { current(): LiveEngineState }>>;
  /** The server's own deadlines (a stream's start); real timers unless a test passes its own. */
  schedule?: ServerContext["schedule"];
}

export interface Server {
  app: FastifyInstance;
  context: ServerContext;
  /** Refuse new streams, let calls in progress end (up to `graceMs`), then close. */
  drain(graceMs: number): Promise<void>;
}

export async function buildServer(options: ServerOptions): Promise<Server> {
  const { config } = options;
  const metrics = options.metrics ?? createMetrics();
  let active = 0;

  const context: ServerContext = {
    config,
    metrics,
    tokens: options.tokens ?? createStreamTokens({ ttlSeconds: config.env.STREAM_TOKEN_TTL_SECONDS }),
    draining: false,
    activeCalls: () => active,
    liveCalls: options.liveCalls ?? new LiveCalls(),
    engineStatus: () =>
      withLiveStates(describeEngines(config.env), {
        stt: options.liveEngines?.stt?.current(),
        llm: options.liveEngines?.llm?.current(),
        tts: options.liveEngines?.tts?.current(),
      }),
    schedule: options.schedule ?? realTimer,
    createCall: (start, output, log) => {
      const call = options.createCall(start, output, log);
      active += 1;
      metrics.activeCalls.set(active);
      metrics.callsStarted.inc();
      return {
        onAudio: (frame) => call.onAudio(frame),
        onMark: (name) => call.onMark(name),
        onDtmf: (digit) => call.onDtmf(digit),
        onStop: () => call.onStop(),
        onClose: () => {
          active -= 1;
          metrics.activeCalls.set(active);
          call.onClose();
        },
      };
    },
  };

  const app: FastifyInstance = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    trustProxy: true,
  });
  // Forms reach only the Twilio webhooks; their parser refuses a form of more parameters than Twilio sends.
  await app.register(formbody, { parser: parseWebhookForm });
  // Off by default: the routes that need a budget (the webhooks) carry their own `config.rateLimit`.
  await app.register(rateLimit, { global: false });
  // A Twilio message is small; anything far larger is refused by the WebSocket layer itself.
  await app.register(websocket, { options: { maxPayload: MAX_INBOUND_MESSAGE_BYTES * 4 } });
  registerTwilioWebhooks(app, context);
  registerMediaStreamRoute(app, context);
  registerHealthAndMetrics(app, context);
  registerIndexPage(app);
  registerCallsRoute(app, context);

  const drain = async (graceMs: number) => {
    context.draining = true;
    const deadline = Date.now() + graceMs;
    while (active > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await app.close();
  };

  return { app, context, drain };
}

function realTimer(ms: number, fn: () => void): () => void {
  const timer = setTimeout(fn, ms);
  // A pending deadline alone never keeps the process alive.
  timer.unref();
  return () => clearTimeout(timer);
}
