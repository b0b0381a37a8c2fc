/**
 * A stand-in for the call actor that speaks from a script, for tests that drive the server with the
 * simulated caller: it sends audio, marks and clears when the stream starts, when the caller finishes an
 * utterance (the first all-silence frame after speech: the simulated caller sends pure 0xFF between
 * utterances), or when the n-th caller frame arrives. It records every frame and, for each mark echo, how
 * many caller frames had arrived by then: the server-side proof of playback pacing.
 */
import { MULAW_SILENCE } from "../../src/audio/mulaw.js";
import type { CallHandler, StreamOutput, StreamStart } from "../../src/twilio/media-stream-session.js";

export type AgentAction = { audio: Uint8Array } | { mark: string } | { clear: true } | { hangUp: true };

export interface AgentScript {
  /** Done as the stream starts: the greeting. */
  onStart?: readonly AgentAction[];
  /** Entry n is done when the caller's n-th utterance (0-based) has ended. */
  afterUtterance?: readonly (readonly AgentAction[])[];
  /** Done when the caller frame with this 1-based index arrives. */
  atFrame?: Readonly<Record<number, readonly AgentAction[]>>;
}

export class ScriptedAgent implements CallHandler {
  readonly frames: Uint8Array[] = [];
  /** Each echoed mark with the number of caller frames received when its echo arrived. */
  readonly markEchoes: { name: string; frame: number }[] = [];
  /** Each action done, with the number of caller frames received when it was done. */
  readonly done: { action: AgentAction; frame: number }[] = [];
  stopped = 0;
  closed = 0;
  private utterancesEnded = 0;
  private inSpeech = false;

  constructor(
    readonly start: StreamStart,
    private readonly output: StreamOutput,
    private readonly script: AgentScript,
  ) {
    this.act(script.onStart);
  }

  onAudio(frame: Uint8Array): void {
    this.frames.push(Uint8Array.from(frame));
    this.act(this.script.atFrame?.[this.frames.length]);
    const silent = frame.every((byte) => byte === MULAW_SILENCE);
    if (!silent) this.inSpeech = true;
    else if (this.inSpeech) {
      this.inSpeech = false;
      this.act(this.script.afterUtterance?.[this.utterancesEnded]);
      this.utterancesEnded += 1;
    }
  }

  onMark(name: string): void {
    this.markEchoes.push({ name, frame: this.frames.length });
  }

  onDtmf(): void {}

  onStop(): void {
    this.stopped += 1;
  }

  onClose(): void {
    this.closed += 1;
  }

  private act(actions: readonly AgentAction[] | undefined): void {
    for (const action of actions ?? []) {
      this.done.push({ action, frame: this.frames.length });
      if ("audio" in action) this.output.sendMedia(action.audio);
      else if ("mark" in action) this.output.sendMark(action.mark);
      else if ("clear" in action) this.output.sendClear();
      else this.output.close();
    }
  }
}

/** `ms` of a 400 Hz tone as mu-law 8 kHz: audible, and never pure silence. */
export function toneMulaw(ms: number): Uint8Array {
  const bytes = new Uint8Array((ms / 1000) * 8000);
  // Alternating codes near a quarter of full scale: a square wave, enough for tests that only count bytes.
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(i / 10) % 2 === 0 ? 0x20 : 0xa0;
  return bytes;
}
