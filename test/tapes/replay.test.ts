/**
 * Record → replay on calls driven step by step with fake engines: a replay does what the recording did, a
 * changed setting shows as a readable divergence, and timers that fired a little off their due time in the
 * recording keep their recorded order on replay.
 */
import { describe, expect, it } from "vitest";
import { replayTape } from "../../src/tapes/replay.js";
import { formatDivergence } from "../../src/tapes/tape-diff.js";
import { isOutput, type Tape } from "../../src/tapes/tape-format.js";
import { recordConversation, startRecordedCall } from "./recorded-call.js";

function outputsOf(tape: Tape): string[] {
  return tape.entries.filter(isOutput).map((entry) => entry.out);
}

describe("replaying a recorded call", () => {
  it("does exactly what the recorded call did: every output, in order, at its time", async () => {
    const tape = await recordConversation();
    // The tape covers what replay must reproduce: engine requests, a barge-in, an idle timer, marks.
    expect(outputsOf(tape)).toEqual(
      expect.arrayContaining(["llm.request", "tts.request", "clear", "timer", "mark"]),
    );

    const result = await replayTape(tape);

    expect(result.divergence).toBeUndefined();
    expect(result.replayedOutputs.map(({ t: _t, ...output }) => output)).toEqual(
      result.recordedOutputs.map(({ t: _t, ...output }) => output),
    );
    for (const [i, output] of result.replayedOutputs.entries())
      expect(output.t).toBe(result.recordedOutputs[i]?.t);
  });

  it("replays an STT failure, the goodbye it leads to and the REST hang-up", async () => {
    const call = startRecordedCall();
    await call.start();
    await call.advance(800);
    await call.playMarks();
    await call.advance(3000);
    await call.sttFails();
    await call.advance(900);
    await call.playMarks();
    await call.advance(100);
    const tape = call.tape();
    expect(tape.entries).toContainEqual(
      expect.objectContaining({
        in: "stt.failed",
        error: { engine: "stt", kind: "closed", message: "Deepgram closed the stream (1011)" },
      }),
    );
    expect(outputsOf(tape)).toContain("hangUp");
    expect(tape.entries).toContainEqual(expect.objectContaining({ in: "rest.done", req: 1 }));

    const result = await replayTape(tape);

    expect(result.divergence).toBeUndefined();
    expect(result.replayedOutputs.at(-1)).toMatchObject({ out: "stt.close" });
    expect(result.replayedOutputs).toContainEqual(
      expect.objectContaining({
        out: "emit",
        event: expect.objectContaining({ type: "callEnded", reason: "sttFailed" }),
      }),
    );
  });

  it("shows a stricter barge-in gate as a later barge-in, in a readable diff", async () => {
    const tape = await recordConversation();

    const result = await replayTape(tape, { overrides: { bargeInMinWords: 3 } });

    expect(result.divergence).toMatchObject({
      kind: "timing",
      recorded: { out: "emit", event: { type: "bargeIn" } },
      replayed: { out: "emit", event: { type: "bargeIn" } },
    });
    const diff = formatDivergence({
      source: "conversation.jsonl",
      divergence: result.divergence!,
      recordedEntries: tape.entries,
      recordedOutputs: result.recordedOutputs,
      replayedOutputs: result.replayedOutputs,
      toleranceMs: result.toleranceMs,
      overrides: { bargeInMinWords: 3 },
    });
    expect(diff).toContain("✗ conversation.jsonl: the replay diverged at output");
    expect(diff).toContain("(replayed with bargeInMinWords=3)");
    // The two-word interim that cut the agent off in the recording no longer does; the final result does.
    expect(diff).toContain(
      '"emit bargeIn {"turn":2,"heard":1,"sent":2,"estimatedWords":0}" happened 600.0 ms later than recorded',
    );
    expect(diff).toMatch(
      /in {3}stt\.interim "Oh wait" \([0-9.]+-[0-9.]+ s\)\n {2}recorded:\n {4}- +8200\.0 ms {2}out {2}emit bargeIn/,
    );
    expect(diff).toMatch(/replayed:\n {4}\+ +8800\.0 ms {2}out {2}emit bargeIn/);
  });

  it("shows a shorter idle timeout as an earlier reprompt", async () => {
    const tape = await recordConversation();

    const result = await replayTape(tape, { overrides: { idleRepromptMs: 6000 } });

    expect(result.divergence?.kind).toBe("timing");
    expect(result.divergence?.recorded).toMatchObject({
      out: "timer",
      event: expect.stringContaining("idleReprompt"),
    });
    expect((result.divergence?.recorded?.t ?? 0) - (result.divergence?.replayed?.t ?? 0)).toBe(2000);
  });

  it("shows a content change: the replayed call asks the LLM something else", async () => {
    const tape = await recordConversation();

    const result = await replayTape(tape, { overrides: { systemPrompt: "You are a pirate." } });

    expect(result.divergence).toMatchObject({ kind: "different", recorded: { out: "llm.request", req: 1 } });
    const diff = formatDivergence({
      source: "t",
      divergence: result.divergence!,
      recordedEntries: tape.entries,
      recordedOutputs: result.recordedOutputs,
      replayedOutputs: result.replayedOutputs,
      toleranceMs: result.toleranceMs,
    });
    expect(diff).toContain("the LLM requests' messages:");
    expect(diff).toContain('    - system    "You are a friendly receptionist');
    expect(diff).toContain('    + system    "You are a pirate."');
  });
});

describe("a recording made on a busy host", () => {
  it("replays identically though every output came 150 ms after what caused it, timers included", async () => {
    const tape = await recordConversation();
    // What a saturated machine leaves: the inputs at their times, everything the call did late.
    const slow: Tape = {
      ...tape,
      entries: tape.entries.map((entry) => (isOutput(entry) ? { ...entry, t: entry.t + 150 } : entry)),
    };
    expect(
      slow.entries.some((entry) => isOutput(entry) && entry.out === "timer" && entry.due !== undefined),
    ).toBe(true);

    expect((await replayTape(slow)).divergence).toBeUndefined();
    // A setting that moves a timer still shows, by its due time.
    const result = await replayTape(slow, { overrides: { idleRepromptMs: 6000 } });
    expect(result.divergence).toMatchObject({ kind: "timing", causedLaterMs: -2000 });
  });
});

describe("timers that fired off their due time in the recording", () => {
  /** A caller who speaks 15 ms after the idle reprompt was due; the recording's timer ran 30 ms late. */
  async function recordSpeechJustAfterIdleDeadline(
    timersLateMs: number,
    speakAfterDueMs: number,
  ): Promise<Tape> {
    const call = startRecordedCall({ timersLateMs, config: { idleRepromptMs: 5000 } });
    await call.start();
    await call.advance(1000);
    await call.playMarks();
    await call.advance(5000 + speakAfterDueMs);
    await call.says("Hello, is anyone there?");
    await call.advance(400);
    await call.replies("Hi! How can I help?");
    await call.advance(1500);
    await call.playMarks();
    await call.advance(200);
    await call.stop();
    return call.tape();
  }

  it("keeps an input that beat a late timer ahead of it", async () => {
    const tape = await recordSpeechJustAfterIdleDeadline(30, 15);
    expect(outputsOf(tape)).not.toContain("timer");

    expect((await replayTape(tape)).divergence).toBeUndefined();
    // Without the allowance the replay's exact timer fires first, and the call reprompts instead.
    const strict = await replayTape(tape, { timerJitterMs: 0 });
    expect(strict.divergence).toMatchObject({ kind: "different", replayed: { out: "timer" } });
  });

  it("fires a timer that beat an input by firing early", async () => {
    // The event loop's millisecond clock can run a timer up to a millisecond before its due time.
    const tape = await recordSpeechJustAfterIdleDeadline(-0.8, -0.3);
    expect(outputsOf(tape)).toContain("timer");

    expect((await replayTape(tape)).divergence).toBeUndefined();
    const strict = await replayTape(tape, { timerJitterMs: 0 });
    expect(strict.divergence).toMatchObject({ kind: "different", recorded: { out: "timer" } });
  });
});
