/**
 * The server under test, in its own process, put together as src/main.ts does it (the real `buildServer`,
 * `createCallFactory` and observability: metrics, latency histograms, per-transition logs, `GET /calls`) with
 * the timed fake engines in place of the real ones, listening on loopback. Tapes and the Stately inspector are
 * off, as they are by default. The bench process drives it over IPC (see server-protocol.ts) and places calls
 * on it over real sockets.
 *
 * Logging is on at `info` into /dev/null: the server pays for building every log line, as in production.
 * Started with `--expose-gc` so the memory figure is read after full collections.
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { getHeapSpaceStatistics } from "node:v8";
import { pino } from "pino";
import type { WebSocket, WebSocketServer } from "ws";
import { callConfig } from "../../machines/call-config.js";
import type { PhraseCache } from "../../machines/phrase-cache.js";
import { createCallFactory } from "../../src/call-factory.js";
import { loadConfig } from "../../src/config.js";
import { createLogger, type Log } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import type { CallInstrument } from "../../src/observability/call-instrument.js";
import { startObservability } from "../../src/observability/observability.js";
import { buildServer } from "../../src/server.js";
import type { CallFactory } from "../../src/twilio/media-stream-session.js";
import { type CallProbe, ProbeRegistry } from "./call-probes.js";
import { createTimedEngines } from "./fixed-latency-engines.js";
import { GcPauses } from "./gc-pauses.js";
import type {
  BenchServerOptions,
  CommandMessage,
  MemoryStats,
  ServerCommands,
  ServerMessage,
  WindowStats,
} from "./server-protocol.js";
import { toneMulaw } from "./synthetic-audio.js";

const LAG_RESOLUTION_MS = 10;

const options = JSON.parse(process.argv[2] ?? "null") as BenchServerOptions | null;
if (!options) throw new Error("bench-server: pass the BenchServerOptions as JSON in the first argument");
if (!process.send) throw new Error("bench-server: start me with child_process.fork (I need an IPC channel)");

const probes = new ProbeRegistry(
  {
    llmFirstTokenMs: options.timings.llmFirstTokenMs,
    ttsFirstAudioMs: options.timings.ttsFirstAudioMs,
    lateFrameMs: options.lateFrameMs,
    collectSamples: options.collectSamples,
  },
  options.keepCallCounts,
);
const callSettings = callConfig();
const config = loadConfig({ PUBLIC_URL: "http://127.0.0.1:8080", LOG_LEVEL: "info", ...options.env });
const logger = createLogger({
  level: "info",
  secrets: config.secrets,
  destination: pino.destination({ dest: "/dev/null", sync: true }),
});

/**
 * Sees every call start, turn and barge-in and when each piece of agent audio was handed to the socket, and lets
 * go of the call's probe once its stream closed.
 */
const probeInstrument: CallInstrument = {
  attach: ({ start }) => ({
    wrapEngines: (engines) => ({
      ...engines,
      telephony: {
        ...engines.telephony,
        sendMedia: (mulaw) => {
          engines.telephony.sendMedia(mulaw);
          probes.get(start.callSid)?.audioSent(mulaw, performance.now());
        },
      },
    }),
    started: (actor) => {
      actor.on("turnTaken", () => probes.get(start.callSid)?.turnTaken());
      actor.on("bargeIn", () => probes.get(start.callSid)?.bargedIn());
    },
    ended: () => probes.close(start.callSid),
  }),
};

const metrics = createMetrics();
const observability = await startObservability({ env: config.env, metrics, log: logger as unknown as Log });
const createCall = createCallFactory({
  engines: createTimedEngines(options.timings, probes),
  phrases: preparedPhrases(options.greetingAudioMs),
  config: callSettings,
  instruments: [...observability.instruments, probeInstrument],
});

/**
 * The socket whose message the server is handling right now, and when that message arrived. Read by the call
 * factory, which the stream route calls synchronously while handling `start`.
 */
const current: { socket: SocketTap | undefined; arrivedAt: number } = { socket: undefined, arrivedAt: 0 };

interface SocketTap {
  probe: CallProbe | undefined;
}

const benchCreateCall: CallFactory = (start, output, log) => {
  const tap = current.socket;
  const probe = probes.open(start.callSid, current.arrivedAt);
  if (tap) tap.probe = probe;
  return createCall(start, output, log);
};

const server = await buildServer({
  config,
  logger,
  metrics,
  liveCalls: observability.liveCalls,
  createCall: benchCreateCall,
});
tapSockets(server.app.websocketServer);
const url = await server.app.listen({ host: "127.0.0.1", port: 0 });

/** Only where samples are kept: its record of pauses would otherwise show as growth in the memory figure. */
const gcPauses = options.collectSamples ? new GcPauses() : undefined;
const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
lag.enable();
let measuring = {
  startedAt: performance.now(),
  cpu: process.cpuUsage(),
  runQueueWaitNs: mainThreadRunQueueWaitNs(),
};

const answers: { [K in keyof ServerCommands]: () => ServerCommands[K] | Promise<ServerCommands[K]> } = {
  "window-start": () => {
    lag.reset();
    probes.startWindow();
    measuring = {
      startedAt: performance.now(),
      cpu: process.cpuUsage(),
      runQueueWaitNs: mainThreadRunQueueWaitNs(),
    };
    return null;
  },
  "window-end": windowStats,
  report: () => {
    const drained = probes.drain();
    const turnGcMs = drained.samples.turnSpans.map((spans) => gcPauses?.overlapMs(spans) ?? 0);
    return { ...drained, turnGcMs, activeCalls: server.context.activeCalls() };
  },
  memory: collectedMemory,
};

process.on("message", (message: CommandMessage) => {
  Promise.resolve()
    .then(() => answers[message.command]())
    .then(
      (result) => send({ type: "answer", id: message.id, result }),
      (error: unknown) => send({ type: "failed", id: message.id, error: String(error) }),
    );
});
// The bench process is gone (finished or killed): nothing is left to serve.
process.on("disconnect", () => process.exit(0));
send({ type: "ready", url });

function send(message: ServerMessage): void {
  process.send?.(message);
}

/**
 * Notes when each message arrives (the WebSocket `message` event, before the route parses it: this listener is
 * added on `connection`, before the route adds its own) and reports every message the call sends back.
 */
function tapSockets(wss: WebSocketServer): void {
  wss.on("connection", (socket: WebSocket) => {
    const tap: SocketTap = { probe: undefined };
    socket.on("message", () => {
      current.socket = tap;
      current.arrivedAt = performance.now();
    });
    const send = socket.send;
    socket.send = ((data: unknown, sendOptions?: unknown, callback?: unknown) => {
      (send as (data: unknown, options?: unknown, callback?: unknown) => void).call(
        socket,
        data,
        sendOptions,
        callback,
      );
      if (typeof data === "string") tap.probe?.sent(data);
    }) as WebSocket["send"];
  });
}

/** The fixed phrases, prepared before any call as the real server does (so the greeting leaves at once). */
function preparedPhrases(greetingMs: number): PhraseCache {
  const { greeting, ...others } = callSettings.phrases;
  const audio = new Map<string, Uint8Array>([[greeting, toneMulaw(greetingMs, 262)]]);
  for (const text of Object.values(others)) audio.set(text, toneMulaw(1000, 294));
  return { get: (text) => audio.get(text) };
}

function windowStats(): WindowStats {
  const used = process.cpuUsage(measuring.cpu);
  const memory = process.memoryUsage();
  const lagMs = (ns: number) => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);
  return {
    wallSeconds: (performance.now() - measuring.startedAt) / 1000,
    cpuSeconds: (used.user + used.system) / 1e6,
    lagP50Ms: lagMs(lag.percentile(50)),
    lagP99Ms: lagMs(lag.percentile(99)),
    lagMaxMs: lagMs(lag.max),
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    activeCalls: server.context.activeCalls(),
    lateness: probes.endWindow(),
    gc: gcPauses?.summarySince(measuring.startedAt) ?? null,
    runQueueWaitSeconds: secondsSince(measuring.runQueueWaitNs, mainThreadRunQueueWaitNs()),
  };
}

/**
 * Nanoseconds this (the main) thread has spent ready to run but waiting for a core, from Linux's schedstat;
 * null where it cannot be read. On a shared machine this is time the event loop lost to other threads.
 */
function mainThreadRunQueueWaitNs(): number | null {
  try {
    const fields = readFileSync("/proc/thread-self/schedstat", "utf8").trim().split(/\s+/);
    const waited = Number(fields[1]);
    return Number.isFinite(waited) ? waited : null;
  } catch {
    return null;
  }
}

function secondsSince(startNs: number | null, endNs: number | null): number | null {
  return startNs === null || endNs === null ? null : (endNs - startNs) / 1e9;
}

async function collectedMemory(): Promise<MemoryStats> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("bench-server needs --expose-gc to measure memory");
  // Several times, with pauses between, so objects kept alive by pending finalizers or timers go too.
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  const memory = process.memoryUsage();
  const code = getHeapSpaceStatistics()
    .filter((space) => space.space_name.startsWith("code_"))
    .reduce((sum, space) => sum + space.space_used_size, 0);
  return {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    codeBytes: code,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    activeCalls: server.context.activeCalls(),
  };
}
