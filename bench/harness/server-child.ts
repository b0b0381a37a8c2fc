/**
 * Starts the bench server (bench-server.ts) in a child process and talks to it. A separate process keeps the
 * load generator's CPU and memory out of the server's figures; both still share this machine's cores.
 *
 * BENCH_SERVER_NODE_FLAGS adds Node flags to the server process only, e.g.
 * `BENCH_SERVER_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` for a V8 CPU profile written when it exits.
 */
import type {
  BenchServerOptions,
  CommandMessage,
  ServerCommand,
  ServerCommands,
  ServerMessage,
} from "./server-protocol.js";
import { startTsChild } from "./ts-child.js";

export interface BenchServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The server's process id (to signal it, e.g. for a heap snapshot with --heapsnapshot-signal). */
  pid: number | undefined;
  request<K extends ServerCommand>(command: K): Promise<ServerCommands[K]>;
  /** Ends the process and waits for it to exit. */
  stop(): Promise<void>;
}

export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const extraFlags = (process.env.BENCH_SERVER_NODE_FLAGS ?? "").split(/\s+/).filter((flag) => flag !== "");
  const child = await startTsChild<Extract<ServerMessage, { type: "ready" }>>(
    new URL("./bench-server.ts", import.meta.url),
    [JSON.stringify(options)],
    ["--expose-gc", ...extraFlags],
  );

  let nextId = 1;
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  child.process.on("message", (message: ServerMessage) => {
    if (message.type === "ready") return;
    const waiting = pending.get(message.id);
    pending.delete(message.id);
    if (message.type === "answer") waiting?.resolve(message.result);
    else waiting?.reject(new Error(`bench server: ${message.error}`));
  });
  child.process.once("exit", (code) => {
    for (const waiting of pending.values()) waiting.reject(new Error(`bench server exited (${code})`));
    pending.clear();
  });

  return {
    url: child.ready.url,
    pid: child.process.pid,
    request<K extends ServerCommand>(command: K): Promise<ServerCommands[K]> {
      const id = nextId++;
      return new Promise<ServerCommands[K]>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
        child.process.send({ id, command } satisfies CommandMessage);
      });
    },
    stop: () => child.stop(),
  };
}
