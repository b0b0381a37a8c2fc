/**
 * A fake Deepgram live transcription server (`wss://api.deepgram.com/v1/listen`) for tests.
 *
 * It speaks the documented protocol: the upgrade must carry `Authorization: Token <key>` (else HTTP 401
 * with Deepgram's JSON error body) and valid query options (else 400); binary frames are audio in the
 * `encoding` / `sample_rate` of the query; text frames are the control messages `KeepAlive`, `Finalize`
 * and `CloseStream`. It answers with `SpeechStarted`, interim and final `Results` (`is_final`,
 * `speech_final`), `UtteranceEnd` and, after `CloseStream`, `Metadata` and a normal close, in the JSON
 * shapes of real Deepgram captures (`fixtures/real/deepgram-live`): `channel` an object in
 * Results and `[0, 1]` elsewhere, absolute word times, `model_info` of nova-3. Like the real service it
 * closes with 1011 when neither audio nor a text message came for `idleTimeoutMs`.
 *
 * Speech is found by energy by default: 20 ms windows of decoded audio louder than `speechThreshold` (RMS,
 * int16 scale). Speech starts after `minSpeechMs` of loud windows and ends after the query's `endpointing` ms
 * of quiet (or `endOfSpeechMs` when endpointing is off or absent). Given `vad` (the real Silero VAD), speech
 * is what the VAD calls speech instead (`createSpeechSegmenter` with its defaults), so white noise or a click
 * is not an utterance; that mode takes 8 kHz mu-law, what Twilio sends. Each utterance takes the next scripted
 * transcript (server-wide, across connections), so real speech fixtures produce known words. Everything is
 * computed from the audio received, never from the wall clock, so results do not depend on send speed.
 *
 * Every connection is recorded: handshake query and headers, audio bytes, control messages, the messages
 * sent back, and how it closed. Tests can drop a connection, close it with a code, refuse the next
 * handshakes, or inject any raw message.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { mulawToPcm16 } from "../../src/audio/mulaw.js";
import type { SileroVad } from "../../src/engines/vad/silero-vad.js";
import { createSpeechSegmenter, type SpeechSegmenter } from "../../src/engines/vad/speech-segmenter.js";

export interface FakeDeepgramOptions {
  /** The key the fake accepts. Default "fake-deepgram-key". */
  apiKey?: string;
  /** Transcript of each detected utterance, in order. */
  transcripts?: readonly string[];
  /** Transcript of utterances beyond the script. Default "" (an empty final, as Deepgram sends for noise). */
  fallbackTranscript?: string;
  /**
   * Transcript of a connection's n-th utterance (0-based), asked before `transcripts`; undefined falls through
   * to them. Lets a long-running fake give every call the same script.
   */
  transcriptFor?: (utterance: number, connection: number) => string | undefined;
  /** Port to listen on (127.0.0.1). Default: any free port. */
  port?: number;
  /** RMS (int16 scale) above which a 20 ms window counts as speech. Default 400. */
  speechThreshold?: number;
  /** Loud audio needed before speech starts. Default 40 ms. */
  minSpeechMs?: number;
  /** Quiet that ends speech when the query has no numeric `endpointing`. Default 300 ms. */
  endOfSpeechMs?: number;
  /** Audio time between interim results while speech goes on. Default 500 ms. */
  interimEveryMs?: number;
  /** Close 1011 after this long without audio or a text message. Default 10000 ms, as Deepgram. */
  idleTimeoutMs?: number;
  /**
   * Decide what is speech with this Silero VAD instead of by energy (`speechThreshold` and `minSpeechMs` are
   * then unused, and the VAD's own 550 ms of silence ends an utterance, whatever the query's `endpointing`).
   */
  vad?: SileroVad;
}

/** What turns one connection's audio and control messages into Deepgram's messages. */
interface Recognizer {
  feed(bytes: Buffer): void;
  finalize(): void;
  /** Resolves once every result owed for the audio so far, and the closing `Metadata`, is sent. */
  closeStream(): Promise<void>;
}

/** Deepgram's JSON body for a refused handshake. */
interface DeepgramErrorBody {
  err_code: string;
  err_msg: string;
  request_id: string;
}

export interface FakeDeepgramHandshake {
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** 101 when accepted. */
  status: number;
}

export interface FakeDeepgramConnection {
  index: number;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Every binary frame received, in order. */
  audioChunks: Buffer[];
  audioBytes: number;
  /** The `type` of every text message received, in order ("KeepAlive", "Finalize", "CloseStream", …). */
  controls: string[];
  /** Every message sent to the client, parsed. */
  sent: Record<string, unknown>[];
  /** Set once the connection is closed: the close code seen by the server and who started the close. */
  closed?: { code: number; by: "client" | "server" };
}

/** One Deepgram word, as in real results. */
interface Word {
  word: string;
  start: number;
  end: number;
  confidence: number;
  punctuated_word: string;
}

const MODEL_INFO = { name: "2-general-nova", version: "2024-01-18.26916", arch: "nova-3" };
const WINDOW_SECONDS = 0.02;
const SUPPORTED_ENCODINGS = new Set(["mulaw", "linear16"]);

export class FakeDeepgram {
  readonly connections: FakeDeepgramConnection[] = [];
  readonly handshakes: FakeDeepgramHandshake[] = [];
  private readonly events = new EventEmitter();
  private readonly sockets = new Map<number, WebSocket>();
  private readonly rawSockets = new Set<Socket>();
  private readonly transcripts: string[];
  private refusals: number[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });

  private constructor(
    private readonly server: Server,
    private readonly options: FakeDeepgramOptions,
  ) {
    this.transcripts = [...(options.transcripts ?? [])];
  }

  static async start(options: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
    const server = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    const fake = new FakeDeepgram(server, options);
    server.on("connection", (socket) => {
      fake.rawSockets.add(socket);
      socket.on("close", () => fake.rawSockets.delete(socket));
    });
    server.on("upgrade", (req, socket, head) => fake.upgrade(req, socket as Socket, head));
    server.listen(options.port ?? 0, "127.0.0.1");
    await once(server, "listening");
    return fake;
  }

  /** `ws://127.0.0.1:<port>`: the base URL for the SDK. */
  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get apiKey(): string {
    return this.options.apiKey ?? "fake-deepgram-key";
  }

  /** Adds transcripts for the next utterances. */
  script(...transcripts: string[]): void {
    this.transcripts.push(...transcripts);
  }

  /** Refuses the next `count` handshakes with HTTP `status` (e.g. 503 while "Deepgram is down"). */
  refuseNextHandshakes(count: number, status: number): void {
    this.refusals.push(...Array.from({ length: count }, () => status));
  }

  /** Cuts a connection without a close frame, as a network failure does (the client sees 1006). */
  drop(index = this.connections.length - 1): void {
    const record = this.connections[index];
    if (record && !record.closed) record.closed = { code: 1006, by: "server" };
    this.sockets.get(index)?.terminate();
    this.changed();
  }

  /** Closes a connection with a close frame, as Deepgram does on errors (1011, 1008). */
  closeConnection(index: number, code: number, reason = ""): void {
    const record = this.connections[index];
    if (record && !record.closed) record.closed = { code, by: "server" };
    this.sockets.get(index)?.close(code, reason);
    this.changed();
  }

  /** Sends any message (an object is JSON-encoded, a string goes as is) on a connection. */
  inject(index: number, message: Record<string, unknown> | string): void {
    this.sockets.get(index)?.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Resolves once `predicate` holds (checked on every recorded event); rejects after `timeoutMs`. */
  async waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.events.off("change", check);
        reject(new Error(`fake Deepgram: timed out waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.events.off("change", check);
        resolve();
      };
      this.events.on("change", check);
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets.values()) socket.terminate();
    for (const socket of this.rawSockets) socket.destroy();
    this.wss.close();
    this.server.close();
    await once(this.server, "close");
  }

  private changed(): void {
    this.events.emit("change");
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://fake");
    const handshake: FakeDeepgramHandshake = { query: url.searchParams, headers: req.headers, status: 101 };
    this.handshakes.push(handshake);
    const refusal = this.refusal(url, req.headers);
    if (refusal) {
      handshake.status = refusal.status;
      rejectUpgrade(socket, refusal.status, refusal.body);
      this.changed();
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, url.searchParams, req.headers));
  }

  private refusal(
    url: URL,
    headers: IncomingHttpHeaders,
  ): { status: number; body: DeepgramErrorBody } | undefined {
    const requestId = randomUUID();
    if (url.pathname !== "/v1/listen") {
      return {
        status: 404,
        body: { err_code: "NOT_FOUND", err_msg: `No route ${url.pathname}`, request_id: requestId },
      };
    }
    if (headers.authorization !== `Token ${this.apiKey}`) {
      return {
        status: 401,
        body: { err_code: "INVALID_AUTH", err_msg: "Invalid credentials.", request_id: requestId },
      };
    }
    const queued = this.refusals.shift();
    if (queued !== undefined) {
      return {
        status: queued,
        body: { err_code: "UNAVAILABLE", err_msg: "fake refusal", request_id: requestId },
      };
    }
    const encoding = url.searchParams.get("encoding");
    const badQuery =
      encoding === null
        ? "the fake needs an explicit encoding (mulaw or linear16)"
        : !SUPPORTED_ENCODINGS.has(encoding)
          ? `unsupported encoding ${encoding}`
          : !(Number(url.searchParams.get("sample_rate")) > 0)
            ? "sample_rate is required when encoding is set"
            : this.options.vad && (encoding !== "mulaw" || url.searchParams.get("sample_rate") !== "8000")
              ? "the fake's Silero VAD mode takes encoding=mulaw&sample_rate=8000 (Twilio's audio)"
              : undefined;
    if (badQuery)
      return { status: 400, body: { err_code: "Bad Request", err_msg: badQuery, request_id: requestId } };
    return undefined;
  }

  private accept(ws: WebSocket, query: URLSearchParams, headers: IncomingHttpHeaders): void {
    const record: FakeDeepgramConnection = {
      index: this.connections.length,
      query,
      headers,
      audioChunks: [],
      audioBytes: 0,
      controls: [],
      sent: [],
    };
    this.connections.push(record);
    this.sockets.set(record.index, ws);
    const send = (message: Record<string, unknown>) => {
      if (ws.readyState !== ws.OPEN) return;
      record.sent.push(message);
      ws.send(JSON.stringify(message));
      this.changed();
    };
    let utterances = 0;
    const nextTranscript = () =>
      this.options.transcriptFor?.(utterances++, record.index) ?? this.nextTranscript();
    const recognizer: Recognizer = this.options.vad
      ? new VadRecognizer(query, this.options.vad, this.options, nextTranscript, send)
      : new EnergyRecognizer(query, this.options, nextTranscript, send);
    let idleTimer: NodeJS.Timeout | undefined;
    const idleTimeoutMs = this.options.idleTimeoutMs ?? 10_000;
    const resetIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        this.closeConnection(
          record.index,
          1011,
          "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001",
        );
      }, idleTimeoutMs);
    };
    resetIdle();

    ws.on("message", (data, isBinary) => {
      resetIdle();
      const bytes = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      if (isBinary) {
        record.audioChunks.push(bytes);
        record.audioBytes += bytes.length;
        recognizer.feed(bytes);
        this.changed();
        return;
      }
      const type = controlType(bytes.toString("utf8"));
      record.controls.push(type);
      this.changed();
      if (type === "Finalize") recognizer.finalize();
      if (type === "CloseStream") {
        void recognizer.closeStream().then(() => {
          if (!record.closed) record.closed = { code: 1000, by: "server" };
          ws.close(1000);
        });
      }
    });
    ws.on("close", (code) => {
      clearTimeout(idleTimer);
      if (!record.closed) record.closed = { code, by: "client" };
      this.sockets.delete(record.index);
      this.changed();
    });
    this.changed();
  }

  private nextTranscript(): string {
    return this.transcripts.shift() ?? this.options.fallbackTranscript ?? "";
  }
}

/**
 * Turns received audio into Deepgram messages for one connection. Times are seconds of audio received on
 * this connection, as Deepgram counts them.
 */
class EnergyRecognizer implements Recognizer {
  private readonly encoding: string;
  private readonly sampleRate: number;
  private readonly samplesPerWindow: number;
  private readonly threshold: number;
  private readonly minSpeechWindows: number;
  private readonly endOfSpeechWindows: number;
  private readonly interimEvery: number;
  private readonly interimResults: boolean;
  private readonly vadEvents: boolean;
  private readonly utteranceEnd: number | undefined;
  private readonly requestId = randomUUID();
  private readonly modelUuid = randomUUID();

  private oddByte: number | undefined;
  private windowSquares = 0;
  private windowSamples = 0;
  private windows = 0;
  private loudRun = 0;
  private quietRun = 0;
  private speaking = false;
  private speechStart = 0;
  private lastLoudEnd = 0;
  private words: string[] = [];
  private interimsSent = 0;
  private nextInterimAt = 0;
  /** End of the last final result: the next result starts here. */
  private cursor = 0;
  private pendingUtteranceEnd: number | undefined;

  constructor(
    query: URLSearchParams,
    options: FakeDeepgramOptions,
    private readonly nextTranscript: () => string,
    private readonly send: (message: Record<string, unknown>) => void,
  ) {
    this.encoding = query.get("encoding") ?? "linear16";
    this.sampleRate = Number(query.get("sample_rate"));
    this.samplesPerWindow = Math.round(this.sampleRate * WINDOW_SECONDS);
    this.threshold = options.speechThreshold ?? 400;
    this.minSpeechWindows = Math.max(1, Math.round((options.minSpeechMs ?? 40) / 20));
    const endpointing = Number(query.get("endpointing"));
    const endOfSpeechMs = endpointing > 0 ? endpointing : (options.endOfSpeechMs ?? 300);
    this.endOfSpeechWindows = Math.max(1, Math.round(endOfSpeechMs / 20));
    this.interimEvery = (options.interimEveryMs ?? 500) / 1000;
    this.interimResults = query.get("interim_results") === "true";
    this.vadEvents = query.get("vad_events") === "true";
    const utteranceEndMs = Number(query.get("utterance_end_ms"));
    // Deepgram sends UtteranceEnd only with interim results on.
    this.utteranceEnd = utteranceEndMs > 0 && this.interimResults ? utteranceEndMs / 1000 : undefined;
  }

  private get now(): number {
    return this.windows * WINDOW_SECONDS + this.windowSamples / this.sampleRate;
  }

  feed(bytes: Buffer): void {
    for (const sample of this.decode(bytes)) {
      this.windowSquares += sample * sample;
      this.windowSamples++;
      if (this.windowSamples === this.samplesPerWindow) {
        const rms = Math.sqrt(this.windowSquares / this.windowSamples);
        this.windowSquares = 0;
        this.windowSamples = 0;
        this.windows++;
        this.onWindow(rms >= this.threshold);
      }
    }
  }

  finalize(): void {
    this.emitFinal({ speechFinal: false, fromFinalize: true });
  }

  async closeStream(): Promise<void> {
    if (this.speaking) this.emitFinal({ speechFinal: true, fromFinalize: false });
    this.send(metadataMessage(this.requestId, this.modelUuid, this.now));
  }

  private decode(bytes: Buffer): Int16Array | number[] {
    if (this.encoding === "mulaw") return mulawToPcm16(bytes);
    // linear16: little-endian; a sample may straddle two WebSocket messages.
    const samples: number[] = [];
    let i = 0;
    if (this.oddByte !== undefined && bytes.length > 0) {
      samples.push(((((bytes[0] as number) << 8) | this.oddByte) << 16) >> 16);
      this.oddByte = undefined;
      i = 1;
    }
    for (; i + 1 < bytes.length; i += 2) samples.push(bytes.readInt16LE(i));
    if (i < bytes.length) this.oddByte = bytes[i];
    return samples;
  }

  private onWindow(loud: boolean): void {
    const t = this.windows * WINDOW_SECONDS;
    if (!this.speaking) {
      this.loudRun = loud ? this.loudRun + 1 : 0;
      if (this.loudRun >= this.minSpeechWindows) this.startSpeech(t - this.loudRun * WINDOW_SECONDS);
      else if (this.pendingUtteranceEnd !== undefined && this.utteranceEnd !== undefined) {
        if (t - this.pendingUtteranceEnd >= this.utteranceEnd) {
          this.send({
            type: "UtteranceEnd",
            channel: [0, 1],
            last_word_end: round(this.pendingUtteranceEnd),
          });
          this.pendingUtteranceEnd = undefined;
        }
      }
      return;
    }
    if (loud) {
      this.quietRun = 0;
      this.lastLoudEnd = t;
    } else {
      this.quietRun++;
    }
    if (this.quietRun >= this.endOfSpeechWindows) {
      this.emitFinal({ speechFinal: true, fromFinalize: false });
      return;
    }
    if (this.interimResults && t >= this.nextInterimAt) {
      this.interimsSent++;
      this.nextInterimAt += this.interimEvery;
      const count = Math.min(this.words.length, this.interimsSent);
      this.sendResults(this.words.slice(0, count), this.speechStart, t, {
        isFinal: false,
        speechFinal: false,
      });
    }
  }

  private startSpeech(at: number): void {
    this.speaking = true;
    this.speechStart = at;
    this.lastLoudEnd = this.windows * WINDOW_SECONDS;
    this.quietRun = 0;
    this.interimsSent = 0;
    this.nextInterimAt = at + this.interimEvery;
    this.pendingUtteranceEnd = undefined;
    this.words = this.nextTranscript().split(/\s+/).filter(Boolean);
    if (this.vadEvents) this.send({ type: "SpeechStarted", channel: [0, 1], timestamp: round(at) });
  }

  private emitFinal(flags: { speechFinal: boolean; fromFinalize: boolean }): void {
    const words = this.speaking ? this.words : [];
    const end = this.speaking ? this.lastLoudEnd : this.now;
    this.sendResults(words, this.speechStart, end, { isFinal: true, ...flags });
    if (this.speaking && words.length > 0 && this.utteranceEnd !== undefined) this.pendingUtteranceEnd = end;
    this.speaking = false;
    this.loudRun = 0;
    this.cursor = this.now;
  }

  private sendResults(
    tokens: readonly string[],
    speechStart: number,
    speechEnd: number,
    flags: { isFinal: boolean; speechFinal: boolean; fromFinalize?: boolean },
  ): void {
    this.send(
      resultsMessage({
        tokens,
        speechStart,
        speechEnd,
        start: this.cursor,
        end: this.now,
        ...flags,
        requestId: this.requestId,
        modelUuid: this.modelUuid,
      }),
    );
  }
}

/**
 * Speech as the real Silero VAD hears it, through the segmenter the Whisper adapter uses. Frames are judged
 * one at a time in arrival order (each push waits for the VAD), so every message follows from the audio
 * alone. Times are seconds of audio received on the connection.
 */
class VadRecognizer implements Recognizer {
  private readonly segmenter: SpeechSegmenter;
  private readonly interimResults: boolean;
  private readonly vadEvents: boolean;
  private readonly utteranceEnd: number | undefined;
  private readonly requestId = randomUUID();
  private readonly modelUuid = randomUUID();
  /** Audio judged so far, in seconds. */
  private judged = 0;
  /** End of the last final result: the next result starts here. */
  private cursor = 0;
  /** The open utterance's words, from `speechStarted` to its final result. */
  private words: string[] | undefined;
  private interimsSent = 0;
  private pendingUtteranceEnd: number | undefined;
  /** A `Finalize` is flushing the segmenter: the segment it ends is `from_finalize`, not `speech_final`. */
  private finalizing = false;
  /** Every push, finalize and close, in order. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    query: URLSearchParams,
    vad: SileroVad,
    options: FakeDeepgramOptions,
    private readonly nextTranscript: () => string,
    private readonly send: (message: Record<string, unknown>) => void,
  ) {
    this.interimResults = query.get("interim_results") === "true";
    this.vadEvents = query.get("vad_events") === "true";
    const utteranceEndMs = Number(query.get("utterance_end_ms"));
    // Deepgram sends UtteranceEnd only with interim results on.
    this.utteranceEnd = utteranceEndMs > 0 && this.interimResults ? utteranceEndMs / 1000 : undefined;
    this.segmenter = createSpeechSegmenter({
      vad,
      ...(options.interimEveryMs === undefined ? {} : { interimEveryMs: options.interimEveryMs }),
      onEvent: (event) => {
        switch (event.type) {
          case "speechStarted":
            this.words = this.nextTranscript().split(/\s+/).filter(Boolean);
            this.interimsSent = 0;
            this.pendingUtteranceEnd = undefined;
            if (this.vadEvents)
              this.send({ type: "SpeechStarted", channel: [0, 1], timestamp: round(event.at) });
            break;
          case "speechUpdate":
            if (this.interimResults && this.words) {
              this.interimsSent++;
              this.sendResults(this.words.slice(0, this.interimsSent), event.start, event.end, event.end, {
                isFinal: false,
                speechFinal: false,
              });
            }
            break;
          case "speechEnded":
            this.final(event.start, event.end, { speechFinal: !event.cut, fromFinalize: false });
            break;
        }
      },
    });
  }

  feed(bytes: Buffer): void {
    this.enqueue(async () => {
      this.segmenter.push(bytes);
      await this.segmenter.drained();
      this.judged += bytes.length / 8000;
      if (
        this.words === undefined &&
        this.pendingUtteranceEnd !== undefined &&
        this.utteranceEnd !== undefined &&
        this.judged - this.pendingUtteranceEnd >= this.utteranceEnd
      ) {
        this.send({ type: "UtteranceEnd", channel: [0, 1], last_word_end: round(this.pendingUtteranceEnd) });
        this.pendingUtteranceEnd = undefined;
      }
    });
  }

  finalize(): void {
    this.enqueue(async () => {
      const open = this.words !== undefined;
      // An open segment ends now (as speechEnded, with from_finalize set below); none: an empty final.
      this.finalizing = true;
      await this.segmenter.flush();
      this.finalizing = false;
      if (!open) this.final(this.judged, this.judged, { speechFinal: false, fromFinalize: true });
    });
  }

  closeStream(): Promise<void> {
    return this.enqueue(async () => {
      await this.segmenter.flush();
      this.segmenter.close();
      this.send(metadataMessage(this.requestId, this.modelUuid, this.judged));
    });
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(step);
    return this.queue;
  }

  private final(start: number, end: number, flags: { speechFinal: boolean; fromFinalize: boolean }): void {
    const words = this.words ?? [];
    this.words = undefined;
    const fromFinalize = flags.fromFinalize || this.finalizing;
    this.sendResults(words, start, end, this.judged, {
      isFinal: true,
      speechFinal: fromFinalize ? false : flags.speechFinal,
      fromFinalize,
    });
    if (words.length > 0 && this.utteranceEnd !== undefined) this.pendingUtteranceEnd = end;
    this.cursor = Math.max(this.cursor, this.judged);
  }

  private sendResults(
    tokens: readonly string[],
    speechStart: number,
    speechEnd: number,
    now: number,
    flags: { isFinal: boolean; speechFinal: boolean; fromFinalize?: boolean },
  ): void {
    this.send(
      resultsMessage({
        tokens,
        speechStart,
        speechEnd,
        start: this.cursor,
        end: Math.max(now, this.cursor),
        ...flags,
        requestId: this.requestId,
        modelUuid: this.modelUuid,
      }),
    );
  }
}

/** A `Results` message as Deepgram sends it: words spread evenly over the speech, the result over [start, end]. */
function resultsMessage(result: {
  tokens: readonly string[];
  speechStart: number;
  speechEnd: number;
  start: number;
  end: number;
  isFinal: boolean;
  speechFinal: boolean;
  fromFinalize?: boolean;
  requestId: string;
  modelUuid: string;
}): Record<string, unknown> {
  const { tokens, speechStart, speechEnd } = result;
  const span = Math.max(speechEnd - speechStart, 0.02) / Math.max(tokens.length, 1);
  const words: Word[] = tokens.map((token, i) => ({
    word: token.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ""),
    start: round(speechStart + i * span),
    end: round(speechStart + (i + 0.9) * span),
    confidence: 0.98,
    punctuated_word: token,
  }));
  const transcript = tokens.join(" ");
  return {
    type: "Results",
    channel_index: [0, 1],
    duration: round(result.end - result.start),
    start: round(result.start),
    is_final: result.isFinal,
    speech_final: result.speechFinal,
    from_finalize: result.fromFinalize ?? false,
    channel: { alternatives: [{ transcript, confidence: transcript === "" ? 0 : 0.98, words }] },
    metadata: { request_id: result.requestId, model_info: MODEL_INFO, model_uuid: result.modelUuid },
  };
}

/** The `Metadata` Deepgram sends after `CloseStream`. */
function metadataMessage(
  requestId: string,
  modelUuid: string,
  durationSeconds: number,
): Record<string, unknown> {
  return {
    type: "Metadata",
    transaction_key: "deprecated",
    request_id: requestId,
    sha256: "incomplete",
    created: new Date(0).toISOString(),
    duration: round(durationSeconds),
    channels: 1,
    models: [modelUuid],
    model_info: { [modelUuid]: MODEL_INFO },
  };
}

function controlType(text: string): string {
  try {
    const parsed = JSON.parse(text) as { type?: unknown };
    return typeof parsed.type === "string" ? parsed.type : `(no type) ${text}`;
  } catch {
    return `(not JSON) ${text}`;
  }
}

function rejectUpgrade(socket: Socket, status: number, body: DeepgramErrorBody): void {
  const json = JSON.stringify(body);
  const reason =
    ({ 400: "Bad Request", 401: "Unauthorized", 404: "Not Found" } as Record<number, string>)[status] ??
    "Error";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ndg-error: ${body.err_msg}\r\n` +
      `content-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
  );
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
