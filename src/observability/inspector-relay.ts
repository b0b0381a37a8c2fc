/**
 * The local Stately inspector relay (`createInspectorServer` from `@statelyai/inspect/server`), run in a worker
 * thread. The relay listens on every interface and attaches no error handler to its sockets, so one malformed
 * WebSocket frame from anyone who can reach the port throws an unhandled 'error' event: in this process that
 * would end every call in progress. In a worker it ends (at worst) the relay, and its JSON fan-out to the
 * browser runs off the event loop that carries the calls' audio.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

export interface InspectorRelay {
  /** The page to open in a browser on this machine. */
  readonly pageUrl: string;
  /** Where the server's inspector connects. */
  readonly socketUrl: string;
  stop(): Promise<void>;
}

export interface InspectorRelayOptions {
  port: number;
  /** Something went wrong inside the relay after it started (a bad client frame); it keeps running. */
  onTrouble(message: string): void;
  /** The relay is gone (its worker exited); calls go on without it. */
  onExit(message: string): void;
  /** How long to wait for the relay to listen. */
  startTimeoutMs?: number;
}

/**
 * Plain JavaScript, evaluated in the worker (no build step reaches it). It starts the relay, reports every
 * uncaught error to the parent instead of dying (a relay that lost one client still serves the others), and
 * says "listening" once a connection to the port succeeds; a failure to listen ends the worker.
 */
const RELAY_WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
let listening = false;
process.on("uncaughtException", (error) => {
  const message = error && error.message ? String(error.message) : String(error);
  if (!listening) {
    parentPort.postMessage({ type: "failed", code: error && error.code, message });
    process.exit(1);
  }
  parentPort.postMessage({ type: "trouble", message });
});
function probe(attempt) {
  const socket = net.connect(workerData.port, "127.0.0.1");
  socket.once("connect", () => {
    socket.destroy();
    listening = true;
    parentPort.postMessage({ type: "listening" });
  });
  socket.once("error", () => {
    socket.destroy();
    setTimeout(() => probe(attempt + 1), 20);
  });
}
import(workerData.serverModule).then(({ createInspectorServer }) => {
  createInspectorServer({ port: workerData.port, autoOpen: false });
  setTimeout(() => probe(0), 20);
});
`;

type RelayMessage =
  | { type: "listening" }
  | { type: "failed"; code?: string; message: string }
  | { type: "trouble"; message: string };

export function startInspectorRelay(options: InspectorRelayOptions): Promise<InspectorRelay> {
  const { port } = options;
  const serverModule = pathToFileURL(
    createRequire(import.meta.url).resolve("@statelyai/inspect/server"),
  ).href;
  const worker = new Worker(RELAY_WORKER_SOURCE, {
    eval: true,
    workerData: { port, serverModule },
  });
  // The relay alone never keeps the process alive: a server that finished draining may exit.
  worker.unref();

  return new Promise((resolve, reject) => {
    let started = false;
    let stopping = false;
    const timeout = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the inspector relay did not listen on port ${port} within its start-up time`));
    }, options.startTimeoutMs ?? 5000);
    const relay: InspectorRelay = {
      pageUrl: `http://localhost:${port}`,
      socketUrl: `ws://127.0.0.1:${port}`,
      stop: async () => {
        stopping = true;
        await worker.terminate();
      },
    };
    worker.on("message", (message: RelayMessage) => {
      switch (message.type) {
        case "listening":
          started = true;
          clearTimeout(timeout);
          resolve(relay);
          return;
        case "failed":
          clearTimeout(timeout);
          reject(new Error(relayFailure(port, message)));
          return;
        case "trouble":
          options.onTrouble(message.message);
          return;
      }
    });
    worker.on("error", (error) => {
      if (!started) {
        clearTimeout(timeout);
        reject(error);
      } else if (!stopping) options.onExit(error.message);
    });
    worker.on("exit", (code) => {
      if (started && !stopping) options.onExit(`the relay's worker exited with code ${code}`);
    });
  });
}

function relayFailure(port: number, failure: { code?: string; message: string }): string {
  if (failure.code === "EADDRINUSE")
    return `port ${port} is already in use (set INSPECT_PORT to a free port)`;
  if (failure.code === "EACCES")
    return `no permission to listen on port ${port} (set INSPECT_PORT above 1023)`;
  return `the inspector relay could not start on port ${port}: ${failure.message}`;
}
