import { Writable } from "node:stream";
import { WebSocket } from "ws";
import { type Config, loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { buildServer, type Server, type ServerOptions } from "../../src/server.js";
import type {
  CallFactory,
  CallHandler,
  StreamOutput,
  StreamStart,
} from "../../src/twilio/media-stream-session.js";

/** Collects log lines as parsed JSON objects (and the raw text, to look for leaked secrets). */
export class LogCapture extends Writable {
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.raw.push(...chunk.toString().split("\n").filter(Boolean));
    done();
  }
  get lines(): Array<Record<string, unknown>> {
    return this.raw.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
  messages(): string[] {
    return this.lines.map((line) => String(line.msg));
  }
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ PUBLIC_URL: "https://voice.example.com", LOG_LEVEL: "debug", ...env });
}

/** A call that records everything the stream hands it. */
export class RecordingCall implements CallHandler {
  readonly audio: Uint8Array[] = [];
  readonly marks: string[] = [];
  readonly digits: string[] = [];
  stopped = 0;
  closed = 0;
  constructor(
    readonly start: StreamStart,
    readonly output: StreamOutput,
  ) {}
  onAudio(frame: Uint8Array): void {
    this.audio.push(Uint8Array.from(frame));
  }
  onMark(name: string): void {
    this.marks.push(name);
  }
  onDtmf(digit: string): void {
    this.digits.push(digit);
  }
  onStop(): void {
    this.stopped += 1;
  }
  onClose(): void {
    this.closed += 1;
  }
}

export async function startTestServer(
  env: Record<string, string> = {},
  createCall?: CallFactory,
  extra: Pick<ServerOptions, "schedule"> = {},
): Promise<{ server: Server; logs: LogCapture; calls: RecordingCall[]; config: Config }> {
  const config = testConfig(env);
  const logs = new LogCapture();
  const calls: RecordingCall[] = [];
  const logger = createLogger({ level: "debug", secrets: config.secrets, destination: logs });
  const server = await buildServer({
    ...extra,
    config,
    logger,
    createCall:
      createCall ??
      ((start, output) => {
        const call = new RecordingCall(start, output);
        calls.push(call);
        return call;
      }),
  });
  await server.app.ready();
  return { server, logs, calls, config };
}

/**
 * Opens the media stream through `injectWS`. The fake upgrade request carries a socket address because a
 * real one always does (the server trusts proxy headers and reads it for logs).
 */
export function connectStream(server: Server, headers: Record<string, string> = {}) {
  return server.app.injectWS("/twilio/stream", {
    headers,
    socket: { remoteAddress: "127.0.0.1" },
  } as unknown as Parameters<Server["app"]["injectWS"]>[1]);
}

/**
 * Opens the media stream over a real loopback TCP socket, for what the in-memory socket of `injectWS` cannot
 * show (the server closing the stream, system writes). Every message the server sends is parsed into
 * `received`.
 */
export async function connectStreamOverTcp(
  server: Server,
): Promise<{ ws: WebSocket; received: Array<Record<string, unknown>> }> {
  const address = await server.app.listen({ port: 0, host: "127.0.0.1" });
  const ws = new WebSocket(`${address.replace("http", "ws")}/twilio/stream`);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const received: Array<Record<string, unknown>> = [];
  ws.on("message", (data) => received.push(JSON.parse(data.toString())));
  return { ws, received };
}
