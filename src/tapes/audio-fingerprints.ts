/**
 * Short hashes of audio buffers, computed once per buffer. The same `Uint8Array` travels from the TTS engine
 * (or the phrase cache) through the call actor to `Telephony.sendMedia`, so the recorder hashes a TTS piece
 * when it arrives and finds the hash again, by identity, when the piece goes out: one hash per piece, none
 * per frame.
 *
 * Replay uses the same identity trick the other way round: a tape without raw audio only knows each piece's
 * length and hash, so the players hand out stand-in buffers of that length registered under the recorded
 * hash, and outbound media then reads back with the hash the recording saw.
 */
import { createHash } from "node:crypto";

/** 16 hex digits (64 bits) of SHA-256: plenty to tell the pieces of one call apart, short on a tape line. */
export function audioHash(audio: Uint8Array): string {
  return createHash("sha256").update(audio).digest("hex").slice(0, 16);
}

export class AudioFingerprints {
  private readonly known = new WeakMap<Uint8Array, string>();

  /** The buffer's hash: the registered one, else computed (and remembered while the buffer lives). */
  of(audio: Uint8Array): string {
    let hash = this.known.get(audio);
    if (hash === undefined) {
      hash = audioHash(audio);
      this.known.set(audio, hash);
    }
    return hash;
  }

  /** Makes `audio` read back as `hash` (a replay stand-in for audio the tape did not keep). */
  register(audio: Uint8Array, hash: string): void {
    this.known.set(audio, hash);
  }
}
