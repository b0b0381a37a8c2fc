/** The simulated caller: place calls on the server the way Twilio does, one at a time or as load. */

export { CallRecording } from "./call-recording.js";
export type { CallCounts, CallEnd, CallEvent, CallResult, TurnResult } from "./call-result.js";
export {
  type CallerUtterance,
  callerAudioFromWav,
  loadCallerAudio,
  toTelephonyMulaw,
} from "./caller-audio.js";
export { type CallerClock, fastForwardClock, realTimeClock } from "./clock.js";
export { CallerError, type CallerErrorCode } from "./errors.js";
export {
  type CallOutcome,
  type LatencySummary,
  type LoadOptions,
  type LoadResult,
  runCalls,
  summarize,
} from "./load.js";
export { describeEnd, formatCallReport, formatLoadReport } from "./report.js";
export type { TranscriptLine } from "./server-transcript.js";
export { type SimulateCallOptions, simulateCall } from "./simulate-call.js";
export { twilioSid } from "./stream-messages.js";
export {
  hasEspeakNg,
  type SyntheticSpeech,
  type SyntheticVoice,
  synthesizeSpeech,
  toneSpeech,
} from "./synthetic-speech.js";
export { parseConnectStreamTwiml, type StreamInstruction } from "./twiml.js";
