/**
 * `SttEngine` on Deepgram's live transcription (`/v1/listen`, Nova-3) through `@deepgram/sdk` v5.
 *
 * One WebSocket per call. What the session adds around the SDK:
 * - audio that arrives while the socket connects (or reconnects) is kept in a ring and sent once it is
 *   open, so the caller's first words are not lost;
 * - `KeepAlive` when no audio went out for a while (Deepgram closes an idle stream after ~10 s);
 * - its own reconnect with backoff on an unexpected close (the SDK's is off: it would drop the audio sent
 *   while reconnecting and restart Deepgram's clock unnoticed); after `maxConnectAttempts` consecutive
 *   failures the session reports `failed` and the call actor apologises and ends the call;
 * - times are shifted by the audio sent on earlier connections, so they stay seconds from call start;
 * - `CloseStream` on close, waiting for Deepgram's final results and its close.
 *
 * Audio goes out as Twilio sends it, mu-law 8 kHz, by default: no conversion and a quarter of the bytes of
 * PCM16 16 kHz, which stays available (`encoding: "linear16"`).
 */
import { DeepgramClient } from "@deepgram/sdk";
import { EngineError, type SttEngine, type SttEvent, type SttSession } from "../../machines/engines.js";
import { createInboundConverter, type InboundConverter } from "../audio/converters.js";
import { AudioRing } from "./deepgram/audio-ring.js";
import { connectError, errorText } from "./deepgram/handshake-errors.js";
import { KeepAlive } from "./deepgram/keep-alive.js";
import { parseDeepgramMessage } from "./deepgram/messages.js";
import {
  clientOptions,
  type DeepgramSettings,
  type DeepgramStreamOptions,
  listenArgs,
  resolveSettings,
  retryDelayMs,
  streamFormat,
} from "./deepgram/settings.js";
import { DeepgramSpeechTurns } from "./deepgram/speech-turns.js";
import { type EngineLogger, SILENT_LOGGER } from "./engine-logger.js";

export interface DeepgramSttOptions extends DeepgramStreamOptions {
  apiKey: string;
  /** Deepgram's API when omitted; a ws(s):// or http(s):// base for a self-hosted Deepgram or a test server. */
  baseUrl?: string;
  logger?: EngineLogger;
}

type ListenSocket = Awaited<ReturnType<DeepgramClient["listen"]["v1"]["connect"]>>;

const WS_OPEN = 1;

export class DeepgramSttEngine implements SttEngine {
  readonly name = "deepgram";
  readonly speechStartIsReliable = false;
  private readonly client: DeepgramClient;
  private readonly settings: DeepgramSettings;
  private readonly logger: EngineLogger;

  constructor(options: DeepgramSttOptions) {
    const client = clientOptions(options);
    this.settings = resolveSettings(options);
    this.logger = options.logger ?? SILENT_LOGGER;
    // Reconnecting is the session's job: every connect passes `reconnectAttempts: 0` to the SDK.
    this.client = new DeepgramClient(client);
  }

  open(options: { callId: string; onEvent: (event: SttEvent) => void }): SttSession {
    return new DeepgramSttSession(this.client, this.settings, this.logger, options.callId, options.onEvent);
  }

  /**
   * Start-up check: opens a live connection with the configured options and closes it politely. Throws an
   * EngineError that says what is wrong (rejected key, rejected options, unreachable server).
   */
  async probe(): Promise<void> {
    const socket = await this.client.listen.v1.connect(listenArgs(this.settings));
    try {
      socket.connect();
      await socket.waitForOpen();
      socket.sendCloseStream({ type: "CloseStream" });
    } catch (error) {
      throw connectError(error).error;
    } finally {
      socket.close();
    }
  }
}

type SessionState = "connecting" | "open" | "waiting" | "closing" | "closed" | "failed";

class DeepgramSttSession implements SttSession {
  private state: SessionState = "connecting";
  /** The socket audio goes to; set only while it is open (and through `closing`). */
  private socket: ListenSocket | undefined;
  /** Bumped by every connection attempt and by close(): events of an older attempt are ignored. */
  private attempt = 0;
  private consecutiveFailures = 0;
  private hasConnected = false;
  /** The socket of the attempt in flight, so close() can cut a handshake short. */
  private connectingSocket: ListenSocket | undefined;
  private readonly ring: AudioRing;
  private readonly converter: InboundConverter | undefined;
  private readonly bytesPerSecond: number;
  /** Bytes of audio the call has produced so far (sent, pending or dropped). */
  private streamBytes = 0;
  /** Where the current connection's audio starts in the call's stream, in seconds. */
  private connectionOffsetSeconds = 0;
  private readonly turns = new DeepgramSpeechTurns((event) => this.emit(event));
  private droppedBytes = 0;
  private finalizeWhenOpen = false;
  private readonly keepAlive: KeepAlive;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;
  private resolveServerClose: (() => void) | undefined;
  private readonly sendToSocket = (bytes: Uint8Array) => this.socket?.sendMedia(bytes);

  constructor(
    private readonly client: DeepgramClient,
    private readonly settings: DeepgramSettings,
    private readonly logger: EngineLogger,
    private readonly callId: string,
    private readonly onEvent: (event: SttEvent) => void,
  ) {
    const { sampleRate, sampleBytes, bytesPerSecond, bufferBytes } = streamFormat(settings);
    this.bytesPerSecond = bytesPerSecond;
    this.ring = new AudioRing(bufferBytes, sampleBytes);
    // Twilio sends mu-law 8 kHz: only another encoding needs converting.
    this.converter = settings.encoding === "linear16" ? createInboundConverter(sampleRate) : undefined;
    this.keepAlive = new KeepAlive(settings.keepAliveIntervalMs, () => {
      if (this.isSocketOpen()) this.socket?.sendKeepAlive({ type: "KeepAlive" });
    });
    void this.connect();
  }

  sendAudio(frame: Uint8Array): void {
    if (this.state === "closing" || this.state === "closed" || this.state === "failed") return;
    let bytes = frame;
    if (this.converter) {
      const pcm = this.converter.push(frame);
      bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength); // little-endian on every Node host
    }
    this.streamBytes += bytes.length;
    this.keepAlive.noteAudio();
    const dropped = this.ring.write(bytes);
    if (dropped > 0) this.noteDropped(dropped);
    if (this.isSocketOpen()) this.ring.drain(this.sendToSocket);
  }

  finalize(): void {
    if (this.isSocketOpen()) this.socket?.sendFinalize({ type: "Finalize" });
    else if (this.state === "connecting" || this.state === "waiting") this.finalizeWhenOpen = true;
  }

  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    this.keepAlive.stop();
    this.abandonConnecting();
    const socket = this.isSocketOpen() ? this.socket : undefined;
    if (this.state === "failed" || socket === undefined) {
      if (this.state !== "failed") this.state = "closed";
      if (this.ring.pendingBytes > 0) {
        this.logger.debug(
          { callId: this.callId, engine: "stt", pendingMs: this.msOf(this.ring.pendingBytes) },
          "deepgram closed before the audio could be sent",
        );
      }
      return;
    }
    this.state = "closing";
    try {
      if (this.converter) this.writeConverterTail();
      this.ring.drain(this.sendToSocket);
      const serverClosed = new Promise<void>((resolve) => {
        this.resolveServerClose = resolve;
      });
      socket.sendCloseStream({ type: "CloseStream" });
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        serverClosed,
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, this.settings.closeTimeoutMs);
        }),
      ]);
      clearTimeout(timeout);
    } catch (error) {
      this.logger.debug(
        { callId: this.callId, engine: "stt", err: errorText(error) },
        "deepgram close failed",
      );
    } finally {
      this.detachSocket();
      this.state = "closed";
    }
  }

  private writeConverterTail(): void {
    const tail = this.converter?.flush();
    if (!tail || tail.length === 0) return;
    const bytes = new Uint8Array(tail.buffer, tail.byteOffset, tail.byteLength);
    this.streamBytes += bytes.length;
    this.ring.write(bytes);
  }

  private async connect(): Promise<void> {
    const attempt = ++this.attempt;
    this.state = "connecting";
    let socket: ListenSocket | undefined;
    try {
      socket = await this.client.listen.v1.connect(listenArgs(this.settings));
      if (attempt !== this.attempt) return;
      const current = socket;
      this.connectingSocket = current;
      current.on("message", (message: unknown) => this.onMessage(current, message));
      current.on("close", (event) => this.onClose(current, event.code, event.reason));
      current.on("error", (error) => this.onSocketError(current, error));
      // Taken over in the open event itself, not after `await waitForOpen()`: Deepgram may speak first, and
      // a message arriving before the await resumes would otherwise be dropped.
      current.on("open", () => {
        if (attempt === this.attempt) this.onOpen(current);
        else current.close();
      });
      current.connect();
      await current.waitForOpen();
    } catch (error) {
      socket?.close();
      if (attempt === this.attempt) this.onConnectFailed(error);
    } finally {
      if (this.connectingSocket === socket) this.connectingSocket = undefined;
    }
  }

  private onOpen(socket: ListenSocket): void {
    this.connectingSocket = undefined; // open now: close() must end it with CloseStream, not cut it
    const reconnected = this.hasConnected;
    this.hasConnected = true;
    this.socket = socket;
    this.state = "open";
    this.consecutiveFailures = 0;
    // Deepgram's clock starts at 0 with the first byte this connection receives: the oldest pending one.
    this.connectionOffsetSeconds = (this.streamBytes - this.ring.pendingBytes) / this.bytesPerSecond;
    const fields = {
      callId: this.callId,
      engine: "stt",
      bufferedMs: this.msOf(this.ring.pendingBytes),
      droppedMs: this.msOf(this.droppedBytes),
    };
    if (reconnected) this.logger.info(fields, "deepgram reconnected");
    else this.logger.debug(fields, "deepgram connected");
    this.droppedBytes = 0;
    this.ring.drain(this.sendToSocket);
    if (this.finalizeWhenOpen) {
      this.finalizeWhenOpen = false;
      socket.sendFinalize({ type: "Finalize" });
    }
    this.keepAlive.start();
  }

  private onConnectFailed(error: unknown): void {
    const { error: engineError, permanent } = connectError(error);
    this.consecutiveFailures++;
    if (permanent || this.consecutiveFailures >= this.settings.maxConnectAttempts) {
      const message = permanent
        ? engineError.message
        : `Deepgram unreachable after ${this.consecutiveFailures} attempts: ${engineError.message}`;
      this.fail(new EngineError("stt", "connect", message, { cause: error }));
      return;
    }
    const delayMs = retryDelayMs(this.settings, this.consecutiveFailures);
    this.logger.warn(
      { callId: this.callId, engine: "stt", attempt: this.consecutiveFailures, retryInMs: delayMs },
      `deepgram connection failed: ${engineError.message}`,
    );
    this.scheduleConnect(delayMs);
  }

  private onClose(socket: ListenSocket, code: number, reason: string | undefined): void {
    if (socket !== this.socket) return; // a failed handshake or an old connection
    if (this.state === "closing") {
      this.resolveServerClose?.();
      return;
    }
    this.detachSocket();
    if (code === 1008) {
      // Deepgram's "payload cannot be decoded as audio": the same audio would fail again after a reconnect.
      this.fail(
        new EngineError(
          "stt",
          "protocol",
          `Deepgram could not decode the audio (close 1008 ${reason ?? ""})`,
        ),
      );
      return;
    }
    this.logger.warn(
      { callId: this.callId, engine: "stt", code, reason: reason || undefined },
      "deepgram connection lost; reconnecting",
    );
    // Results for the audio in flight are lost with the connection: the caller's speech ends where it got to.
    this.turns.interrupt(this.streamBytes / this.bytesPerSecond);
    // The first reconnect goes at once: a blip should cost no more than the handshake.
    this.scheduleConnect(0);
  }

  private onSocketError(socket: ListenSocket, error: Error): void {
    if (socket !== this.socket) return; // handshake errors are handled by the connection attempt
    this.logger.warn({ callId: this.callId, engine: "stt", err: error.message }, "deepgram socket error");
  }

  private onMessage(socket: ListenSocket, message: unknown): void {
    if (socket !== this.socket) return;
    const parsed = parseDeepgramMessage(message, this.connectionOffsetSeconds);
    switch (parsed.kind) {
      case "event":
        this.turns.accept(parsed.event);
        return;
      case "skip":
        return;
      case "metadata":
        this.logger.debug(
          {
            callId: this.callId,
            engine: "stt",
            requestId: parsed.requestId,
            durationS: parsed.durationSeconds,
          },
          "deepgram stream summary",
        );
        return;
      case "unknown":
        this.logger.debug(
          { callId: this.callId, engine: "stt", type: parsed.type },
          "deepgram message ignored",
        );
        return;
      case "invalid":
        this.logger.warn(
          { callId: this.callId, engine: "stt" },
          `deepgram message dropped: ${parsed.reason}`,
        );
        return;
    }
  }

  private emit(event: SttEvent): void {
    try {
      this.onEvent(event);
    } catch (error) {
      this.logger.error(
        { callId: this.callId, engine: "stt", event: event.type, err: errorText(error) },
        "stt event handler threw",
      );
    }
  }

  private fail(error: EngineError): void {
    this.state = "failed";
    this.abandonConnecting();
    this.detachSocket();
    // No log line here: the call actor logs the failure it receives, once.
    this.emit({ type: "failed", error });
  }

  /** Stops any retry and any handshake in flight; their late events are ignored. */
  private abandonConnecting(): void {
    clearTimeout(this.retryTimer);
    this.attempt++;
    const socket = this.connectingSocket;
    this.connectingSocket = undefined;
    socket?.close();
  }

  private scheduleConnect(delayMs: number): void {
    this.state = "waiting";
    this.keepAlive.stop();
    this.retryTimer = setTimeout(() => void this.connect(), delayMs);
  }

  private detachSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.keepAlive.stop();
    socket?.close();
  }

  private isSocketOpen(): boolean {
    return this.socket !== undefined && this.socket.readyState === WS_OPEN;
  }

  private noteDropped(bytes: number): void {
    if (this.droppedBytes === 0) {
      this.logger.warn(
        { callId: this.callId, engine: "stt", maxBufferedMs: this.settings.maxBufferedMs },
        "deepgram still not connected and the audio buffer is full: dropping the oldest audio",
      );
    }
    this.droppedBytes += bytes;
  }

  private msOf(bytes: number): number {
    return Math.round((bytes * 1000) / this.bytesPerSecond);
  }
}
