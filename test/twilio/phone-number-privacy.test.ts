import { describe, expect, it } from "vitest";
import { maskPhoneNumber } from "../../src/phone-number-privacy.js";

describe("maskPhoneNumber", () => {
  it.each([
    ["+15551230000", "+•••••••••00"],
    ["+447700900123", "+••••••••••23"],
    ["5551234", "•••••34"],
    ["", ""],
    ["client:alice", "(hidden)"],
    ["sip:alice@example.com", "(hidden)"],
  ])("masks %s as %s", (number, masked) => {
    expect(maskPhoneNumber(number)).toBe(masked);
  });

  it("leaves an absent number absent", () => {
    expect(maskPhoneNumber(undefined)).toBeUndefined();
  });
});
