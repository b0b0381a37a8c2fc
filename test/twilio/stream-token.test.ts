import { describe, expect, it } from "vitest";
import { createStreamTokens } from "../../src/twilio/stream-token.js";

describe("stream tokens", () => {
  const at = (start: number) => {
    let now = start;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it("accepts a fresh token once, for the call it was issued to", () => {
    const clock = at(1_000_000);
    const tokens = createStreamTokens({ ttlSeconds: 60, now: clock.now });
    const token = tokens.issue("CA1");
    expect(tokens.verify(token, "CA2")).toEqual({ ok: false, reason: "wrong call" });
    expect(tokens.verify(token, "CA1")).toEqual({ ok: true });
    expect(tokens.verify(token, "CA1")).toEqual({ ok: false, reason: "reused" });
  });

  it("refuses missing, malformed, forged and expired tokens", () => {
    const clock = at(1_000_000);
    const tokens = createStreamTokens({ ttlSeconds: 60, now: clock.now });
    expect(tokens.verify(undefined, "CA1")).toEqual({ ok: false, reason: "missing" });
    expect(tokens.verify("hello", "CA1")).toEqual({ ok: false, reason: "malformed" });
    const token = tokens.issue("CA1");
    const [expiry, mac] = token.split(".");
    // Moving the expiry forward breaks the MAC.
    expect(tokens.verify(`${Number(expiry) + 1000}.${mac}`, "CA1")).toEqual({
      ok: false,
      reason: "wrong call",
    });
    // Another process (another key) cannot mint tokens for this one.
    const other = createStreamTokens({ ttlSeconds: 60, now: clock.now });
    expect(tokens.verify(other.issue("CA1"), "CA1")).toEqual({ ok: false, reason: "wrong call" });
    clock.advance(60_001);
    expect(tokens.verify(token, "CA1")).toEqual({ ok: false, reason: "expired" });
  });
});
