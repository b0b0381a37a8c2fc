/**
 * The call instrument that records every call as a tape file in one directory (`CALL_TAPES_DIR`), named
 * `<UTC start time>-<CallSid>.jsonl` so a listing sorts by time and a call is found by its SID.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type ReadableClock, realClock } from "../../machines/call-actor.js";
import type { CallConfig } from "../../machines/call-config.js";
import type { PhraseCache } from "../../machines/phrase-cache.js";
import type { CallInstrument } from "../observability/call-instrument.js";
import { AudioFingerprints } from "./audio-fingerprints.js";
import type { AudioRef } from "./tape-format.js";
import { CallTapeRecorder } from "./tape-recorder.js";
import { FileTapeSink } from "./tape-sinks.js";

export interface TapeRecorderInstrumentOptions {
  /** Created if missing. */
  dir: string;
  /** Keep raw audio (caller and agent) on the tapes: about 20 KB per second of call. Default false. */
  audio?: boolean;
  /** The server's phrase cache: each header says which fixed phrases were prepared when the call began. */
  phrases?: PhraseCache;
  /** The actor clock the calls run on. Default: the real one. */
  clock?: ReadableClock;
  /** Wall-clock time, for file names and headers. Default: `new Date()`. */
  wallClock?: () => Date;
}

export function createTapeRecorderInstrument(options: TapeRecorderInstrumentOptions): CallInstrument {
  try {
    mkdirSync(options.dir, { recursive: true });
  } catch (error) {
    throw new Error(`CALL_TAPES_DIR ${options.dir} cannot be created: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const clock = options.clock ?? realClock;
  const wallClock = options.wallClock ?? (() => new Date());
  const audio = options.audio ?? false;
  // Shared by every call: the fixed phrases' audio is the same buffers all day, hashed once.
  const fingerprints = new AudioFingerprints();

  return {
    attach({ start, config, log }) {
      const startedAt = wallClock();
      const path = join(
        options.dir,
        `${fileStamp(startedAt)}-${start.callSid.replace(/[^\w-]/g, "_")}.jsonl`,
      );
      let sink: FileTapeSink;
      try {
        sink = FileTapeSink.open(path);
      } catch (error) {
        log.warn({ err: error, tape: path }, "cannot record this call's tape; the call goes on without one");
        return {};
      }
      const recorder = new CallTapeRecorder({
        sink,
        clock,
        fingerprints,
        audio,
        onError: (error) =>
          log.warn(
            { err: error, tape: path },
            "writing the call tape failed; recording stopped, the call goes on",
          ),
      });
      return {
        wrapEngines(engines) {
          recorder.writeHeader({
            callId: start.callSid,
            callSid: start.callSid,
            streamSid: start.streamSid,
            recordedAt: startedAt.toISOString(),
            config,
            engines: { stt: engines.stt.name, llm: engines.llm.name, tts: engines.tts.name },
            phrases: phraseSnapshot(config, options.phrases, fingerprints, audio),
          });
          return recorder.wrapEngines(engines);
        },
        wrapClock: (actorClock) => recorder.wrapClock(actorClock),
        inspect: (event) => recorder.inspect(event),
        ended: () => recorder.end("stream closed"),
      };
    },
  };
}

/** `2025-01-31T09-05-07.123Z`: an ISO time that is also a portable file name. */
function fileStamp(date: Date): string {
  return date.toISOString().replace(/:/g, "-");
}

/** Which fixed phrases the call can speak from the cache (the rest go through live TTS, which is on tape). */
function phraseSnapshot(
  config: CallConfig,
  phrases: PhraseCache | undefined,
  fingerprints: AudioFingerprints,
  audio: boolean,
): Record<string, AudioRef | null> {
  const snapshot: Record<string, AudioRef | null> = {};
  for (const text of Object.values(config.phrases)) {
    const cached = phrases?.get(text);
    snapshot[text] = cached
      ? {
          bytes: cached.length,
          sha: fingerprints.of(cached),
          ...(audio ? { audio: Buffer.from(cached).toString("base64") } : {}),
        }
      : null;
  }
  return snapshot;
}
