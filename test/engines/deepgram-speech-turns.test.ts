/**
 * Deepgram's ways of saying "speech started" and "speech ended", mapped once onto the call's vocabulary.
 */
import { describe, expect, it } from "vitest";
import type { SttEvent } from "../../machines/engines.js";
import type { DeepgramEvent } from "../../src/engines/deepgram/messages.js";
import { DeepgramSpeechTurns } from "../../src/engines/deepgram/speech-turns.js";

function results(text: string, start: number, kind: "interim" | "final" | "speechFinal"): DeepgramEvent {
  const isFinal = kind !== "interim";
  const speechFinal = kind === "speechFinal";
  return { type: "results", text, isFinal, speechFinal, start, duration: 0.5, confidence: 0.9 };
}

function mapped(...input: DeepgramEvent[]): { events: SttEvent[]; turns: DeepgramSpeechTurns } {
  const events: SttEvent[] = [];
  const turns = new DeepgramSpeechTurns((event) => events.push(event));
  for (const event of input) turns.accept(event);
  return { events, turns };
}

const types = (events: SttEvent[]) => events.map((event) => event.type);

describe("Deepgram speech turns", () => {
  it("reads SpeechStarted, interims, a speech_final final as one utterance", () => {
    const { events } = mapped(
      { type: "speechStarted", timestamp: 1.02 },
      results("my", 1.1, "interim"),
      results("my lights", 1.1, "interim"),
      results("My lights are off.", 1.1, "speechFinal"),
      { type: "utteranceEnd", lastWordEnd: 1.5 },
    );
    expect(events).toEqual([
      { type: "speechStarted", at: 1.02 },
      { type: "interim", text: "my", start: 1.1, end: 1.6, confidence: 0.9 },
      { type: "interim", text: "my lights", start: 1.1, end: 1.6, confidence: 0.9 },
      { type: "final", text: "My lights are off.", start: 1.1, end: 1.6, confidence: 0.9 },
      { type: "speechEnded", at: 1.6 },
    ]);
  });

  it("ends an utterance the endpointer never closed at UtteranceEnd", () => {
    const { events } = mapped(
      results("hello is", 0, "interim"),
      results("hello is anyone there", 0, "final"),
      { type: "utteranceEnd", lastWordEnd: 1.9 },
    );
    expect(types(events)).toEqual(["speechStarted", "interim", "final", "speechEnded"]);
    expect(events.at(-1)).toEqual({ type: "speechEnded", at: 1.9 });
  });

  it("closes a SpeechStarted that no word followed (noise) at the next empty final", () => {
    const { events } = mapped(
      { type: "speechStarted", timestamp: 2 },
      results("", 1.5, "final"),
      results("", 2.5, "final"),
    );
    expect(events).toEqual([
      { type: "speechStarted", at: 2 },
      { type: "speechEnded", at: 2 },
    ]);
  });

  it("keeps an utterance with words open over an empty final, until the speech ends", () => {
    const { events } = mapped(
      results("one", 0, "final"),
      results("", 0.5, "final"),
      results("two", 1, "speechFinal"),
    );
    expect(types(events)).toEqual(["speechStarted", "final", "final", "speechEnded"]);
  });

  it("ends the speech in progress where the audio got to when the connection drops", () => {
    const { events, turns } = mapped(results("wait a", 3, "interim"));
    turns.interrupt(3.4000000001);
    turns.interrupt(3.5); // nothing open any more
    expect(events.at(-1)).toEqual({ type: "speechEnded", at: 3.4 });
    expect(types(events)).toEqual(["speechStarted", "interim", "speechEnded"]);
  });
});
