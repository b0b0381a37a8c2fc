/**
 * One phone call as one statechart. Everything the caller hears is decided here; engines are reached only
 * through the ports in `engines.ts`, and time only through the actor clock (`after` delays and delayed
 * events), so a `SimulatedClock` replays a call decision for decision.
 *
 *   connecting ─ start ─▶ active ──────── after maxCallDuration | stt failed ──▶ hangingUp
 *     greeting ─ drained ─▶ listening
 *     listening { waiting ⇄ hearing, collectingDigits } ─ caller's turn over ─▶ replying
 *       waiting ─ speech started ─▶ hearing ─ speech ended ─▶ waiting (with words: ─▶ replying)
 *       waiting ─ idle ─▶ reprompting ─ drained ─▶ listening   (after maxReprompts: ─▶ hangingUp)
 *     replying { thinking { waitingForLlm ─▶ waitingForSpeech } ─ audio ─▶ speaking { playing ⇄ starved } }
 *       speaking ─ drained ─▶ listening
 *       thinking ─ caller talks on ─▶ listening                 (LLM aborted, words merged)
 *       error | first-token timeout | reply silence ─▶ apologizing ─ drained ─▶ listening
 *       end_call ─▶ hangingUp
 *       transfer_call ─▶ transferring { announcing ─ drained ─▶ dialing (REST) } ─▶ ended
 *     greeting | speaking | reprompting | apologizing | resuming
 *       ─ barge-in ─▶ interrupted (clear; cut where the caller's ear was) ─ words | keys ─▶ listening
 *         interrupted ─ speech without words (resume on) ─▶ awaitingWords
 *           ─ words ─▶ listening.hearing
 *           ─ speech ended without words | falseInterruptionTimeout ─▶ resuming ─ drained ─▶ listening
 *       (barge-in: enough words that are not only backchannels, or, with a noise-proof VAD, speech that
 *       lasts `bargeInSpeechMs` and has no word yet or not only backchannels)
 *   hangingUp { sayingGoodbye ─ drained ─▶ endingCall (REST) } ─▶ ended
 *   any state ─ stop | socket closed ─▶ ended                   (every child stopped, every timer cancelled)
 *
 * "drained": the utterance's producer finished and Twilio echoed the mark after its last audio.
 *
 * Audio is not a statechart event, except where it changes something: inbound frames go through the audio
 * inlet to STT, and within a segment a streaming TTS's pieces go straight out between the ones the statechart
 * sees (speech.actor.ts). Leaving the state that wanted them stops both.
 *
 * This file is the structure only, all of turn-taking in one readable place; that is why it is longer than the
 * other modules (split by region, one rule would have to be read across files). The vocabulary (types) is in
 * call-types.ts; the named guards, actions, delays and child actors in call.setup.ts.
 */
import { and } from "xstate";
import { call, phrase, speechInput } from "./call.setup.js";
import type { CallConfig } from "./call-config.js";
import { callTools } from "./call-tools.js";
import type { CallContext } from "./call-types.js";
import { silentCaller } from "./caller-speech.js";
import { emptyLedger } from "./playback-ledger.js";
import type { SpeechSource } from "./speech.actor.js";

/** A fixed phrase of the call config the caller may interrupt. */
function interruptiblePhrase(text: (config: CallConfig) => string) {
  return interruptibleSpeech(({ config }) => phrase(text(config)), "speaking a phrase");
}

/** Barge-in, shared by every state in which the agent's voice may be heard and cut. */
const whileAgentSpeaks = call.createStateConfig({
  on: {
    "stt.speechStarted": { actions: ["startUtterance", "armSpeechBargeIn"] },
    "stt.interim": [
      { guard: "bargesIn", target: "#call.active.interrupted", actions: "hearCaller" },
      { actions: "hearCaller" },
    ],
    "stt.final": [
      { guard: "bargesIn", target: "#call.active.interrupted", actions: "hearCaller" },
      { actions: "hearCaller" },
    ],
    "stt.speechEnded": { actions: ["dropUtterance", "disarmSpeechBargeIn"] },
    "caller.spokeOverAgent": { guard: "speechIsNotBackchannel", target: "#call.active.interrupted" },
    "twilio.dtmf": { guard: "isKeyPress", target: "#call.active.interrupted", actions: "pressKey" },
  },
});

/** Words the caller may interrupt (a fixed phrase, or a resume); once heard, the call listens again. */
function interruptibleSpeech(source: (context: CallContext) => SpeechSource, during: string) {
  return call.createStateConfig({
    entry: ["startSpeech", "armSpeechBargeIn"],
    exit: ["stopSpeech", "disarmSpeechBargeIn"],
    invoke: { src: "speech", input: ({ context }) => speechInput(context, source(context)) },
    always: {
      guard: "playbackDrained",
      target: "#call.active.listening",
      actions: "commitPlayback",
    },
    on: {
      ...whileAgentSpeaks.on,
      "speech.failed": {
        guard: "isCurrentSpeech",
        target: "#call.active.listening",
        actions: [{ type: "reportFailure", params: { during } }, "commitPlayback"],
      },
    },
  });
}

/** A farewell phrase nobody interrupts; once Twilio proves it played (or too long passed), `next` happens. */
function farewellPhrase(text: (config: CallConfig) => string, next: string) {
  return call.createStateConfig({
    entry: "startSpeech",
    exit: "stopSpeech",
    invoke: { src: "speech", input: ({ context }) => speechInput(context, phrase(text(context.config))) },
    always: {
      guard: "playbackDrained",
      target: next,
      actions: "commitPlayback",
    },
    after: {
      farewellMarkTimeout: {
        target: next,
        actions: {
          type: "log",
          params: { level: "warn", message: "no mark echo after the farewell; going on" },
        },
      },
    },
    on: {
      "speech.failed": {
        guard: "isCurrentSpeech",
        target: next,
        actions: { type: "reportFailure", params: { during: "saying a farewell" } },
      },
    },
  });
}

export const callMachine = call.createMachine({
  id: "call",
  context: ({ input }) => ({
    callId: input.callId,
    deps: {
      engines: input.engines,
      audioInlet: input.audioInlet,
      phrases: input.phrases,
      log: input.log,
      now: input.now,
    },
    config: input.config,
    tools: callTools(input.config),
    callSid: "",
    streamSid: "",
    streamStartedAt: 0,
    generation: 0,
    turn: 0,
    playback: emptyLedger,
    cut: null,
    caller: silentCaller,
    answering: "",
    history: [],
    reprompts: 0,
    endReason: null,
  }),
  invoke: {
    id: "stt",
    src: "stt",
    input: ({ context }) => ({
      callId: context.callId,
      stt: context.deps.engines.stt,
      inlet: context.deps.audioInlet,
    }),
  },
  on: {
    "twilio.stop": {
      target: ".ended",
      actions: { type: "setEndReason", params: { reason: "callerHungUp" } },
    },
    "socket.closed": {
      target: ".ended",
      actions: { type: "setEndReason", params: { reason: "callerHungUp" } },
    },
    "stt.failed": {
      target: ".ended",
      actions: [
        { type: "reportFailure", params: { during: "listening" } },
        { type: "setEndReason", params: { reason: "sttFailed" } },
      ],
    },
    "twilio.mark": { actions: "acknowledgeMark" },
    // Whatever state the agent is in, the current producer's audio goes out and its segments get marks.
    "speech.queued": { guard: "isCurrentSpeech", actions: "queueSegment" },
    "speech.synthesizing": { guard: "isCurrentSpeech", actions: "armTtsWatchdog" },
    "speech.audio": { guard: "isCurrentSpeech", actions: "playAudio" },
    "speech.segment": { guard: "isCurrentSpeech", actions: "closeSegment" },
    "speech.done": { guard: "isCurrentSpeech", actions: "finishSpeech" },
  },
  initial: "connecting",
  states: {
    connecting: {
      on: { "twilio.start": { target: "active", actions: "rememberCall" } },
    },

    active: {
      initial: "greeting",
      after: {
        maxCallDuration: {
          target: "hangingUp",
          actions: [
            { type: "setEndReason", params: { reason: "maxDuration" } },
            { type: "log", params: { level: "info", message: "maximum call duration reached" } },
          ],
        },
      },
      on: {
        "stt.failed": {
          target: "hangingUp",
          actions: [
            { type: "reportFailure", params: { during: "listening" } },
            { type: "setEndReason", params: { reason: "sttFailed" } },
          ],
        },
        // Wherever the agent is, the caller's speech is tracked; the states below decide what it means.
        "stt.speechStarted": { actions: "startUtterance" },
        "stt.speechEnded": { actions: "endUtterance" },
      },
      states: {
        greeting: interruptiblePhrase((config) => config.phrases.greeting),

        listening: {
          initial: "waiting",
          on: {
            "stt.interim": { actions: "hearCaller" },
            "stt.final": { actions: "hearCaller" },
            "twilio.dtmf": { guard: "isKeyPress", target: ".collectingDigits", actions: "pressKey" },
          },
          states: {
            /** The caller is silent. Silence for `idleRepromptMs` gets a reprompt, then a goodbye. */
            waiting: {
              always: [
                { guard: "callerFinishedTurn", target: "#call.active.replying", actions: "takeCallerTurn" },
                { guard: "callerMidUtterance", target: "hearing" },
              ],
              after: {
                idleReprompt: [
                  { guard: "mayReprompt", target: "#call.active.reprompting", actions: "countReprompt" },
                  {
                    target: "#call.hangingUp",
                    actions: { type: "setEndReason", params: { reason: "idle" } },
                  },
                ],
              },
            },
            /**
             * The caller is talking: no reprompt however long they talk. Their turn ends when the
             * recogniser says their speech ended (`waiting` then takes it if it had words). New words restart
             * the safety net, which only a recogniser that lost the end of speech reaches (a repeated interim
             * is no sign of life: Deepgram repeats them during silence).
             */
            hearing: {
              on: {
                "stt.interim": [
                  { guard: "bringsNewWords", target: "hearing", reenter: true, actions: "hearCaller" },
                  { actions: "hearCaller" },
                ],
                "stt.final": [
                  { guard: "bringsNewWords", target: "hearing", reenter: true, actions: "hearCaller" },
                  { actions: "hearCaller" },
                ],
                "stt.speechEnded": { target: "waiting", actions: "endUtterance" },
              },
              after: {
                speechEndTimeout: {
                  target: "waiting",
                  actions: [
                    "finalizeStt",
                    "endUtterance",
                    {
                      type: "log",
                      params: {
                        level: "warn",
                        message:
                          "the recogniser never said the caller stopped speaking; taking what it heard",
                      },
                    },
                  ],
                },
              },
            },
            /** Key presses gather into one turn until the keypad stays quiet for `dtmfEndOfTurnMs`. */
            collectingDigits: {
              on: {
                "stt.interim": { guard: "bringsNewWords", target: "hearing", actions: "hearCaller" },
                "stt.final": { guard: "bringsNewWords", target: "hearing", actions: "hearCaller" },
              },
              after: { dtmfEndOfTurn: { target: "#call.active.replying", actions: "takeCallerTurn" } },
            },
          },
        },

        replying: {
          entry: "startSpeech",
          exit: "stopSpeech",
          invoke: {
            id: "reply",
            src: "speech",
            input: ({ context }) =>
              speechInput(context, {
                kind: "reply",
                llm: context.deps.engines.llm,
                messages: [
                  { role: "system", content: context.config.systemPrompt },
                  ...context.history,
                  { role: "user", content: context.answering },
                ],
                tools: context.tools,
              }),
          },
          on: {
            "speech.failed": {
              guard: "isCurrentSpeech",
              target: "apologizing",
              actions: { type: "reportFailure", params: { during: "replying" } },
            },
            "speech.done": [
              {
                guard: and(["isCurrentSpeech", "asksToHangUp"]),
                target: "#call.hangingUp",
                actions: ["finishSpeech", { type: "setEndReason", params: { reason: "agentHungUp" } }],
              },
              {
                guard: and(["isCurrentSpeech", "asksToTransfer"]),
                target: "transferring",
                actions: "finishSpeech",
              },
              {
                guard: and(["isCurrentSpeech", "saidNothing"]),
                target: "apologizing",
                actions: [
                  "finishSpeech",
                  { type: "log", params: { level: "warn", message: "the LLM replied with nothing to say" } },
                ],
              },
              { guard: "isCurrentSpeech", actions: "finishSpeech" },
            ],
          },
          initial: "thinking",
          states: {
            thinking: {
              initial: "waitingForLlm",
              on: {
                "speech.audio": {
                  guard: "isCurrentSpeech",
                  target: "speaking",
                  actions: ["playAudio", "emitReplyAudioStarted"],
                },
                // The caller talks on: leaving `replying` aborts the LLM; their words merge into one turn.
                "stt.interim": {
                  guard: "bringsNewWords",
                  target: "#call.active.listening",
                  actions: "hearCaller",
                },
                "stt.final": {
                  guard: "bringsNewWords",
                  target: "#call.active.listening",
                  actions: "hearCaller",
                },
                "twilio.dtmf": {
                  guard: "isKeyPress",
                  target: "#call.active.listening.collectingDigits",
                  actions: "pressKey",
                },
              },
              states: {
                waitingForLlm: {
                  on: { "llm.firstChunk": { guard: "isCurrentSpeech", target: "waitingForSpeech" } },
                  after: {
                    llmFirstTokenTimeout: {
                      target: "#call.active.apologizing",
                      actions: {
                        type: "reportFailure",
                        params: { during: "thinking", timeout: "llmFirstToken" },
                      },
                    },
                  },
                },
                /** The LLM is streaming; the first segment is being cut or synthesized. */
                waitingForSpeech: {
                  after: {
                    replySilenceTimeout: {
                      target: "#call.active.apologizing",
                      actions: {
                        type: "reportFailure",
                        params: { during: "replying", timeout: "replySilence" },
                      },
                    },
                  },
                },
              },
            },
            speaking: {
              entry: "armSpeechBargeIn",
              exit: "disarmSpeechBargeIn",
              always: {
                guard: "playbackDrained",
                target: "#call.active.listening",
                actions: "commitPlayback",
              },
              on: whileAgentSpeaks.on,
              initial: "playing",
              states: {
                playing: { always: { guard: "playbackStarved", target: "starved" } },
                /** Everything sent has played and the reply is not over: the caller hears silence. */
                starved: {
                  on: {
                    "speech.audio": { guard: "isCurrentSpeech", target: "playing", actions: "playAudio" },
                  },
                  after: {
                    replySilenceTimeout: {
                      target: "#call.active.apologizing",
                      actions: {
                        type: "reportFailure",
                        params: { during: "replying", timeout: "replySilence" },
                      },
                    },
                  },
                },
              },
            },
          },
        },

        reprompting: interruptiblePhrase((config) => config.phrases.reprompt),

        /** A failure or timeout: say sorry (after whatever was already sent) instead of leaving dead air. */
        apologizing: interruptiblePhrase((config) => config.phrases.apology),

        /**
         * Barge-in: clear Twilio's buffer and cut the utterance where the caller's ear was when they started
         * talking. Words, or keys, make it a turn of theirs: what they heard joins the history, and the call
         * listens. Speech that cut in before any word may be a cough or a door: the call waits for its words.
         */
        interrupted: {
          entry: "cutPlayback",
          initial: "deciding",
          states: {
            deciding: {
              always: [
                {
                  guard: "callerPressedKeys",
                  target: "#call.active.listening.collectingDigits",
                  actions: "commitCut",
                },
                { guard: "mayResume", target: "awaitingWords" },
                { target: "#call.active.listening", actions: "commitCut" },
              ],
            },
            /**
             * Words that pass the barge-in gate make it a real interruption; an utterance that ends without
             * any (or with only backchannels), or `falseInterruptionTimeoutMs` without them, was not meant for
             * the agent, who resumes.
             */
            awaitingWords: {
              on: {
                "stt.interim": [
                  {
                    guard: "bargesIn",
                    target: "#call.active.listening.hearing",
                    actions: ["commitCut", "hearCaller"],
                  },
                  { actions: "hearCaller" },
                ],
                "stt.final": [
                  {
                    guard: "bargesIn",
                    target: "#call.active.listening.hearing",
                    actions: ["commitCut", "hearCaller"],
                  },
                  { actions: "hearCaller" },
                ],
                "stt.speechEnded": [
                  { guard: "heardOnlyNoise", target: "#call.active.resuming", actions: "dropUtterance" },
                  { target: "#call.active.listening", actions: ["commitCut", "endUtterance"] },
                ],
                "twilio.dtmf": {
                  guard: "isKeyPress",
                  target: "#call.active.listening.collectingDigits",
                  actions: ["commitCut", "pressKey"],
                },
              },
              after: {
                falseInterruptionTimeout: [
                  { guard: "heardOnlyNoise", target: "#call.active.resuming", actions: "dropUtterance" },
                  { target: "#call.active.listening", actions: "commitCut" },
                ],
              },
            },
          },
        },

        /**
         * After a false interruption: the cut utterance again, from the start of the segment the caller cut
         * into (a clause or sentence, so it restarts on a natural boundary), to the last segment it had. Its
         * history entry is one assistant turn: what was heard before the cut, then what is heard now.
         */
        resuming: {
          ...interruptibleSpeech(
            ({ cut }) => ({ kind: "resume", text: cut?.unheard ?? "" }),
            "resuming after a false interruption",
          ),
          entry: ["resumeCut", "startSpeech", "armSpeechBargeIn"],
        },

        transferring: {
          on: { "stt.failed": { actions: { type: "reportFailure", params: { during: "listening" } } } },
          initial: "announcing",
          states: {
            announcing: farewellPhrase((config) => config.phrases.transfer, "dialing"),
            dialing: {
              // Twilio may stop the stream before the REST call returns: the call ends as transferred either way.
              entry: { type: "setEndReason", params: { reason: "transferred" } },
              invoke: {
                src: "transfer",
                input: ({ context }) => ({
                  telephony: context.deps.engines.telephony,
                  callSid: context.callSid,
                  to: context.config.transferNumber ?? "",
                }),
                onDone: "#call.ended",
                onError: {
                  target: "#call.active.apologizing",
                  actions: [{ type: "reportFailure", params: { during: "transferring" } }, "forgetEndReason"],
                },
              },
            },
          },
        },
      },
    },

    hangingUp: {
      // Losing the recogniser now changes nothing: the goodbye needs no ears.
      on: { "stt.failed": { actions: { type: "reportFailure", params: { during: "listening" } } } },
      initial: "sayingGoodbye",
      states: {
        sayingGoodbye: farewellPhrase((config) => config.phrases.goodbye, "endingCall"),
        endingCall: {
          invoke: {
            src: "hangUp",
            input: ({ context }) => ({ telephony: context.deps.engines.telephony, callSid: context.callSid }),
            onDone: "#call.ended",
            onError: {
              target: "#call.ended",
              actions: { type: "reportFailure", params: { during: "hanging up" } },
            },
          },
        },
      },
    },

    ended: {
      type: "final",
      // A cut still waiting to learn whether it was meant is history all the same: the caller heard it.
      entry: ["commitCut", "closeStream", "emitCallEnded"],
    },
  },
  output: ({ context }) => ({ reason: context.endReason ?? "callerHungUp", history: context.history }),
});
