/**
 * Starts the Stately inspector chosen by `INSPECT`: `local` runs the relay on `INSPECT_PORT` (its page, opened in
 * a browser, loads the inspector UI from stately.ai) and streams every call to it; `sky` streams every call to
 * Stately Sky. Whatever happens to the inspector, calls go on: it is started before any call and fails alone.
 */
import { createSkyInspector, createWebSocketInspector } from "@statelyai/inspect";
import type { Env } from "../config.js";
import type { Log } from "../logger.js";
import type { CallInstrument } from "./call-instrument.js";
import { type InspectorRelay, startInspectorRelay } from "./inspector-relay.js";
import { type StatelySink, statelyInstrument } from "./stately-inspection.js";

export interface RunningInspector {
  instrument: CallInstrument;
  stop(): Promise<void>;
}

export interface InspectorOptions {
  mode: Env["INSPECT"];
  port: number;
  log: Log;
}

/** `undefined` when off, or when the inspector cannot start (said in the log; the server runs without it). */
export async function startInspector(options: InspectorOptions): Promise<RunningInspector | undefined> {
  switch (options.mode) {
    case "off":
      return undefined;
    case "local":
      return startLocalInspector(options.port, options.log);
    case "sky":
      return startSkyInspector(options.log);
  }
}

async function startLocalInspector(port: number, log: Log): Promise<RunningInspector | undefined> {
  let relay: InspectorRelay;
  try {
    relay = await startInspectorRelay({
      port,
      onTrouble: (detail) =>
        log.warn({ detail }, "inspector relay: a client sent something wrong; the relay goes on"),
      onExit: (detail) => log.warn({ detail }, "the inspector relay stopped; calls go on without it"),
    });
  } catch (error) {
    log.warn(
      { err: error },
      `INSPECT=local: ${error instanceof Error ? error.message : String(error)}; calls go on without the inspector`,
    );
    return undefined;
  }
  const inspector = createWebSocketInspector({ url: relay.socketUrl });
  log.info(
    { url: relay.pageUrl },
    `Stately inspector: open ${relay.pageUrl} in a browser on this machine (from another one: ` +
      `ssh -L ${port}:localhost:${port} <this host>, then the same URL). The page loads the Stately inspector UI ` +
      "from https://stately.ai/inspect, so that browser needs internet access; each call appears as it starts.",
  );
  log.warn(
    { port },
    `the inspector relay listens on every network interface and shows what callers say: keep port ${port} closed to other machines`,
  );
  return {
    instrument: statelyInstrument(inspector.adapter),
    stop: async () => {
      inspector.stop();
      await relay.stop();
    },
  };
}

/** While Sky reports errors, events are dropped for this long rather than queued (its socket's queue has no bound). */
const SKY_PAUSE_AFTER_ERROR_MS = 30_000;

function startSkyInspector(log: Log): RunningInspector {
  let pausedUntil = 0;
  const inspector = createSkyInspector({
    onerror: (error) => {
      const now = Date.now();
      if (now >= pausedUntil) {
        log.warn(
          { err: error },
          "Stately Sky is unreachable; calls go on, inspection events are dropped meanwhile",
        );
      }
      pausedUntil = now + SKY_PAUSE_AFTER_ERROR_MS;
    },
  });
  const sink: StatelySink = {
    send: (event) => {
      if (Date.now() >= pausedUntil) inspector.adapter.send(event);
    },
  };
  log.info(
    "Stately Sky inspector: the live link is printed on standard output once connected " +
      '("Connected to Sky, link to your live inspect session:"); createSkyInspector does not return it',
  );
  return {
    instrument: statelyInstrument(sink),
    stop: async () => inspector.stop(),
  };
}
