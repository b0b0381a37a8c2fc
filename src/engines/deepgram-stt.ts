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
import { parseDeepgramMessage } from "./deepgram/messages.js";
import { DeepgramSpeechTurns } from "./deepgram/speech-turns.js";

/** The subset of a pino logger the adapter uses: `(fields, message)`. */
export interface SttLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DeepgramSttOptions {
  apiKey: string;
  /** Deepgram's API when omitted; a ws(s):// or http(s):// base for a self-hosted Deepgram or a test server. */
  baseUrl?: string;
  /** Default "nova-3". */
  model?: string;
  /** Default "en". */
  language?: string;
  /**
   * "mulaw" (default): Twilio's mu-law 8 kHz bytes, unchanged. "linear16": converted here to PCM16 16 kHz
   * (four times the bytes; for models or deployments that want linear audio).
   */
  encoding?: "mulaw" | "linear16";
  /** Interim (not yet final) results. Default true; `UtteranceEnd` needs them. */
  interimResults?: boolean;
  /** Silence in ms after which Deepgram marks a result `speech_final`; false turns endpointing off. Default 300. */
  endpointingMs?: number | false;
  /** Gap in ms after the last word for an `UtteranceEnd` (Deepgram accepts 1000 or more); null: none. Default 1000. */
  utteranceEndMs?: number | null;
  /** `SpeechStarted` events, used for barge-in. Default true. */
  vadEvents?: boolean;
  /** Smart formatting (punctuation, numerals). Default true. */
  smartFormat?: boolean;
  /** Nova-3 key terms to boost (names, products). Default none. */
  keyterms?: readonly string[];
  /** A `KeepAlive` goes out when no audio was sent for this long. Default 3000 ms. */
  keepAliveIntervalMs?: number;
  /** Time allowed for one connection attempt. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Consecutive failed connection attempts before the session reports `failed`. Default 5. */
  maxConnectAttempts?: number;
  /** First retry delay after a failed attempt, doubled each time up to `reconnectMaxDelayMs`. Default 250 ms. */
  reconnectBaseDelayMs?: number;
  /** Default 4000 ms. */
  reconnectMaxDelayMs?: number;
  /** Audio kept while disconnected; older audio is dropped beyond it (with a log line). Default 10000 ms. */
  maxBufferedMs?: number;
  /** How long `close()` waits for Deepgram's last results and its close after `CloseStream`. Default 2000 ms. */
  closeTimeoutMs?: number;
  logger?: SttLogger;
}

export const DEEPGRAM_STT_DEFAULTS = {
  model: "nova-3",
  language: "en",
  encoding: "mulaw",
  interimResults: true,
  endpointingMs: 300,
  utteranceEndMs: 1000,
  vadEvents: true,
  smartFormat: true,
  keepAliveIntervalMs: 3000,
  connectTimeoutMs: 5000,
  maxConnectAttempts: 5,
  reconnectBaseDelayMs: 250,
  reconnectMaxDelayMs: 4000,
  maxBufferedMs: 10_000,
  closeTimeoutMs: 2000,
} as const;

type ListenClient = DeepgramClient["listen"]["v1"];
type ListenSocket = Awaited<ReturnType<ListenClient["connect"]>>;
type ConnectArgs = Parameters<ListenClient["connect"]>[0];

type Settings = Required<Omit<DeepgramSttOptions, "apiKey" | "baseUrl" | "logger" | "keyterms">> & {
  keyterms: readonly string[];
};

const SILENT_LOGGER: SttLogger = { debug() {}, info() {}, warn() {}, error() {} };
const WS_OPEN = 1;

export class DeepgramSttEngine implements SttEngine {
  readonly name = "deepgram";
  readonly speechStartIsReliable = false;
  private readonly client: DeepgramClient;
  private readonly settings: Settings;
  private readonly logger: SttLogger;

  constructor(options: DeepgramSttOptions) {
    if (!options.apiKey || options.apiKey.trim() === "") {
      throw new EngineError("stt", "connect", "Deepgram API key is missing (DEEPGRAM_API_KEY)");
    }
    if (options.baseUrl !== undefined) checkBaseUrl(options.baseUrl);
    this.settings = resolveSettings(options);
    this.logger = options.logger ?? SILENT_LOGGER;
    // Reconnecting is the session's job: every connect passes `reconnectAttempts: 0` to the SDK.
    this.client = new DeepgramClient({
      apiKey: options.apiKey,
      ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl.replace(/\/+$/, "") }),
    });
  }

  open(options: { callId: string; onEvent: (event: SttEvent) => void }): SttSession {
    return new DeepgramSttSession(this.client, this.settings, this.logger, options.callId, options.onEvent);
  }

  /**
   * Start-up check: opens a live connection with the configured options and closes it politely. Throws an
   * EngineError that says what is wrong (rejected key, rejected options, unreachable server).
   */
  async probe(): Promise<void> {
    const socket = await this.client.listen.v1.connect(connectArgs(this.settings));
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
  private audioSinceKeepAliveCheck = false;
  private finalizeWhenOpen = false;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;
  private resolveServerClose: (() => void) | undefined;
  private readonly sendToSocket = (bytes: Uint8Array) => this.socket?.sendMedia(bytes);

  constructor(
    private readonly client: DeepgramClient,
    private readonly settings: Settings,
    private readonly logger: SttLogger,
    private readonly callId: string,
    private readonly onEvent: (event: SttEvent) => void,
  ) {
    const linear = settings.encoding === "linear16";
    this.bytesPerSecond = linear ? 32_000 : 8000;
    const sampleBytes = linear ? 2 : 1;
    const capacity =
      Math.ceil((this.bytesPerSecond * settings.maxBufferedMs) / 1000 / sampleBytes) * sampleBytes;
    this.ring = new AudioRing(capacity, sampleBytes);
    this.converter = linear ? createInboundConverter(16_000) : undefined;
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
    this.audioSinceKeepAliveCheck = true;
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
    this.stopKeepAlive();
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
        { callId: this.callId, engine: "stt", err: describe(error) },
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
      socket = await this.client.listen.v1.connect(connectArgs(this.settings));
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
    this.startKeepAlive();
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
    const delayMs = Math.min(
      this.settings.reconnectBaseDelayMs * 2 ** (this.consecutiveFailures - 1),
      this.settings.reconnectMaxDelayMs,
    );
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
        { callId: this.callId, engine: "stt", event: event.type, err: describe(error) },
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
    this.stopKeepAlive();
    this.retryTimer = setTimeout(() => void this.connect(), delayMs);
  }

  private detachSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.stopKeepAlive();
    socket?.close();
  }

  private isSocketOpen(): boolean {
    return this.socket !== undefined && this.socket.readyState === WS_OPEN;
  }

  private startKeepAlive(): void {
    this.stopKeepAlive();
    this.audioSinceKeepAliveCheck = false;
    this.keepAliveTimer = setInterval(() => {
      if (!this.audioSinceKeepAliveCheck && this.isSocketOpen()) {
        this.socket?.sendKeepAlive({ type: "KeepAlive" });
      }
      this.audioSinceKeepAliveCheck = false;
    }, this.settings.keepAliveIntervalMs);
  }

  private stopKeepAlive(): void {
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
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

function connectArgs(settings: Settings): ConnectArgs {
  const args: ConnectArgs = {
    model: settings.model,
    language: settings.language,
    encoding: settings.encoding,
    sample_rate: settings.encoding === "linear16" ? 16_000 : 8000,
    channels: 1,
    interim_results: String(settings.interimResults),
    endpointing: settings.endpointingMs === false ? "false" : settings.endpointingMs,
    vad_events: String(settings.vadEvents),
    smart_format: String(settings.smartFormat),
    reconnectAttempts: 0,
    connectionTimeoutInSeconds: settings.connectTimeoutMs / 1000,
  };
  if (settings.utteranceEndMs !== null) args.utterance_end_ms = settings.utteranceEndMs;
  if (settings.keyterms.length > 0) args.keyterm = [...settings.keyterms];
  return args;
}

/**
 * Classifies a failed handshake. The SDK surfaces the `ws` error, whose message carries the HTTP status of
 * a refused upgrade ("Unexpected server response: 401"). A refused key or refused options will not get
 * better by retrying; anything else (network, 5xx, 429, timeout) might.
 */
function connectError(error: unknown): { error: EngineError; permanent: boolean } {
  const text = describe(error);
  const status = Number(/Unexpected server response: (\d{3})/.exec(text)?.[1]);
  if (status === 401 || status === 403) {
    return {
      error: new EngineError("stt", "connect", `Deepgram rejected the API key (HTTP ${status})`, {
        cause: error,
      }),
      permanent: true,
    };
  }
  if (status === 400) {
    return {
      error: new EngineError("stt", "connect", "Deepgram rejected the stream options (HTTP 400)", {
        cause: error,
      }),
      permanent: true,
    };
  }
  const what = text === "TIMEOUT" ? "connection timed out" : text;
  return {
    error: new EngineError("stt", "connect", `Deepgram connection failed: ${what}`, { cause: error }),
    permanent: false,
  };
}

/** The message of an Error, or of the SDK's ErrorEvent-like objects (`{ message }`). */
function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (
    typeof error === "object" &&
    error !== null &&
    "message" in error &&
    typeof error.message === "string"
  ) {
    return error.message;
  }
  return String(error);
}

function checkBaseUrl(baseUrl: string): void {
  let protocol: string;
  try {
    protocol = new URL(baseUrl).protocol;
  } catch {
    throw new EngineError("stt", "connect", `Deepgram base URL is not a URL: "${baseUrl}"`);
  }
  if (!["ws:", "wss:", "http:", "https:"].includes(protocol)) {
    throw new EngineError("stt", "connect", `Deepgram base URL must be ws(s) or http(s), got "${protocol}"`);
  }
}

function resolveSettings(options: DeepgramSttOptions): Settings {
  const d = DEEPGRAM_STT_DEFAULTS;
  const settings: Settings = {
    model: options.model ?? d.model,
    language: options.language ?? d.language,
    encoding: options.encoding ?? d.encoding,
    interimResults: options.interimResults ?? d.interimResults,
    endpointingMs: options.endpointingMs ?? d.endpointingMs,
    utteranceEndMs: options.utteranceEndMs === undefined ? d.utteranceEndMs : options.utteranceEndMs,
    vadEvents: options.vadEvents ?? d.vadEvents,
    smartFormat: options.smartFormat ?? d.smartFormat,
    keyterms: options.keyterms ?? [],
    keepAliveIntervalMs: options.keepAliveIntervalMs ?? d.keepAliveIntervalMs,
    connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
    maxConnectAttempts: options.maxConnectAttempts ?? d.maxConnectAttempts,
    reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? d.reconnectBaseDelayMs,
    reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? d.reconnectMaxDelayMs,
    maxBufferedMs: options.maxBufferedMs ?? d.maxBufferedMs,
    closeTimeoutMs: options.closeTimeoutMs ?? d.closeTimeoutMs,
  };
  if (settings.encoding !== "mulaw" && settings.encoding !== "linear16") {
    throw new EngineError(
      "stt",
      "connect",
      `Deepgram encoding must be "mulaw" or "linear16", got "${settings.encoding}"`,
    );
  }
  if (settings.utteranceEndMs !== null && !settings.interimResults) {
    throw new EngineError(
      "stt",
      "connect",
      "Deepgram utterance_end_ms needs interim results: set interimResults",
    );
  }
  for (const name of [
    "keepAliveIntervalMs",
    "connectTimeoutMs",
    "maxConnectAttempts",
    "reconnectMaxDelayMs",
    "maxBufferedMs",
    "closeTimeoutMs",
  ] as const) {
    const value = settings[name];
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`deepgram stt: ${name} must be a positive number, got ${value}`);
    }
  }
  if (!(settings.reconnectBaseDelayMs >= 0)) {
    throw new RangeError(
      `deepgram stt: reconnectBaseDelayMs must be 0 or more, got ${settings.reconnectBaseDelayMs}`,
    );
  }
  return settings;
}
