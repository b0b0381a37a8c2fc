/**
 * Turn-taking while nobody interrupts: when the caller's turn ends, what the LLM is asked, what goes out.
 */
import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import { greetedCall, startTestCall } from "./call-harness.js";
import { deepgramEvents, sseTextDeltas } from "./real-fixtures.js";

const { greeting } = defaultCallConfig.phrases;
const SYSTEM = { role: "system", content: defaultCallConfig.systemPrompt } as const;
const GREETED = { role: "assistant", content: greeting } as const;

describe("a conversation", () => {
  it("greets at once: the greeting's audio and mark leave in the same tick as Twilio's start", () => {
    const call = startTestCall();
    call.actor.send({ type: "twilio.start", callSid: "CA1", streamSid: "MZ1", customParameters: {} });
    // No await: the cached greeting must not wait for any promise or timer.
    expect(call.sent()).toEqual([`media ${greeting}`, "mark t0-s0-g1"]);
    expect(call.state()).toBe("active.greeting");
    expect(call.tts.texts).toEqual([]);
  });

  it("speaks an unprepared greeting through live TTS", async () => {
    const call = startTestCall({ cachePhrases: false });
    await call.start();
    expect(call.tts.texts).toEqual([greeting]);
    expect(call.sent()).toEqual([`media ${greeting}`, "mark t0-s0-g1"]);
  });

  it("holds a 3-turn conversation, each request carrying exactly the history so far", async () => {
    const call = await greetedCall();

    // Turn 1: real Deepgram final, real gpt-4o token stream.
    for (const event of deepgramEvents("nova3-testing.final-result.json")) call.stt.emit(event);
    await call.replies(...sseTextDeltas("openai-gpt-4o-text.sse"));
    const firstAnswer = [
      "I'm unable to provide real-time weather updates. ",
      "To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app.",
    ];
    expect(call.llm.requests[0]?.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: "Testing. 123. Testing. 123." },
    ]);
    expect(call.llm.requests[0]?.tools).toEqual(["end_call"]);
    expect(call.sent()).toEqual([
      `media ${firstAnswer[0]}`,
      "mark t1-s0-g2",
      `media ${firstAnswer[1]}`,
      "mark t1-s1-g2",
    ]);
    expect(call.state()).toBe("active.replying.speaking.playing");
    await call.playMarks(1);
    expect(call.state()).toBe("active.replying.speaking.playing");
    await call.playMarks(1);
    expect(call.state()).toBe("active.listening.waiting");

    // Turn 2.
    await call.says("I have a breaker that keeps tripping.");
    await call.replies("Sorry to hear that. ", "Which room is it in?");
    expect(call.sent()).toEqual([
      "media Sorry to hear that. ",
      "mark t2-s0-g3",
      "media Which room is it in?",
      "mark t2-s1-g3",
    ]);
    await call.playMarks();

    // Turn 3.
    await call.says("The kitchen.");
    await call.replies("Thanks, an electrician will call you back today.");
    expect(call.sent()).toEqual(["media Thanks, an electrician will call you back today.", "mark t3-s0-g4"]);
    await call.playMarks();

    const turn1 = [
      GREETED,
      { role: "user", content: "Testing. 123. Testing. 123." },
      { role: "assistant", content: firstAnswer.join("") },
    ];
    const turn2 = [
      { role: "user", content: "I have a breaker that keeps tripping." },
      { role: "assistant", content: "Sorry to hear that. Which room is it in?" },
    ];
    expect(call.llm.requests[1]?.messages).toEqual([
      SYSTEM,
      ...turn1,
      { role: "user", content: "I have a breaker that keeps tripping." },
    ]);
    expect(call.llm.requests[2]?.messages).toEqual([
      SYSTEM,
      ...turn1,
      ...turn2,
      { role: "user", content: "The kitchen." },
    ]);
    expect(call.history()).toEqual([
      ...turn1,
      ...turn2,
      { role: "user", content: "The kitchen." },
      { role: "assistant", content: "Thanks, an electrician will call you back today." },
    ]);
    expect(call.llm.requests.map((request) => request.aborted)).toEqual([false, false, false]);
    expect(call.emitted.filter((event) => event.type !== "callEnded")).toEqual([
      { type: "turnTaken", turn: 1, text: "Testing. 123. Testing. 123." },
      { type: "replyAudioStarted", turn: 1 },
      { type: "turnTaken", turn: 2, text: "I have a breaker that keeps tripping." },
      { type: "replyAudioStarted", turn: 2 },
      { type: "turnTaken", turn: 3, text: "The kitchen." },
      { type: "replyAudioStarted", turn: 3 },
    ]);
  });

  it("ignores a speech_final with an empty transcript, and ends the turn on one once words were heard", async () => {
    const call = await greetedCall();
    // Deepgram's real final for leading silence: speech_final, no words.
    for (const event of deepgramEvents("base-testing.final-result.json")) call.stt.emit(event);
    await call.speechFinal("");
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.llm.requests).toHaveLength(0);

    await call.final("My lights are flickering.");
    expect(call.state()).toBe("active.listening.hearing");
    await call.speechFinal("");
    expect(call.state()).toBe("active.replying.thinking.waitingForLlm");
    expect(call.llm.current.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: "My lights are flickering." },
    ]);
    expect(call.sent()).toEqual([]);
  });

  it("ends the turn on UtteranceEnd when no speech_final came", async () => {
    const call = await greetedCall();
    await call.final("My lights");
    await call.final("are flickering.");
    expect(call.state()).toBe("active.listening.hearing");
    await call.utteranceEnd();
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "My lights are flickering." });
  });

  it("falls back to the interim guess on UtteranceEnd when no final came at all", async () => {
    const call = await greetedCall();
    await call.interim("hello is anyone there");
    await call.utteranceEnd();
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "hello is anyone there" });
  });

  it("closes an utterance whose end never comes after speechEndTimeoutMs, asking the recogniser to finalize, and does not count the late final twice", async () => {
    const call = await greetedCall();
    const wait = call.config.speechEndTimeoutMs;
    await call.interim("hello");
    await call.advance(wait - 1);
    await call.interim("hello is anyone there"); // new words: the wait starts again
    await call.advance(wait - 1);
    expect(call.state()).toBe("active.listening.hearing");
    expect(call.llm.requests).toHaveLength(0);
    expect(call.stt.session.finalizeRequests).toBe(0);
    await call.advance(1);
    expect(call.stt.session.finalizeRequests).toBe(1);
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "hello is anyone there" });
    expect(call.logs.map((line) => line.message)).toContain(
      "the recogniser never said the caller stopped speaking; taking what it heard",
    );

    // The final for the same audio arrives late: already answered, so neither a talk-on nor a new turn.
    await call.speechFinal("Hello, is anyone there?");
    expect(call.state()).toBe("active.replying.thinking.waitingForLlm");
    expect(call.llm.requests).toHaveLength(1);
    expect(call.llm.current.aborted).toBe(false);
  });

  it("does not reset the wait for the end of speech on repeated interim results with no new words", async () => {
    const call = await greetedCall();
    const wait = call.config.speechEndTimeoutMs;
    await call.interim("hello");
    await call.advance(wait / 2);
    await call.interim("hello"); // Deepgram repeats interims during silence
    await call.advance(wait / 2);
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "hello" });
  });

  it("never reprompts while the caller is speaking, and resumes the idle wait after a noise without words", async () => {
    const call = await greetedCall();
    const { idleRepromptMs } = call.config;
    await call.advance(idleRepromptMs - 1);
    await call.speechStarted();
    expect(call.state()).toBe("active.listening.hearing");
    await call.advance(idleRepromptMs);
    expect(call.sent()).toEqual([]);
    // Deepgram closes the stretch of audio with an empty final: it was noise.
    await call.final("");
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.llm.requests).toHaveLength(0);
    await call.advance(idleRepromptMs - 1);
    expect(call.sent()).toEqual([]);
    await call.advance(1);
    expect(call.sent()).toEqual([`media ${defaultCallConfig.phrases.reprompt}`, "mark t0-s0-g2"]);
  });

  it("takes a single word as a turn when the agent is silent", async () => {
    const call = await greetedCall();
    await call.says("Yes.");
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "Yes." });
  });

  it("merges the caller's words when they talk on while the agent is only thinking", async () => {
    const call = await greetedCall();
    await call.says("I have a breaker");
    const first = call.llm.current;
    first.text("Oh no, which"); // streaming, but no segment complete: nothing was said yet
    await call.interim("that keeps");
    expect(first.aborted).toBe(true);
    expect(call.state()).toBe("active.listening.hearing");
    await call.speechFinal("that keeps tripping.");

    expect(call.llm.requests).toHaveLength(2);
    expect(call.llm.current.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: "I have a breaker that keeps tripping." },
    ]);
    // The aborted request's words never reach the caller.
    first.text(" room is it?").end();
    await call.replies("Which room is it in?");
    expect(call.sent()).toEqual(["media Which room is it in?", "mark t2-s0-g3"]);
    await call.playMarks();
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: "I have a breaker that keeps tripping." },
      { role: "assistant", content: "Which room is it in?" },
    ]);
  });

  it("sends key presses to the LLM as one turn once the keypad is quiet", async () => {
    const call = await greetedCall();
    await call.dtmf("5");
    await call.advance(call.config.dtmfEndOfTurnMs - 1);
    await call.dtmf("#");
    await call.dtmf("D"); // the fourth column of a 16-key keypad
    await call.dtmf("x"); // not a key: ignored
    expect(call.state()).toBe("active.listening.collectingDigits");
    await call.advance(call.config.dtmfEndOfTurnMs);
    expect(call.llm.current.messages.at(-1)).toEqual({
      role: "user",
      content: "[caller pressed 5] [caller pressed #] [caller pressed D]",
    });
  });

  it("keeps the audio data plane out of the statechart: frames reach the STT session, not the event log", async () => {
    const call = startTestCall();
    let events = 0;
    call.actor.system.inspect((event) => {
      if (event.type === "@xstate.event") events += 1;
    });
    await call.start();
    const before = events;
    const frame = new Uint8Array(160).fill(0xff);
    for (let i = 0; i < 50; i += 1) call.audioInlet.push(frame);
    await call.advance(0);
    expect(call.stt.session.framesReceived).toBe(50);
    expect(events).toBe(before);
    await call.stop();
    call.audioInlet.push(frame);
    expect(call.stt.session.framesReceived).toBe(50);
    expect(call.audioInlet.droppedFrames).toBe(1);
  });
});
