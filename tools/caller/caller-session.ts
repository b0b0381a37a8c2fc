/**
 * The media stream half of a simulated call, after the webhook: Twilio's side of one bidirectional stream.
 *
 * One 20 ms tick drives everything, as Twilio's own media clock does: each tick sends one caller frame (the
 * current utterance, or silence between utterances: Twilio never stops sending) and plays one frame of the
 * agent's queued audio, echoing marks whose audio has played. Between ticks, messages from the server are
 * queued, or acted on at once for `clear` and for marks with nothing ahead of them.
 *
 * Turn-taking: before each utterance the caller waits for the agent to answer (its audio started, then
 * played out, every mark echoed, and a short pause), or only `bargeInAfterMs` after the answer started, or
 * gives up waiting after `replyTimeoutMs`. After the last utterance and its answer it hangs up.
 */
import type { WebSocket } from "ws";
import { parseMarkName } from "../../machines/playback-ledger.js";
import { FRAME_MS, MULAW_FRAME_BYTES } from "../../src/audio/frames.js";
import { MULAW_SILENCE } from "../../src/audio/mulaw.js";
import { AgentPlayback } from "./agent-playback.js";
import { CallRecording } from "./call-recording.js";
import type { CallCounts, CallEnd, CallEvent, SessionOutcome, TurnResult } from "./call-result.js";
import type { CallerUtterance } from "./caller-audio.js";
import type { CallerClock } from "./clock.js";
import { fetchServerTranscript, type TranscriptLine } from "./server-transcript.js";
import type { TwilioStreamEncoder } from "./stream-messages.js";

export interface TurnTakingOptions {
  /** Wait for the agent's greeting before the first utterance. */
  waitForGreeting: boolean;
  /** Start the next utterance this long after the agent's answer started, talking over it. */
  bargeInAfterMs?: number;
  /** Hang up this long after `start`, whatever is happening. */
  hangupAfterMs?: number;
  /** How long to wait for the agent to start answering before going on without an answer. */
  replyTimeoutMs: number;
  /** Silence after the agent finished before the caller speaks again. */
  pauseAfterReplyMs: number;
}

export interface CallerSessionOptions extends TurnTakingOptions {
  socket: WebSocket;
  encoder: TwilioStreamEncoder;
  customParameters: Record<string, string>;
  utterances: readonly CallerUtterance[];
  clock: CallerClock;
  signal?: AbortSignal;
  /** Where to read the server's transcript from just before hanging up; none when absent. */
  transcriptSource?: { serverUrl: string; apiKey?: string };
  onEvent?: (event: CallEvent) => void;
}

type Phase =
  | { kind: "speaking"; utterance: number; offset: number }
  | {
      kind: "waiting";
      since: number;
      /** False only before a first utterance that does not wait for a greeting. */
      forAgent: boolean;
      greeting: boolean;
      /** First agent audio received during this wait. */
      answerStartedAt?: number;
    }
  | { kind: "hanging-up"; reason: "finished" | "hangup-timer"; transcriptReady: boolean };

/** A protocol error is logged in the timeline this many times; later ones are only counted. */
const MAX_LOGGED_PROTOCOL_ERRORS = 20;

export class CallerSession {
  private readonly playback = new AgentPlayback();
  private readonly recording = new CallRecording();
  private readonly callerFrame = new Uint8Array(MULAW_FRAME_BYTES);
  private readonly silence = new Uint8Array(MULAW_FRAME_BYTES).fill(MULAW_SILENCE);
  private readonly agentFrame = new Uint8Array(MULAW_FRAME_BYTES);
  private readonly timeline: CallEvent[] = [];
  private readonly turns: TurnResult[] = [];
  private readonly counts: CallCounts = {
    framesSent: 0,
    framesReceived: 0,
    agentBytesReceived: 0,
    agentBytesPlayed: 0,
    marksReceived: 0,
    marksEchoed: 0,
    clears: 0,
    protocolErrors: 0,
  };
  /** Wakes the tick loop when the call ends between ticks (server hung up, caller aborted). */
  private readonly wake = new AbortController();
  private origin = 0;
  private phase: Phase;
  private nextUtterance = 0;
  private greetingLatencyMs: number | null = null;
  /** When the agent's playback last ran empty; undefined while something is queued. */
  private idleSince: number | undefined = 0;
  /**
   * The turn whose answer was taken from audio no mark has followed yet: the mark says which caller turn the
   * server was answering, and audio for a turn it had already answered (the reprompt "Are you still there?"
   * to a caller it did not hear) is no answer to this one.
   */
  private unconfirmedAnswer: TurnResult | undefined;
  private answeredServerTurn = 0;
  private transcript: TranscriptLine[] | undefined;
  private ended: CallEnd | undefined;

  constructor(private readonly options: CallerSessionOptions) {
    this.phase = { kind: "waiting", since: 0, forAgent: options.waitForGreeting, greeting: true };
  }

  async run(): Promise<SessionOutcome> {
    const { socket, encoder, clock, signal } = this.options;
    socket.on("message", (data, isBinary) => this.receive(data, isBinary));
    socket.on("close", (code, reason) => this.serverClosed(code, reason.toString()));
    socket.on("error", () => {}); // a reset shows up as 'close' (1006), which ends the call
    const onAbort = () => this.hangUp("aborted");
    signal?.addEventListener("abort", onAbort, { once: true });

    this.send(encoder.connected());
    this.send(encoder.start(this.options.customParameters));
    this.origin = clock.now();
    if (signal?.aborted) this.hangUp("aborted");
    // Frame n goes out once its 20 ms have been "captured": at origin + n * 20, never drifting.
    for (let frame = 1; !this.ended; frame++) {
      await clock.sleepUntil(this.origin + frame * FRAME_MS, this.wake.signal);
      if (!this.ended) this.tick();
    }
    signal?.removeEventListener("abort", onAbort);
    await closeSocket(socket);
    return {
      greetingLatencyMs: this.greetingLatencyMs,
      turns: this.turns,
      counts: this.counts,
      durationMs: this.recording.durationMs,
      ended: this.ended as CallEnd,
      recording: this.recording,
      transcript: this.transcript,
      timeline: this.timeline,
    };
  }

  private now(): number {
    return this.options.clock.now() - this.origin;
  }

  private tick(): void {
    const at = this.now();
    this.decide(at);
    if (this.ended) return;
    const frame = this.nextCallerFrame(at);
    this.send(this.options.encoder.media(frame));
    this.counts.framesSent += 1;
    this.counts.agentBytesPlayed += this.playback.play(this.agentFrame, this.echoMark);
    this.recording.appendFrame(frame, this.agentFrame);
    if (this.playback.idle) this.idleSince ??= at;
  }

  /**
   * Between utterances: whether to speak now, keep waiting, or hang up. `at` is the tick's time, the end of
   * the 20 ms the next frame carries; what that frame holds starts on the line at `at - FRAME_MS`.
   */
  private decide(at: number): void {
    const { hangupAfterMs, bargeInAfterMs, replyTimeoutMs, pauseAfterReplyMs } = this.options;
    const phase = this.phase;
    const lineTime = at - FRAME_MS;
    if (phase.kind === "hanging-up") {
      if (phase.transcriptReady) this.hangUp(phase.reason);
      return;
    }
    if (hangupAfterMs !== undefined && lineTime >= hangupAfterMs) {
      this.beginHangUp("hangup-timer");
      return;
    }
    if (phase.kind === "speaking") return;

    let goOn: boolean;
    if (!phase.forAgent) goOn = true;
    else if (phase.answerStartedAt === undefined) goOn = lineTime - phase.since >= replyTimeoutMs;
    else {
      const moreToSay = this.nextUtterance < this.options.utterances.length;
      const bargeIn =
        bargeInAfterMs !== undefined &&
        !phase.greeting &&
        moreToSay &&
        lineTime - phase.answerStartedAt >= bargeInAfterMs;
      const answered =
        this.playback.idle && this.idleSince !== undefined && lineTime - this.idleSince >= pauseAfterReplyMs;
      goOn = bargeIn || answered;
    }
    if (!goOn) return;
    if (this.nextUtterance < this.options.utterances.length) this.startUtterance(lineTime);
    else this.beginHangUp("finished");
  }

  private startUtterance(at: number): void {
    const utterance = this.nextUtterance;
    this.nextUtterance += 1;
    const overAgent = !this.playback.idle;
    this.phase = { kind: "speaking", utterance, offset: 0 };
    this.turns.push({
      utterance: (this.options.utterances[utterance] as CallerUtterance).name,
      startedAt: at,
      speechEndedAt: null,
      overAgent,
      firstAgentAudioAt: null,
      latencyMs: null,
    });
    this.record({ type: "utterance-started", utterance, overAgent }, at);
  }

  /** The next 20 ms of the caller: the current utterance (its last frame padded with silence) or silence. */
  private nextCallerFrame(at: number): Uint8Array {
    const phase = this.phase;
    if (phase.kind !== "speaking") return this.silence;
    const audio = (this.options.utterances[phase.utterance] as CallerUtterance).mulaw;
    const piece = audio.subarray(phase.offset, phase.offset + MULAW_FRAME_BYTES);
    this.callerFrame.set(piece);
    this.callerFrame.fill(MULAW_SILENCE, piece.length);
    phase.offset += MULAW_FRAME_BYTES;
    if (phase.offset >= audio.length) {
      (this.turns.at(-1) as TurnResult).speechEndedAt = at;
      this.record({ type: "utterance-ended", utterance: phase.utterance }, at);
      this.phase = { kind: "waiting", since: at, forAgent: true, greeting: false };
    }
    return this.callerFrame;
  }

  private beginHangUp(reason: "finished" | "hangup-timer"): void {
    const source = this.options.transcriptSource;
    if (!source) {
      this.hangUp(reason);
      return;
    }
    // Read the transcript while the call still exists on the server; keep the line alive meanwhile.
    const phase: Phase = { kind: "hanging-up", reason, transcriptReady: false };
    this.phase = phase;
    const callSid = this.options.encoder.callSid;
    void fetchServerTranscript({ ...source, callSid }).then((transcript) => {
      this.transcript = transcript;
      phase.transcriptReady = true;
    });
  }

  private hangUp(reason: "finished" | "hangup-timer" | "aborted"): void {
    if (this.ended) return;
    const at = this.now();
    this.send(this.options.encoder.stop());
    this.end({ by: "caller", reason });
    this.record({ type: "hung-up", reason }, at);
  }

  private serverClosed(code: number, reason: string): void {
    if (this.ended) return;
    const at = this.now();
    this.end({ by: "server", code, reason });
    this.record({ type: "server-closed", code, reason }, at);
  }

  private end(ended: CallEnd): void {
    this.ended = ended;
    this.wake.abort();
  }

  private receive(data: unknown, isBinary: boolean): void {
    if (this.ended) return;
    if (isBinary) {
      this.protocolError("binary frame (Twilio accepts JSON text only)");
      return;
    }
    let message: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(String(data));
      if (typeof parsed !== "object" || parsed === null) throw new Error("not an object");
      message = parsed as Record<string, unknown>;
    } catch {
      this.protocolError("a message that is not a JSON object");
      return;
    }
    const { event } = message;
    if (event !== "media" && event !== "mark" && event !== "clear") {
      this.protocolError(`outbound event ${JSON.stringify(event)} (Twilio error 31924)`);
      return;
    }
    if (message.streamSid !== this.options.encoder.streamSid) {
      this.protocolError(`${event} for stream ${JSON.stringify(message.streamSid)}, not this call's`);
      return;
    }
    switch (event) {
      case "media":
        this.receiveMedia(message.media);
        break;
      case "mark":
        this.receiveMark(message.mark);
        break;
      case "clear":
        this.counts.clears += 1;
        this.record({ type: "clear", droppedBytes: this.playback.bufferedBytes }, this.now());
        this.playback.clear(this.echoMark);
        break;
    }
  }

  private receiveMedia(media: unknown): void {
    const payload = (media as { payload?: unknown } | undefined)?.payload;
    if (typeof payload !== "string" || payload.length === 0 || !BASE64.test(payload)) {
      this.protocolError("media without a base64 payload");
      return;
    }
    const audio = Buffer.from(payload, "base64");
    const at = this.now();
    this.counts.framesReceived += 1;
    this.counts.agentBytesReceived += audio.length;
    if (this.playback.idle) this.record({ type: "agent-audio-started" }, at);
    const phase = this.phase;
    if (phase.kind === "waiting" && phase.answerStartedAt === undefined) phase.answerStartedAt = at;
    if (this.turns.length === 0) this.greetingLatencyMs ??= at;
    const lastTurn = this.turns.at(-1);
    if (lastTurn && lastTurn.speechEndedAt !== null && lastTurn.firstAgentAudioAt === null) {
      lastTurn.firstAgentAudioAt = at;
      lastTurn.latencyMs = at - lastTurn.speechEndedAt;
      this.unconfirmedAnswer = lastTurn;
    }
    this.playback.enqueueAudio(audio);
    this.idleSince = undefined;
  }

  private receiveMark(mark: unknown): void {
    const name = (mark as { name?: unknown } | undefined)?.name;
    if (typeof name !== "string") {
      this.protocolError("mark without a name");
      return;
    }
    this.counts.marksReceived += 1;
    this.checkAnswer(name);
    this.record({ type: "mark-received", name, bufferedBytes: this.playback.bufferedBytes }, this.now());
    this.playback.enqueueMark(name, this.echoMark);
  }

  /**
   * Confirms or withdraws the answer taken from the audio before this mark. Withdrawn when the mark names a
   * caller turn the server had already answered; a mark that is not the server's
   * `t<turn>-s<segment>-g<generation>` (another server, or none at all) leaves the answer as it is.
   */
  private checkAnswer(markName: string): void {
    const mark = parseMarkName(markName);
    const turn = this.unconfirmedAnswer;
    this.unconfirmedAnswer = undefined;
    if (mark === undefined) return;
    const answersNewTurn = mark.turn > this.answeredServerTurn;
    this.answeredServerTurn = Math.max(this.answeredServerTurn, mark.turn);
    if (turn !== undefined && !answersNewTurn) {
      turn.firstAgentAudioAt = null;
      turn.latencyMs = null;
    }
  }

  private readonly echoMark = (name: string): void => {
    this.send(this.options.encoder.mark(name));
    this.counts.marksEchoed += 1;
    this.record({ type: "mark-echoed", name }, this.now());
  };

  private protocolError(reason: string): void {
    this.counts.protocolErrors += 1;
    if (this.counts.protocolErrors <= MAX_LOGGED_PROTOCOL_ERRORS) {
      this.record({ type: "protocol-error", reason }, this.now());
    }
  }

  private record(event: DistributiveOmit<CallEvent, "at" | "frame">, at: number): void {
    const full = { ...event, at, frame: this.counts.framesSent } as CallEvent;
    this.timeline.push(full);
    this.options.onEvent?.(full);
  }

  private send(text: string): void {
    const { socket } = this.options;
    if (socket.readyState === socket.OPEN) socket.send(text);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Closes with 1000 as Twilio does after `stop`, and waits (briefly) for the close handshake. */
async function closeSocket(socket: WebSocket): Promise<void> {
  if (socket.readyState === socket.CLOSED) return;
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  if (socket.readyState !== socket.CLOSING) socket.close(1000);
  const timer = setTimeout(() => socket.terminate(), 2000);
  await closed;
  clearTimeout(timer);
}
