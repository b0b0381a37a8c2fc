/**
 * Replays a tape: a fresh call actor on a simulated clock, its engines replaced by players that answer from
 * the tape, fed the recorded inputs at their recorded times; the same recorder that made the tape writes down
 * what the replayed actor does, and the two output sequences are compared.
 *
 * Time: the clock only moves when the driver moves it, to each input's recorded time, stopping at every
 * timer due on the way so the timer fires at its own due time. A real timer fires a little late (or, by a
 * rounding of the event loop's clock, a little early); an input that landed in that gap came before the timer
 * in the recording and must come before it in the replay too. The tape says which: it records every timer
 * that fired, in order with the inputs. So within `timerJitterMs` of a due time the recording's order wins;
 * beyond it the replayed actor's own timers decide, which is how a changed setting shows.
 *
 * Between two inputs the driver lets every promise of the actor, its children and the players settle: the
 * players do no I/O, so whatever an input causes is done before the next one arrives.
 */

import { createCallActor } from "../../machines/call-actor.js";
import type { CallConfig } from "../../machines/call-config.js";
import type { CallEvent } from "../../machines/call-types.js";
import { AudioFingerprints } from "./audio-fingerprints.js";
import { ReplayClock } from "./replay-clock.js";
import { type Divergence, findDivergence } from "./tape-diff.js";
import {
  isInput,
  isOutput,
  parseTape,
  type Tape,
  type TapeEntry,
  type TapeInput,
  type TapeOutput,
  tapeCallConfig,
} from "./tape-format.js";
import { type EngineInput, TapePlayers } from "./tape-players.js";
import { CallTapeRecorder } from "./tape-recorder.js";
import { MemoryTapeSink } from "./tape-sinks.js";

export interface ReplayOptions {
  /** Settings replacing the tape's: "would this call have gone the same with …?" */
  overrides?: Partial<CallConfig>;
  /** How far a replayed output's time may be from the recorded one and still match. Default 100 ms. */
  toleranceMs?: number;
  /** How late (or early) a recorded timer may have fired and still keep its recorded order. Default 50 ms. */
  timerJitterMs?: number;
}

export const DEFAULT_TOLERANCE_MS = 100;
export const DEFAULT_TIMER_JITTER_MS = 50;

export interface ReplayResult {
  tape: Tape;
  /** The configuration the replay ran with (the tape's, with the overrides). */
  config: CallConfig;
  recordedOutputs: TapeOutput[];
  replayed: TapeEntry[];
  replayedOutputs: TapeOutput[];
  /** Where the replay first differs from the recording; undefined when it did the same. */
  divergence: Divergence | undefined;
  /** The replayed actor crashed (a bug in the statechart); the replay stopped there. */
  actorError: unknown;
  toleranceMs: number;
}

export async function replayTape(tape: Tape, options: ReplayOptions = {}): Promise<ReplayResult> {
  const toleranceMs = options.toleranceMs ?? DEFAULT_TOLERANCE_MS;
  const jitterMs = options.timerJitterMs ?? DEFAULT_TIMER_JITTER_MS;
  const config = tapeCallConfig(tape.header, options.overrides);

  const clock = new ReplayClock();
  const fingerprints = new AudioFingerprints();
  const sink = new MemoryTapeSink();
  const recorder = new CallTapeRecorder({ sink, clock, fingerprints });
  const players = new TapePlayers(tape.header, fingerprints);
  const { format: _format, version: _version, audio: _audio, ...header } = tape.header;
  recorder.writeHeader({ ...header, config });

  const { actor } = createCallActor({
    callId: tape.header.callId,
    engines: recorder.wrapEngines(players.engines),
    config,
    phrases: players.phrases,
    clock: recorder.wrapClock(clock),
    inspect: (event) => recorder.inspect(event),
  });
  let actorError: unknown;
  actor.subscribe({ error: (error) => (actorError = error) });
  actor.start();

  /** Moves the clock to `time`, firing the timers due on the way (see the header comment on jitter). */
  const advance = async (time: number, recordedTimers: number) => {
    for (;;) {
      const due = clock.nextDue();
      if (due === undefined) break;
      const recordingFiredMore = recorder.timersFired < recordedTimers;
      const fire =
        due <= time
          ? recordingFiredMore || time - due > jitterMs
          : recordingFiredMore && due - time <= jitterMs;
      if (!fire) break;
      clock.fireNext();
      await settle();
    }
    clock.moveTo(time);
  };

  let recordedTimers = 0;
  for (const entry of tape.entries) {
    if (actorError !== undefined) break;
    if (isOutput(entry)) {
      if (entry.out === "timer") recordedTimers += 1;
      continue;
    }
    if (!isInput(entry) || entry.in === "audio.in") continue;
    await advance(entry.t, recordedTimers);
    const event = twilioEvent(entry);
    if (!event) players.deliver(entry as EngineInput);
    // As the stream route does: once the call is over, Twilio's late messages reach nobody.
    else if (actor.getSnapshot().status === "active") actor.send(event);
    await settle();
  }
  const last = tape.entries.at(-1);
  if (last && actorError === undefined) await advance(last.t, recordedTimers);
  recorder.end("replayed");
  actor.stop();

  const replayed = parseTape(sink.text, `${tape.source} (replay)`).entries;
  const recordedOutputs = tape.entries.filter(isOutput);
  const replayedOutputs = replayed.filter(isOutput);
  return {
    tape,
    config,
    recordedOutputs,
    replayed,
    replayedOutputs,
    divergence: findDivergence(tape.entries, replayed, toleranceMs),
    actorError,
    toleranceMs,
  };
}

/** The actor event a Twilio-side input was; undefined for engine inputs. */
function twilioEvent(entry: TapeInput): CallEvent | undefined {
  switch (entry.in) {
    case "twilio.start":
      return {
        type: "twilio.start",
        callSid: entry.callSid,
        streamSid: entry.streamSid,
        customParameters: entry.customParameters,
      };
    case "twilio.mark":
      return { type: "twilio.mark", name: entry.name };
    case "twilio.dtmf":
      return { type: "twilio.dtmf", digit: entry.digit };
    case "twilio.stop":
      return { type: "twilio.stop" };
    case "socket.closed":
      return { type: "socket.closed" };
    default:
      return undefined;
  }
}

/** Lets every promise callback the last step caused run (the players never wait on real I/O). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
