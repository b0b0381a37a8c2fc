/**
 * Short-lived, single-use tokens that bind a media stream to the call whose webhook we answered.
 *
 * The voice webhook is signed by Twilio, the WebSocket may not be (the upgrade check can be switched off,
 * and a proxy can strip headers). Handing a token out in TwiML `<Parameter>` and requiring it in `start`
 * means nobody can open a stream that costs us STT, LLM and TTS without first getting a signed webhook
 * through. The key is random per process: tokens live for seconds, so surviving a restart buys nothing.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export type TokenCheck =
  | { ok: true }
  | { ok: false; reason: "missing" | "malformed" | "expired" | "wrong call" | "reused" };

export interface StreamTokens {
  issue(callSid: string): string;
  verify(token: string | undefined, callSid: string): TokenCheck;
}

export function createStreamTokens(options: { ttlSeconds: number; now?: () => number }): StreamTokens {
  const key = randomBytes(32);
  const now = options.now ?? Date.now;
  // Tokens already used, with their expiry, so one cannot open a second stream; pruned as they expire.
  const used = new Map<string, number>();

  const sign = (callSid: string, expiresAt: number) =>
    createHmac("sha256", key).update(`${callSid}.${expiresAt}`).digest("base64url");

  const prune = (at: number) => {
    for (const [token, expiresAt] of used) if (expiresAt < at) used.delete(token);
  };

  return {
    issue(callSid) {
      const expiresAt = now() + options.ttlSeconds * 1000;
      return `${expiresAt}.${sign(callSid, expiresAt)}`;
    },
    verify(token, callSid) {
      if (!token) return { ok: false, reason: "missing" };
      const match = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
      if (!match) return { ok: false, reason: "malformed" };
      const expiresAt = Number(match[1]);
      const at = now();
      prune(at);
      if (expiresAt < at) return { ok: false, reason: "expired" };
      const expected = Buffer.from(sign(callSid, expiresAt));
      const given = Buffer.from(match[2] as string);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
        return { ok: false, reason: "wrong call" };
      }
      if (used.has(token)) return { ok: false, reason: "reused" };
      used.set(token, expiresAt);
      return { ok: true };
    },
  };
}
