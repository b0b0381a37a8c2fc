/**
 * One Twilio Media Streams socket: parses what Twilio sends, refuses streams that did not come through our
 * signed webhook, hands a validated call to the call factory, and writes the only three outbound messages.
 *
 * Everything a single bad frame can do stays inside this call: it is logged with the call's id and dropped.
 */
import type { WebSocket } from "ws";
import { MULAW_FRAME_BYTES } from "../audio/frames.js";
import type { Log } from "../logger.js";
import {
  buildClearMessage,
  buildMarkMessage,
  buildMediaMessage,
  type DropKind,
  decodeMediaPayload,
  type InboundMessage,
  parseInboundMessage,
  type StartMessage,
} from "./media-stream-protocol.js";
import type { StreamTokens } from "./stream-token.js";

/** What a validated `start` tells us about the call. */
export interface StreamStart {
  callSid: string;
  streamSid: string;
  accountSid?: string;
  from?: string;
  to?: string;
  customParameters: Record<string, string>;
}

/** The outbound half of the socket, as the call sees it. */
export interface StreamOutput {
  sendMedia(mulaw: Uint8Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  close(): void;
}

/** What the rest of the server does with a call once its stream is accepted. */
export interface CallHandler {
  /** One inbound frame of mulaw 8 kHz. The buffer is reused for the next frame: copy it to keep it. */
  onAudio(frame: Uint8Array): void;
  onMark(name: string): void;
  onDtmf(digit: string): void;
  /** Twilio said the stream stopped (the caller hung up or the call was redirected). */
  onStop(): void;
  /** The socket is gone. Called exactly once, after `onStop` if there was one. */
  onClose(): void;
}

export type CallFactory = (start: StreamStart, output: StreamOutput, log: Log) => CallHandler;

export interface MediaStreamSessionOptions {
  socket: WebSocket;
  log: Log;
  createCall: CallFactory;
  /** When set, `start.customParameters.token` must be a valid token for `start.callSid`. */
  tokens?: StreamTokens;
  /** Told of every dropped message and refused stream (metrics), and of the call starting. */
  observer?: {
    dropped(kind: DropKind): void;
    refused(reason: string): void;
    started?(): void;
    timedOut?(): void;
  };
  /**
   * When set, a stream that has not started a call when this fires is closed: a socket that says nothing
   * holds a file descriptor for nothing. Returns a cancel function.
   */
  startDeadline?: (onExpired: () => void) => () => void;
}

/** After this many bad messages on one stream, further ones are counted, not logged line by line. */
const LOGGED_BAD_MESSAGES = 20;
/** Twilio frames are 160 bytes; one outbound-size second of audio is the most we accept in one message. */
const MAX_FRAME_BYTES = 8000;
/** WebSocket close code for a stream we refuse (RFC 6455 policy violation). */
const CLOSE_POLICY_VIOLATION = 1008;

/**
 * The TCP socket under a ws WebSocket, to cork. ws writes each message with its own system call; a chunk of
 * many frames (the greeting, a whole sentence from a non-streaming TTS: 50 to 150 frames) goes out in one write
 * when the socket is corked around them (a 50-frame chunk: 5 to 12 µs of CPU per frame before, 1 to 2 after).
 * ws has kept the socket as `_socket` since its first versions, but it is not a public API: if it is ever
 * missing, frames simply go out one write each, as before.
 */
function corkableTransportOf(socket: WebSocket): { cork(): void; uncork(): void } | undefined {
  const transport = (socket as unknown as { _socket?: unknown })._socket;
  if (
    typeof transport === "object" &&
    transport !== null &&
    typeof (transport as { cork?: unknown }).cork === "function" &&
    typeof (transport as { uncork?: unknown }).uncork === "function"
  ) {
    return transport as { cork(): void; uncork(): void };
  }
  return undefined;
}

export function handleMediaStream(options: MediaStreamSessionOptions): void {
  const { socket, createCall, tokens } = options;
  let log = options.log;
  let call: CallHandler | undefined;
  let streamSid: string | undefined;
  let closed = false;
  let stopped = false;
  let badMessages = 0;
  const cancelStartDeadline = options.startDeadline?.(() => {
    if (call || closed) return;
    options.observer?.timedOut?.();
    log.warn("closed media stream: no start message in time");
    socket.close(CLOSE_POLICY_VIOLATION, "no start");
  });
  // One buffer for every inbound frame of this stream: the audio path allocates nothing per frame.
  const frame = Buffer.allocUnsafe(MAX_FRAME_BYTES);

  const dropped = (kind: DropKind, reason: string, event?: string) => {
    badMessages += 1;
    options.observer?.dropped(kind);
    if (badMessages <= LOGGED_BAD_MESSAGES) {
      log.warn({ event, badMessages }, `dropped Twilio message: ${reason}`);
    } else if (badMessages % 1000 === 0) {
      log.warn({ badMessages }, "still dropping malformed Twilio messages on this stream");
    }
  };

  const send = (text: string) => {
    if (!closed && socket.readyState === socket.OPEN) socket.send(text);
  };

  const transport = corkableTransportOf(socket);
  const output: StreamOutput = {
    sendMedia: (mulaw) => {
      if (!streamSid) return;
      const batched = mulaw.length > MULAW_FRAME_BYTES && transport !== undefined;
      if (batched) transport.cork();
      try {
        // 20 ms messages, as Twilio sends them: Twilio would take larger ones, but equal frames keep its
        // playback buffer, our media counters and a recorded tape in the same units.
        for (let offset = 0; offset < mulaw.length; offset += MULAW_FRAME_BYTES) {
          send(buildMediaMessage(streamSid, mulaw.subarray(offset, offset + MULAW_FRAME_BYTES)));
        }
      } finally {
        if (batched) transport.uncork();
      }
    },
    sendMark: (name) => streamSid && send(buildMarkMessage(streamSid, name)),
    sendClear: () => streamSid && send(buildClearMessage(streamSid)),
    close: () => socket.close(1000, "call ended"),
  };

  const refuse = (reason: "missing" | "malformed" | "expired" | "wrong call" | "reused") => {
    options.observer?.refused(reason);
    log.warn(
      { reason: `stream token ${reason}` },
      "refused media stream: it did not come through our webhook",
    );
    socket.close(CLOSE_POLICY_VIOLATION, "unauthorized stream");
  };

  const onStart = (message: StartMessage) => {
    if (call) return dropped("out_of_order", "a second start on the same stream", "start");
    const { start } = message;
    log = log.child({ callSid: start.callSid, streamSid: message.streamSid });
    if (tokens) {
      const check = tokens.verify(start.customParameters.token, start.callSid);
      if (!check.ok) return refuse(check.reason);
    }
    const encoding = start.mediaFormat?.encoding;
    if (encoding && encoding !== "audio/x-mulaw") {
      log.warn({ encoding }, "unexpected media encoding; treating the audio as mulaw 8 kHz");
    }
    streamSid = message.streamSid;
    const { token: _token, ...visibleParameters } = start.customParameters;
    try {
      call = createCall(
        {
          callSid: start.callSid,
          streamSid: message.streamSid,
          accountSid: start.accountSid,
          from: start.customParameters.from,
          to: start.customParameters.to,
          customParameters: visibleParameters,
        },
        output,
        log,
      );
      cancelStartDeadline?.();
      options.observer?.started?.();
    } catch (error) {
      log.error({ err: error }, "could not start the call; closing its stream");
      socket.close(1011, "internal error");
    }
  };

  const dispatch = (message: InboundMessage) => {
    switch (message.event) {
      case "connected":
        return;
      case "start":
        return onStart(message);
      case "media": {
        if (!call) return dropped("out_of_order", "media before start", "media");
        const length = decodeMediaPayload(message.media.payload, frame);
        if (typeof length === "string") return dropped("bad_audio", length, "media");
        return call.onAudio(frame.subarray(0, length));
      }
      case "mark":
        if (!call) return dropped("out_of_order", "mark before start", "mark");
        return call.onMark(message.mark.name);
      case "dtmf":
        if (!call) return dropped("out_of_order", "dtmf before start", "dtmf");
        return call.onDtmf(message.dtmf.digit);
      case "stop":
        if (stopped) return;
        stopped = true;
        call?.onStop();
        return;
    }
  };

  socket.on("message", (data, isBinary) => {
    if (isBinary) return dropped("binary", "binary frame (Twilio sends JSON text)");
    const parsed = parseInboundMessage(data.toString());
    if (!parsed.ok) return dropped(parsed.kind, parsed.reason);
    try {
      dispatch(parsed.message);
    } catch (error) {
      // A bug in the call's handling of one message must not take the stream (or the process) down.
      log.error({ err: error, event: parsed.message.event }, "error while handling a Twilio message");
    }
  });

  socket.on("error", (error) => log.warn({ err: error }, "media stream socket error"));

  socket.on("close", (code) => {
    closed = true;
    cancelStartDeadline?.();
    log.info({ code, badMessages }, "media stream closed");
    if (!call) return;
    try {
      call.onClose();
    } catch (error) {
      log.error({ err: error }, "error while ending the call");
    }
  });
}
