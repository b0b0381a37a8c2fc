import { describe, expect, it } from "vitest";
import type { LatencyStage } from "../../src/metrics.js";
import { LatencyTracker } from "../../src/observability/latency-tracker.js";

/** A tracker on a clock the test moves by hand, and every stage it measured, in order. */
function tracker() {
  const clock = { time: 1000, now: () => clock.time };
  const measured: Array<[LatencyStage, number]> = [];
  const latency = new LatencyTracker(clock, (stage, ms) => measured.push([stage, ms]));
  /** One second of caller audio, a 20 ms frame at a time, as Twilio delivers it. */
  const talkOneSecond = () => {
    for (let i = 0; i < 50; i += 1) {
      clock.time += 20;
      latency.callerAudio(160);
    }
  };
  return { clock, measured, latency, talkOneSecond };
}

describe("latency tracker", () => {
  it("places the end of speech on the clock through the audio sent, and measures the turn and the reply from it", () => {
    const { clock, measured, latency, talkOneSecond } = tracker();
    talkOneSecond(); // audio 0..1 s arrived at 1000..2000
    clock.time = 2300;
    latency.callerWords(0.6); // 0.6 s into the stream: that frame arrived at 1600
    clock.time = 2500;
    latency.turnTaken(1);
    clock.time = 3000;
    latency.replyAudioStarted(1);
    expect(measured).toEqual([
      ["endOfTurn", 900],
      ["voiceToVoice", 1400],
    ]);
  });

  it("takes UtteranceEnd's last word end while the turn is open, and ignores it once the turn was taken", () => {
    const { clock, measured, latency, talkOneSecond } = tracker();
    talkOneSecond();
    latency.callerWords(1.0); // arrived at 2000
    latency.lastWordEnded(0.8); // 1800: finer
    clock.time = 2100;
    latency.turnTaken(1);
    latency.lastWordEnded(0.9); // late: belongs to no open turn
    latency.turnTaken(2);
    expect(measured).toEqual([["endOfTurn", 300]]);
  });

  it("never places speech after the moment it was reported, and uses that moment when no audio was counted", () => {
    const { clock, measured, latency, talkOneSecond } = tracker();
    clock.time = 1500;
    latency.callerWords(3);
    clock.time = 1700;
    latency.turnTaken(1);
    talkOneSecond(); // until 2700
    latency.callerWords(5); // beyond the audio sent: a recogniser's rounding
    clock.time = 2800;
    latency.turnTaken(2);
    expect(measured).toEqual([
      ["endOfTurn", 200],
      ["endOfTurn", 100],
    ]);
  });

  it("measures nothing from speech for a turn the keypad ended", () => {
    const { clock, measured, latency } = tracker();
    latency.callerWords(0.5);
    latency.keyPressed();
    clock.time += 1500;
    latency.turnTaken(1);
    latency.replyAudioStarted(1);
    expect(measured).toEqual([]);
  });

  it("measures the reply of the turn whose audio started, not of an abandoned one", () => {
    const { clock, measured, latency } = tracker();
    latency.callerWords(0);
    clock.time += 100;
    latency.turnTaken(1); // the caller talks on: this reply never plays
    latency.callerWords(0);
    clock.time += 200;
    latency.turnTaken(2);
    clock.time += 300;
    latency.replyAudioStarted(2);
    latency.replyAudioStarted(1);
    expect(measured.map(([stage]) => stage)).toEqual(["endOfTurn", "endOfTurn", "voiceToVoice"]);
    expect(measured.at(-1)).toEqual(["voiceToVoice", 500]);
  });

  it("times the LLM's first chunk, the reply's first segment once per request, and each TTS first audio", () => {
    const { clock, measured, latency } = tracker();
    const firstChunk = latency.llmRequested();
    clock.time += 250;
    firstChunk();
    clock.time += 150;
    latency.replySegmentQueued();
    const firstAudio = latency.ttsRequested();
    clock.time += 80;
    firstAudio();
    latency.replySegmentQueued(); // the second segment of the same reply
    expect(measured).toEqual([
      ["llmFirstToken", 250],
      ["firstSegment", 400],
      ["ttsFirstAudio", 80],
    ]);
  });

  it("times each mark until its echo, except marks a clear flushed", () => {
    const { clock, measured, latency } = tracker();
    latency.markSent("t1-s0-g2");
    latency.markSent("t1-s1-g2");
    clock.time += 1200;
    latency.markEchoed("t1-s0-g2");
    latency.marksCleared();
    latency.markEchoed("t1-s1-g2");
    latency.markEchoed("never-sent");
    latency.markEchoed("t1-s0-g2"); // a duplicate echo
    expect(measured).toEqual([["markRoundTrip", 1200]]);
  });
});
